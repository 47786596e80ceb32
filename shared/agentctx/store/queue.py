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

    def retry_after(self, receipt_handles: list[str], seconds: int) -> None:
        """Make received messages visible again after `seconds` instead of the queue's visibility timeout."""
        for start in range(0, len(receipt_handles), 10):
            sqs_client().change_message_visibility_batch(
                QueueUrl=self.queue_url,
                Entries=[
                    {"Id": str(index), "ReceiptHandle": handle, "VisibilityTimeout": seconds}
                    for index, handle in enumerate(receipt_handles[start : start + 10])
                ],
            )
