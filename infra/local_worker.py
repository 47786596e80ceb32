"""Locally, what Lambda's SQS event source mapping does: receive from the embedded queue, call the same handler
with the same event shape, delete what succeeded and leave reported failures for redelivery."""

import hashlib
import importlib.util
import json
import threading
import time
from collections.abc import Callable
from typing import Any

from agentctx.observability import logger


def sqs_event(messages: list[dict[str, Any]], queue_arn: str) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": message["Body"],
                "attributes": {
                    "ApproximateReceiveCount": message.get("Attributes", {}).get("ApproximateReceiveCount", "1"),
                    "SentTimestamp": message.get("Attributes", {}).get("SentTimestamp", str(int(time.time() * 1000))),
                    "SenderId": "AIDAEXAMPLE",
                    "ApproximateFirstReceiveTimestamp": str(int(time.time() * 1000)),
                },
                "messageAttributes": {},
                "md5OfBody": hashlib.md5(message["Body"].encode()).hexdigest(),  # noqa: S324 - SQS's own checksum
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": "us-east-1",
            }
            for message in messages
        ]
    }


Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


class BackgroundPoller:
    """A daemon thread calling `poll` until stopped; an error is printed and polling goes on, as an event source
    mapping keeps polling whatever a batch did.

    - `pause_seconds`: the wait after every poll; `idle_seconds`: the wait after a poll that found nothing.
    - Both waits end at once when it is stopped.
    """

    pause_seconds = 0.0
    idle_seconds = 0.0

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=type(self).__name__, daemon=True)

    def start(self) -> "BackgroundPoller":
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stop_soon()
        self._thread.join(timeout=10)

    def stop_soon(self) -> None:
        """Ask it to stop after its current poll (stopping several at once)."""
        self._stop.set()

    def poll(self) -> int:
        raise NotImplementedError

    def _run(self) -> None:
        while not self._stop.is_set():
            found = 0
            try:
                found = self.poll()
            except Exception as error:
                logger.exception(f"{type(self).__name__} failed: {error!r}")
                self._stop.wait(0.5)
            self._stop.wait(self.pause_seconds if found else max(self.pause_seconds, self.idle_seconds))


class QueueWorker(BackgroundPoller):
    """Polls one queue and hands batches to a Lambda handler, until stopped.

    A receive waits up to `wait_seconds` for a message (long polling, as the event source mapping polls); moto cannot
    cut that wait short, so a stop waits for it. The tests set no wait and a short `idle_seconds` instead (once, in
    tests/conftest.py), so a worker stops at once.
    """

    wait_seconds = 1

    def __init__(self, queue_url: str, handler: Handler, batch_size: int = 5) -> None:
        super().__init__()
        self.queue_url = queue_url
        self.handler = handler
        self.batch_size = batch_size
        self.queue_name = queue_url.rsplit("/", 1)[1]

    def poll(self, wait_seconds: int | None = None) -> int:
        from agentctx.store.queue import sqs_client

        client = sqs_client()
        received = client.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=self.batch_size,
            WaitTimeSeconds=self.wait_seconds if wait_seconds is None else wait_seconds,
            AttributeNames=["All"],
        ).get("Messages", [])
        if not received:
            return 0
        arn = client.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        started = time.perf_counter()
        try:
            response = self.handler(sqs_event(received, arn), _LocalContext())
            failed = {failure["itemIdentifier"] for failure in response.get("batchItemFailures", [])}
        except Exception:  # a failed invocation: the whole batch comes back after the visibility timeout
            logger.exception("queue batch failed", extra={"queue": self.queue_name})
            failed = {message["MessageId"] for message in received}
        finally:
            logger.thread_safe_clear_keys()  # the keys its records appended end with the invocation
        elapsed_ms = round((time.perf_counter() - started) * 1000, 1)
        for message in received:
            if message["MessageId"] not in failed:
                client.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
            self._log_job(message, "failed" if message["MessageId"] in failed else "done", elapsed_ms)
        return len(received)

    def _log_job(self, message: dict[str, Any], outcome: str, elapsed_ms: float) -> None:
        """One line per job; `ms` is its batch's time (a batch is one Lambda invocation)."""
        try:
            body = json.loads(message["Body"])
        except ValueError:
            body = {}
        logger.info(
            "job",
            extra={
                "queue": self.queue_name,
                "outcome": outcome,
                "attempt": int(message.get("Attributes", {}).get("ApproximateReceiveCount", "1")),
                "ms": elapsed_ms,
                "tenant_id": body.get("tenantId") or body.get("tenant_id") if isinstance(body, dict) else None,
                "message_id": message["MessageId"],
            },
        )


class _LocalContext:
    function_name = "local-worker"
    function_version = "$LATEST"
    memory_limit_in_mb = 1024
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:local-worker"
    aws_request_id = "local"
    log_group_name = "local"
    log_stream_name = "local"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 120_000


def load_function_handler(path: str, name: str = "lambda_handler") -> Any:
    """A Lambda handler loaded from its file, as the runtime loads it from the function's code."""
    spec = importlib.util.spec_from_file_location(f"local_{path.replace('/', '_')[:-3]}", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, name)
