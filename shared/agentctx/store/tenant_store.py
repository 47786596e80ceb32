"""Tenants and their API keys in the tenants table.

- tenant:      pk `TENANT#{id}`, sk `TENANT`
- key record:  pk `TENANT#{id}`, sk `KEY#{keyId}`, with the key's sha256 (never the key)
- key lookup:  pk `KEYHASH#{sha256}`, sk `KEYHASH`, naming the tenant: one GetItem authenticates a request
"""

import json
from typing import Any

from botocore.exceptions import ClientError

from agentctx.domain import ApiKey, Tenant
from agentctx.errors import NotFound
from agentctx.store.dynamo import cancellation_codes, dynamodb_client, from_item, to_item


class TenantStore:
    def __init__(self, table_name: str) -> None:
        self.table = table_name

    def put_tenant(self, tenant: Tenant) -> None:
        dynamodb_client().put_item(
            TableName=self.table,
            Item=to_item(
                {"pk": f"TENANT#{tenant.id}", "sk": "TENANT", "name": tenant.name, "createdAt": tenant.created_at}
            ),
            ConditionExpression="attribute_not_exists(pk)",
        )

    def get_tenant(self, tenant_id: str) -> Tenant | None:
        response = dynamodb_client().get_item(
            TableName=self.table, Key=to_item({"pk": f"TENANT#{tenant_id}", "sk": "TENANT"}), ConsistentRead=True
        )
        if "Item" not in response:
            return None
        values = from_item(response["Item"])
        return Tenant(id=tenant_id, name=values["name"], created_at=values["createdAt"])

    def put_quotas(self, tenant_id: str, quotas: dict[str, Any]) -> None:
        try:
            dynamodb_client().update_item(
                TableName=self.table,
                Key=to_item({"pk": f"TENANT#{tenant_id}", "sk": "TENANT"}),
                UpdateExpression="SET quotas = :quotas",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeValues=to_item({":quotas": json.dumps(quotas)}),
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                raise NotFound(f"tenant {tenant_id} not found") from error
            raise

    def get_quotas(self, tenant_id: str) -> dict[str, Any]:
        response = dynamodb_client().get_item(
            TableName=self.table,
            Key=to_item({"pk": f"TENANT#{tenant_id}", "sk": "TENANT"}),
            ProjectionExpression="quotas",
            ConsistentRead=True,
        )
        stored = from_item(response.get("Item", {})).get("quotas")
        return json.loads(stored) if stored else {}

    def put_key(self, key: ApiKey, key_hash: str) -> None:
        """Record the key under its tenant and its hash together; fails if the tenant is gone."""
        actions: list[dict[str, Any]] = [
            {
                "ConditionCheck": {
                    "TableName": self.table,
                    "Key": to_item({"pk": f"TENANT#{key.tenant_id}", "sk": "TENANT"}),
                    "ConditionExpression": "attribute_exists(pk)",
                }
            },
            {
                "Put": {
                    "TableName": self.table,
                    "Item": to_item(
                        {
                            "pk": f"TENANT#{key.tenant_id}",
                            "sk": f"KEY#{key.id}",
                            "keyHash": key_hash,
                            "createdAt": key.created_at,
                        }
                    ),
                }
            },
            {
                "Put": {
                    "TableName": self.table,
                    "Item": to_item(
                        {"pk": f"KEYHASH#{key_hash}", "sk": "KEYHASH", "tenantId": key.tenant_id, "keyId": key.id}
                    ),
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            },
        ]
        try:
            dynamodb_client().transact_write_items(TransactItems=actions)
        except ClientError as error:
            if cancellation_codes(error)[:1] == ["ConditionalCheckFailed"]:
                raise NotFound("tenant not found") from error
            raise

    def tenant_for_key_hash(self, key_hash: str) -> str | None:
        response = dynamodb_client().get_item(
            TableName=self.table, Key=to_item({"pk": f"KEYHASH#{key_hash}", "sk": "KEYHASH"}), ConsistentRead=True
        )
        return from_item(response["Item"])["tenantId"] if "Item" in response else None

    def delete_key(self, tenant_id: str, key_id: str) -> None:
        key_record = dynamodb_client().get_item(
            TableName=self.table, Key=to_item({"pk": f"TENANT#{tenant_id}", "sk": f"KEY#{key_id}"}), ConsistentRead=True
        )
        if "Item" not in key_record:
            raise NotFound("key not found")
        key_hash = from_item(key_record["Item"])["keyHash"]
        dynamodb_client().transact_write_items(
            TransactItems=[
                {
                    "Delete": {
                        "TableName": self.table,
                        "Key": to_item({"pk": f"TENANT#{tenant_id}", "sk": f"KEY#{key_id}"}),
                    }
                },
                {"Delete": {"TableName": self.table, "Key": to_item({"pk": f"KEYHASH#{key_hash}", "sk": "KEYHASH"})}},
            ]
        )
