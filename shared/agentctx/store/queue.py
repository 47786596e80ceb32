"""Sending work to SQS (the compaction queue, the FIFO turn queue); the client is botocore's, created on first use."""

import json
from functools import lru_cache
from typing import Any

from botocore.config import Config


@lru_cache(maxsize=1)
def sqs_client() -> Any:
    import botocore.session

    return botocore.session.get_session().create_client(
        "sqs", config=Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=3, read_timeout=10)
    )


class MessageQueue:
    def __init__(self, queue_url: str) -> None:
        self.queue_url = queue_url

    def send(self, body: dict[str, Any], delay_seconds: int = 0) -> None:
        sqs_client().send_message(
            QueueUrl=self.queue_url, MessageBody=json.dumps(body, separators=(",", ":")), DelaySeconds=delay_seconds
        )

    def send_in_order(self, body: dict[str, Any], group: str, deduplication_id: str) -> None:
        """To a FIFO queue: messages of one group are delivered in order, one at a time."""
        sqs_client().send_message(
            QueueUrl=self.queue_url,
            MessageBody=json.dumps(body, separators=(",", ":")),
            MessageGroupId=group,
            MessageDeduplicationId=deduplication_id,
        )
