"""Usage counters per tenant and day in the tenants table (pk `TENANT#{id}`, sk `USAGE#{yyyy-mm-dd}`).

Every request adds its counts with one call (ADD is atomic, so concurrent writers never lose a count); a month is
the sum of its days, read with one Query.

The tokens a tenant stores are a sum over all time, so they are also kept on one item per tenant (sk
`STORED_TOKENS`, outside the `USAGE#` range): a request that changed what is stored adds to both items in one
transaction, and the storage quota reads it with one strongly consistent GetItem. The token quota reads the
month's days (one Query of at most 31 items). Neither is cached: every container sees every finished request.
"""

from typing import Any

from agentctx.store.dynamo import dynamodb_client, from_item, to_item, with_conflict_retry

STORED_SK = "STORED_TOKENS"
COUNTERS = ("apiCalls", "invocations", "inputTokens", "outputTokens", "contextTokens", "compactions", "storedTokens")


class UsageStore:
    def __init__(self, table_name: str) -> None:
        self.table = table_name

    def add(self, tenant_id: str, day: str, counts: dict[str, int]) -> None:
        """One call: an UpdateItem of the day's counters, or, when the stored tokens moved, a transaction that also
        adds them to the tenant's stored-tokens item."""
        counts = {name: value for name, value in counts.items() if value and name in COUNTERS}
        if not counts:
            return
        day_update = {
            "TableName": self.table,
            "Key": to_item({"pk": f"TENANT#{tenant_id}", "sk": f"USAGE#{day}"}),
            "UpdateExpression": "ADD " + ", ".join(f"{name} :{name}" for name in counts),
            "ExpressionAttributeValues": to_item({f":{name}": value for name, value in counts.items()}),
        }
        if "storedTokens" not in counts:
            dynamodb_client().update_item(**day_update)
            return
        stored_update = {
            "TableName": self.table,
            "Key": to_item({"pk": f"TENANT#{tenant_id}", "sk": STORED_SK}),
            "UpdateExpression": "ADD storedTokens :storedTokens",
            "ExpressionAttributeValues": to_item({":storedTokens": counts["storedTokens"]}),
        }
        with_conflict_retry(
            lambda: dynamodb_client().transact_write_items(
                TransactItems=[{"Update": day_update}, {"Update": stored_update}]
            )
        )

    def stored_tokens(self, tenant_id: str) -> int:
        """The tokens the tenant stores, read strongly consistent."""
        key = to_item({"pk": f"TENANT#{tenant_id}", "sk": STORED_SK})
        item = dynamodb_client().get_item(TableName=self.table, Key=key, ConsistentRead=True).get("Item")
        return int(from_item(item).get("storedTokens", 0)) if item else 0

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
