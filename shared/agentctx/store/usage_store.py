"""Usage counters per tenant and day in the tenants table (pk `TENANT#{id}`, sk `USAGE#{yyyy-mm-dd}`), and the two
counters the token and storage quotas are held by.

Every request adds its counts with one call (ADD is atomic, so concurrent writers never lose a count); a month is
the sum of its days, read with one Query.

The quotas need one item each to condition a write on, because a condition cannot sum items (nor add attributes):
- the tokens a tenant stores, a sum over all time, on one item per tenant (sk `STORED_TOKENS`). For a tenant with a
  storage quota a block append adds to it in its own transaction, conditioned on the quota (`stored_tokens_update`);
  other writers' counts (and every append's, without a quota) reach it with the request's usage.
- the tokens a tenant's model calls used this month plus those held for calls still running (`tokens`, and the
  held part alone in `held`), on one item per tenant and month (sk `MONTH_TOKENS#{yyyy-mm}`). An invocation holds
  an estimate before its model calls (`hold_month_tokens`); its usage, written when the request ends, adds what it
  used and takes its hold back.
A request's counts name what already reached these items (`storedTokensCounted`, `tokensHeld`), so the edge adds
only the rest.
"""

from typing import Any

from botocore.exceptions import ClientError

from agentctx.errors import Throttled
from agentctx.store.dynamo import dynamodb_client, from_item, to_item, with_conflict_retry

STORED_SK = "STORED_TOKENS"
MONTH_SK = "MONTH_TOKENS#"
# cacheReadTokens and cacheWriteTokens are parts of inputTokens; costMicroUsd sums the priced models' costs
COUNTERS = (
    "apiCalls",
    "invocations",
    "inputTokens",
    "outputTokens",
    "contextTokens",
    "cacheReadTokens",
    "cacheWriteTokens",
    "costMicroUsd",
    "compactions",
    "storedTokens",
)


def storage_quota_spent(quota: int, stored: int | None = None) -> Throttled:
    count = "" if stored is None else f" ({stored} stored)"
    return Throttled(
        f"stored token quota of {quota} reached{count}; compact or delete sessions to make room",
        {"retryAfterSeconds": 60, "limit": quota},
    )


class UsageStore:
    def __init__(self, table_name: str) -> None:
        self.table = table_name

    def _key(self, tenant_id: str, sk: str) -> dict[str, Any]:
        return to_item({"pk": f"TENANT#{tenant_id}", "sk": sk})

    def _adding(self, tenant_id: str, sk: str, **values: int) -> dict[str, Any]:
        return {
            "TableName": self.table,
            "Key": self._key(tenant_id, sk),
            "UpdateExpression": "ADD " + ", ".join(f"{name} :{name}" for name in values),
            "ExpressionAttributeValues": to_item({f":{name}": value for name, value in values.items()}),
        }

    def add(self, tenant_id: str, day: str, counts: dict[str, int]) -> None:
        """One call: an UpdateItem of the day's counters, or, when the stored tokens or the month's tokens moved by
        more than the request already counted on their items, a transaction that also adds the rest there."""
        stored = counts.get("storedTokens", 0) - counts.get("storedTokensCounted", 0)
        held = counts.get("tokensHeld", 0)
        used = counts.get("inputTokens", 0) + counts.get("outputTokens", 0)
        counts = {name: value for name, value in counts.items() if value and name in COUNTERS}
        updates = [self._adding(tenant_id, f"USAGE#{day}", **counts)] if counts else []
        if stored:
            updates.append(self._adding(tenant_id, STORED_SK, storedTokens=stored))
        if held:
            updates.append(self._adding(tenant_id, MONTH_SK + day[:7], tokens=used - held, held=-held))
        elif used:
            updates.append(self._adding(tenant_id, MONTH_SK + day[:7], tokens=used))
        if len(updates) == 1:  # a transaction may hold the counter items for a moment: retried as the others are
            with_conflict_retry(lambda: dynamodb_client().update_item(**updates[0]))
        elif updates:
            items = [{"Update": update} for update in updates]
            with_conflict_retry(lambda: dynamodb_client().transact_write_items(TransactItems=items))

    def stored_tokens_update(self, tenant_id: str, tokens: int, quota: int | None) -> dict[str, Any]:
        """The transaction action that adds a write's tokens to the tenant's stored tokens; with a quota, only while
        they are under it (so a write is refused once the quota is reached, and none is refused before)."""
        update = self._adding(tenant_id, STORED_SK, storedTokens=tokens)
        if quota is not None:
            update["ConditionExpression"] = "attribute_not_exists(storedTokens) OR storedTokens < :quota"
            update["ExpressionAttributeValues"][":quota"] = {"N": str(quota)}
        return {"Update": update}

    def refusal(self, failed: list[dict[str, Any]]) -> Throttled | None:
        """The storage quota's refusal when one of a cancelled transaction's failed actions is the stored-tokens
        update."""
        for action in failed:
            update = action.get("Update", {})
            if update.get("TableName") == self.table and update["Key"]["sk"] == {"S": STORED_SK}:
                return storage_quota_spent(int(update["ExpressionAttributeValues"][":quota"]["N"]))
        return None

    def stored_tokens(self, tenant_id: str) -> int:
        """The tokens the tenant stores, read strongly consistent."""
        return self._read(tenant_id, STORED_SK, "storedTokens")

    def hold_month_tokens(self, tenant_id: str, month: str, tokens: int, quota: int) -> int | None:
        """Hold `tokens` of the month's tokens if those used and held are under the quota (one conditional
        UpdateItem): None when held, else the tokens used without the holds (read from the refusal itself)."""
        update = self._adding(tenant_id, MONTH_SK + month, tokens=tokens, held=tokens)
        update["ConditionExpression"] = "attribute_not_exists(tokens) OR tokens < :quota"
        update["ExpressionAttributeValues"][":quota"] = {"N": str(quota)}
        try:
            with_conflict_retry(
                lambda: dynamodb_client().update_item(**update, ReturnValuesOnConditionCheckFailure="ALL_OLD")
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            item = from_item(error.response.get("Item", {}))
            return int(item.get("tokens", 0)) - int(item.get("held", 0))
        return None

    def month_tokens(self, tenant_id: str, month: str) -> int:
        """The month's tokens, used and held by invocations running, read strongly consistent."""
        return self._read(tenant_id, MONTH_SK + month, "tokens")

    def _read(self, tenant_id: str, sk: str, name: str) -> int:
        key = self._key(tenant_id, sk)
        item = dynamodb_client().get_item(TableName=self.table, Key=key, ConsistentRead=True).get("Item")
        return int(from_item(item).get(name, 0)) if item else 0

    def totals(self, tenant_id: str, period_prefix: str) -> dict[str, int]:
        """Counters summed over the days whose date starts with the prefix (a day, or a month `yyyy-mm`)."""
        items: list[dict[str, Any]] = dynamodb_client().query(
            TableName=self.table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
            ExpressionAttributeValues=to_item({":pk": f"TENANT#{tenant_id}", ":prefix": f"USAGE#{period_prefix}"}),
            ConsistentRead=True,
        )["Items"]
        totals = dict.fromkeys(COUNTERS, 0)
        for item in items:
            for name, value in from_item(item).items():
                if name in totals:
                    totals[name] += value
        return totals
