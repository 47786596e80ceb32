"""Usage counters per tenant and day in the tenants table (pk `TENANT#{id}`, sk `USAGE#{yyyy-mm-dd}`).

Every request adds its counts with one UpdateItem (ADD is atomic, so concurrent writers never lose a count); a
month is the sum of its days, read with one Query.

The tokens a tenant stores are a sum over all time, so they are also kept on one item per tenant (sk
`STORED_TOKENS`, outside the `USAGE#` range): a request that changed what is stored adds to it with one more
UpdateItem, and the storage quota reads it with one strongly consistent GetItem. The token quota reads the
month's days (one Query of at most 31 items). Neither is cached, so every container sees every finished request.
"""

from typing import Any

from agentctx.store.dynamo import dynamodb_client, from_item, to_item

STORED_SK = "STORED_TOKENS"
COUNTERS = ("apiCalls", "invocations", "inputTokens", "outputTokens", "contextTokens", "compactions", "storedTokens")


class UsageStore:
    def __init__(self, table_name: str) -> None:
        self.table = table_name

    def add(self, tenant_id: str, day: str, counts: dict[str, int]) -> None:
        counts = {name: value for name, value in counts.items() if value and name in COUNTERS}
        if not counts:
            return
        dynamodb_client().update_item(
            TableName=self.table,
            Key=to_item({"pk": f"TENANT#{tenant_id}", "sk": f"USAGE#{day}"}),
            UpdateExpression="ADD " + ", ".join(f"{name} :{name}" for name in counts),
            ExpressionAttributeValues=to_item({f":{name}": value for name, value in counts.items()}),
        )

    def add_stored(self, tenant_id: str, tokens: int) -> None:
        if tokens:
            dynamodb_client().update_item(
                TableName=self.table,
                Key=to_item({"pk": f"TENANT#{tenant_id}", "sk": STORED_SK}),
                UpdateExpression="ADD storedTokens :tokens",
                ExpressionAttributeValues=to_item({":tokens": tokens}),
            )

    def stored_tokens(self, tenant_id: str) -> int:
        """The tokens the tenant stores, read strongly consistent."""
        item = (
            dynamodb_client()
            .get_item(
                TableName=self.table,
                Key=to_item({"pk": f"TENANT#{tenant_id}", "sk": STORED_SK}),
                ConsistentRead=True,
            )
            .get("Item")
        )
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
