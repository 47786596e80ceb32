"""Usage counters per tenant and day in the tenants table (pk `TENANT#{id}`, sk `USAGE#{yyyy-mm-dd}`).

Every request adds its counts with one UpdateItem (ADD is atomic, so concurrent writers never lose a count); a
month is the sum of its days, read with one Query.
"""

from typing import Any

from agentctx.store.dynamo import dynamodb_client, from_item, to_item

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
