"""A tenant's models and agents in the context table (free-form options and configs kept as JSON text).

A tenant has few of each, so each kind lives in one partition per tenant (keys: see keys.py), with a slug claim
beside each agent naming it: unique slugs, and one GetItem from a slug to the agent's hex.

Every tenant also has one built-in model, not stored (DEFAULT_MODEL_HEX): the organization's default model, which
an agent created without a model runs on. The store is given it, as configured for the deployment.
"""

import json
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from botocore.exceptions import ClientError

from agentctx.domain import DEFAULT_MODEL_HEX, Agent, CapabilityRef, Model, ModelCost, Page, Provider
from agentctx.errors import Conflict, NotFound
from agentctx.payload import payload_bytes, within_budget
from agentctx.store.dynamo import cancellation_codes, dump_json, dynamodb_client, from_item, load_json, to_item
from agentctx.store.keys import AGENT_SK_PREFIX, MODEL_SK_PREFIX, SLUG_SK_PREFIX, agents_pk, models_pk


class CatalogStore:
    def __init__(self, table_name: str, default_model: Callable[[str], Model]) -> None:
        self.table = table_name
        # The tenant's built-in model (with DEFAULT_MODEL_HEX), listed first and found by id like a stored one.
        self.default_model = default_model

    # ----- models -----

    def put_model(self, model: Model, *, new: bool) -> None:
        condition = "attribute_not_exists(pk)" if new else "attribute_exists(pk)"
        try:
            dynamodb_client().put_item(
                TableName=self.table, Item=self._model_item(model), ConditionExpression=condition
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                raise NotFound(f"model {model.id} not found") from error
            raise

    def get_model(self, tenant_id: str, model_hex: str) -> Model | None:
        if model_hex == DEFAULT_MODEL_HEX:
            return self.default_model(tenant_id)
        response = dynamodb_client().get_item(
            TableName=self.table,
            Key=to_item({"pk": models_pk(tenant_id), "sk": MODEL_SK_PREFIX + model_hex}),
            ConsistentRead=True,
        )
        return self._model_from(tenant_id, response["Item"]) if "Item" in response else None

    def list_models(self, tenant_id: str, limit: int, after: str | None) -> Page[Model]:
        """The tenant's models; the first page starts with the built-in default model."""
        if after is not None:
            items, next_after = self._query(models_pk(tenant_id), MODEL_SK_PREFIX, limit, after)
            return Page([self._model_from(tenant_id, item) for item in items], next_after)
        if limit == 1:
            return Page(
                [self.default_model(tenant_id)], MODEL_SK_PREFIX
            )  # the next page starts before every stored model
        items, next_after = self._query(models_pk(tenant_id), MODEL_SK_PREFIX, limit - 1, None)
        return Page([self.default_model(tenant_id)] + [self._model_from(tenant_id, item) for item in items], next_after)

    def delete_model(self, tenant_id: str, model_hex: str) -> None:
        try:
            dynamodb_client().delete_item(
                TableName=self.table,
                Key=to_item({"pk": models_pk(tenant_id), "sk": MODEL_SK_PREFIX + model_hex}),
                ConditionExpression="attribute_exists(pk)",
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                raise NotFound("model not found") from error
            raise

    # ----- agents -----

    def create_agent(self, agent: Agent) -> None:
        self._write_agent(agent, previous_slug=None, new=True)

    def update_agent(self, agent: Agent, previous_slug: str) -> None:
        self._write_agent(agent, previous_slug=previous_slug, new=False)

    def _write_agent(self, agent: Agent, previous_slug: str | None, new: bool) -> None:
        pk = agents_pk(agent.tenant_id)
        actions: list[dict[str, Any]] = [
            {
                "Put": {
                    "TableName": self.table,
                    "Item": self._agent_item(agent),
                    "ConditionExpression": "attribute_not_exists(pk)" if new else "attribute_exists(pk)",
                }
            }
        ]
        if agent.slug != previous_slug:
            actions.append(
                {
                    "Put": {
                        "TableName": self.table,
                        "Item": to_item({"pk": pk, "sk": SLUG_SK_PREFIX + agent.slug, "hex": agent.hex}),
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                }
            )
            if previous_slug is not None:
                actions.append(
                    {
                        "Delete": {
                            "TableName": self.table,
                            "Key": to_item({"pk": pk, "sk": SLUG_SK_PREFIX + previous_slug}),
                        }
                    }
                )
        try:
            dynamodb_client().transact_write_items(TransactItems=actions)
        except ClientError as error:
            codes = cancellation_codes(error)
            if codes[:1] == ["ConditionalCheckFailed"]:
                raise NotFound(f"agent {agent.id} not found") from error
            if len(codes) > 1 and codes[1] == "ConditionalCheckFailed":
                raise Conflict(f"an agent with slug {agent.slug!r} already exists") from error
            raise

    def get_agent(self, tenant_id: str, agent_hex: str) -> Agent | None:
        response = dynamodb_client().get_item(
            TableName=self.table,
            Key=to_item({"pk": agents_pk(tenant_id), "sk": AGENT_SK_PREFIX + agent_hex}),
            ConsistentRead=True,
        )
        return self._agent_from(tenant_id, response["Item"]) if "Item" in response else None

    def agent_hex_for_slug(self, tenant_id: str, slug: str) -> str | None:
        response = dynamodb_client().get_item(
            TableName=self.table,
            Key=to_item({"pk": agents_pk(tenant_id), "sk": SLUG_SK_PREFIX + slug}),
            ConsistentRead=True,
        )
        return from_item(response["Item"])["hex"] if "Item" in response else None

    def list_agents(self, tenant_id: str, limit: int, after: str | None, max_bytes: int | None = None) -> Page[Agent]:
        """Agents in creation order; with `max_bytes`, the page ends before the agent whose item would take it past
        that many bytes (its system prompt and initial files make an agent up to DynamoDB's 400 KB)."""
        items, next_after = self._query(agents_pk(tenant_id), AGENT_SK_PREFIX, limit, after, max_bytes)
        agents = [self._agent_from(tenant_id, item) for item in items]
        return Page(agents, next_after, truncated_by_bytes=next_after is not None and len(agents) < limit)

    def agents_using_model(self, tenant_id: str, model_id: str) -> list[Agent]:
        items, _ = self._query(agents_pk(tenant_id), AGENT_SK_PREFIX, 10_000, None)
        return [
            agent
            for agent in (self._agent_from(tenant_id, item) for item in items)
            if agent.default_model_id == model_id
        ]

    def delete_agent(self, agent: Agent) -> None:
        pk = agents_pk(agent.tenant_id)
        dynamodb_client().transact_write_items(
            TransactItems=[
                {
                    "Delete": {
                        "TableName": self.table,
                        "Key": to_item({"pk": pk, "sk": AGENT_SK_PREFIX + agent.hex}),
                        "ConditionExpression": "attribute_exists(pk)",
                    }
                },
                {"Delete": {"TableName": self.table, "Key": to_item({"pk": pk, "sk": SLUG_SK_PREFIX + agent.slug})}},
            ]
        )

    # ----- helpers -----

    def _query(
        self, pk: str, prefix: str, limit: int, after: str | None, max_bytes: int | None = None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """Up to `limit` items and the sort key to go on from; with `max_bytes`, reading stops once the items pass
        that many bytes, and the page ends before the item that passed them (the first is always kept)."""
        query: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": to_item({":pk": pk, ":prefix": prefix}),
            "ConsistentRead": True,
        }
        if after:
            query["ExclusiveStartKey"] = to_item({"pk": pk, "sk": after})
        items: list[dict[str, Any]] = []
        sizes: list[int] = []
        while len(items) <= limit:
            query["Limit"] = min(limit + 1 - len(items), 1000)
            response = dynamodb_client().query(**query)
            items.extend(response["Items"])
            if max_bytes is not None:
                sizes += [payload_bytes(json.dumps(item)) for item in response["Items"]]
                kept = within_budget(sizes[:limit], max_bytes)
                if kept < len(sizes[:limit]):
                    return items[:kept], items[kept - 1]["sk"]["S"]
            if "LastEvaluatedKey" not in response:
                break
            query["ExclusiveStartKey"] = response["LastEvaluatedKey"]
        next_after = items[limit - 1]["sk"]["S"] if len(items) > limit else None
        return items[:limit], next_after

    @staticmethod
    def _model_item(model: Model) -> dict[str, Any]:
        return to_item(
            {
                "pk": models_pk(model.tenant_id),
                "sk": MODEL_SK_PREFIX + model.hex,
                "name": model.name,
                "provider": model.provider.value,
                "providerModelId": model.provider_model_id,
                "contextWindow": model.context_window,
                "maxOutputTokens": model.max_output_tokens,
                "options": dump_json(model.options),
                "createdAt": model.created_at,
                "updatedAt": model.updated_at,
            }
            | ({"cost": dump_json(asdict(model.cost))} if model.cost else {})
        )

    @staticmethod
    def _model_from(tenant_id: str, item: dict[str, Any]) -> Model:
        values = from_item(item)
        return Model(
            tenant_id=tenant_id,
            hex=values["sk"][len(MODEL_SK_PREFIX) :],
            name=values["name"],
            provider=Provider(values["provider"]),
            provider_model_id=values["providerModelId"],
            context_window=values["contextWindow"],
            max_output_tokens=values["maxOutputTokens"],
            options=load_json(values.get("options", "{}")),
            created_at=values["createdAt"],
            updated_at=values["updatedAt"],
            cost=ModelCost(**load_json(values["cost"])) if "cost" in values else None,
        )

    @staticmethod
    def _agent_item(agent: Agent) -> dict[str, Any]:
        return to_item(
            {
                "pk": agents_pk(agent.tenant_id),
                "sk": AGENT_SK_PREFIX + agent.hex,
                "name": agent.name,
                "slug": agent.slug,
                "description": agent.description,
                "systemPrompt": agent.system_prompt,
                "defaultModelId": agent.default_model_id,
                "capabilities": dump_json([{"ref": cap.ref, "config": cap.config} for cap in agent.capabilities]),
                "tags": dump_json(agent.tags),
                "status": agent.status,
                "initialFiles": dump_json(agent.initial_files) if agent.initial_files else None,
                "createdAt": agent.created_at,
                "updatedAt": agent.updated_at,
            }
        )

    @staticmethod
    def _agent_from(tenant_id: str, item: dict[str, Any]) -> Agent:
        values = from_item(item)
        return Agent(
            tenant_id=tenant_id,
            hex=values["sk"][len(AGENT_SK_PREFIX) :],
            name=values["name"],
            slug=values["slug"],
            description=values.get("description"),
            system_prompt=values.get("systemPrompt", ""),
            default_model_id=values["defaultModelId"],
            capabilities=[
                CapabilityRef(cap["ref"], cap["config"]) for cap in load_json(values.get("capabilities", "[]"))
            ],
            created_at=values["createdAt"],
            updated_at=values["updatedAt"],
            tags=json.loads(values.get("tags", "[]")),
            status=values.get("status", "active"),
            initial_files=json.loads(values.get("initialFiles", "[]")),
        )
