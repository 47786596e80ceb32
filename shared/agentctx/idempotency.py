"""Powertools' idempotency persistence layer on the idempotency table, shared by the HTTP `Idempotency-Key`
handling and the queue consumers (keyed on message or event ids)."""

from collections.abc import Callable
from functools import lru_cache
from typing import Any

from agentctx.settings import get_settings


@lru_cache(maxsize=1)
def persistence() -> Any:
    """Built on first use: the persistence layer imports boto3, which most requests never need."""
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer, IdempotencyConfig

    settings = get_settings()
    layer = DynamoDBPersistenceLayer(table_name=settings.idempotency_table_name)
    layer.configure(
        IdempotencyConfig(
            event_key_jmespath="key",
            payload_validation_jmespath="payload",
            expires_after_seconds=settings.idempotency_ttl_seconds,
        ),
        key_prefix="agentctx",
    )
    return layer


class StillRunning(Exception):
    """Another delivery of the same message is being processed now."""


def once(key: str, payload: str, run: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Run `run` once per key: a later call with the key gets the first result back. A failure forgets the key, so
    a retry runs again."""
    from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyItemAlreadyExistsError

    layer = persistence()
    data = {"key": key, "payload": payload}
    try:
        layer.save_inprogress(data=data, remaining_time_in_millis=120_000)
    except IdempotencyItemAlreadyExistsError as exists:
        record = exists.old_data_record or layer.get_record(data=data)
        if record is None or record.status != "COMPLETED":
            raise StillRunning(key) from exists
        return record.response_json_as_dict() or {}
    try:
        result = run()
    except Exception as error:
        layer.delete_record(data=data, exception=error)
        raise
    layer.save_success(data=data, result=result)
    return result
