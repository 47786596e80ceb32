"""The files of the session_file_system capability: items `F#{path}` in the session's partition."""

from typing import Any

from agentctx.store.dynamo import dynamodb_client, from_item, to_item
from agentctx.store.items import file_item
from agentctx.store.keys import FILE_SK_PREFIX, session_pk


class SessionFileStore:
    """One session's files; the tenant and session are fixed when it is made, so a tool cannot name others."""

    def __init__(self, table: str, tenant_id: str, session_hex: str) -> None:
        self.table = table
        self.pk = session_pk(tenant_id, session_hex)

    def read(self, path: str) -> str | None:
        response = dynamodb_client().get_item(
            TableName=self.table, Key=to_item({"pk": self.pk, "sk": FILE_SK_PREFIX + path}), ConsistentRead=True
        )
        return from_item(response["Item"])["content"] if "Item" in response else None

    def write(self, path: str, content: str) -> None:
        dynamodb_client().put_item(TableName=self.table, Item=file_item(self.pk, path, content))

    def list(self, prefix: str) -> list[tuple[str, int]]:
        query: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": to_item({":pk": self.pk, ":prefix": FILE_SK_PREFIX + prefix}),
            "ProjectionExpression": "sk, #bytes",
            "ExpressionAttributeNames": {"#bytes": "bytes"},
            "ConsistentRead": True,
        }
        files: list[tuple[str, int]] = []
        while True:
            response = dynamodb_client().query(**query)
            files += [(item["sk"]["S"][len(FILE_SK_PREFIX) :], int(item["bytes"]["N"])) for item in response["Items"]]
            if "LastEvaluatedKey" not in response:
                return files
            query["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def delete(self, path: str) -> bool:
        response = dynamodb_client().delete_item(
            TableName=self.table, Key=to_item({"pk": self.pk, "sk": FILE_SK_PREFIX + path}), ReturnValues="ALL_OLD"
        )
        return "Attributes" in response
