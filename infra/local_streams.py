"""Locally, what Lambda's DynamoDB stream event source mapping does: read the table's stream from where it left
off and hand the records to a handler in the event shape Lambda uses."""

import threading
import time
from collections.abc import Callable
from typing import Any


def streams_client() -> Any:
    import boto3
    from botocore.config import Config

    # moto answers the classic endpoint, not the account-based one botocore now prefers.
    return boto3.client("dynamodbstreams", config=Config(account_id_endpoint_mode="disabled"))


class StreamReader:
    def __init__(self, table_name: str) -> None:
        import boto3

        self.client = streams_client()
        self.arn = boto3.client("dynamodb").describe_table(TableName=table_name)["Table"]["LatestStreamArn"]
        shard = self.client.describe_stream(StreamArn=self.arn)["StreamDescription"]["Shards"][0]["ShardId"]
        self.iterator = self.client.get_shard_iterator(
            StreamArn=self.arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]

    def read(self) -> dict[str, Any]:
        """The records written since the last read, as a Lambda DynamoDB stream event."""
        response = self.client.get_records(ShardIterator=self.iterator)
        self.iterator = response.get("NextShardIterator", self.iterator)
        records = [
            {
                "eventID": record["eventID"],
                "eventName": record["eventName"],
                "eventVersion": record.get("eventVersion", "1.1"),
                "eventSource": "aws:dynamodb",
                "awsRegion": record.get("awsRegion", "us-east-1"),
                "dynamodb": record["dynamodb"],
                "eventSourceARN": self.arn,
            }
            for record in response["Records"]
        ]
        return {"Records": records}


class StreamWorker:
    """Reads the stream about once a second and calls the handler; records it reports as failed are handed to it
    again (from the failed one on), as the event source mapping retries."""

    def __init__(self, table_name: str, handler: Callable[[dict[str, Any], Any], dict[str, Any]]) -> None:
        self.reader = StreamReader(table_name)
        self.handler = handler
        self._pending: list[dict[str, Any]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="stream-worker", daemon=True)

    def start(self) -> "StreamWorker":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        from infra.local_worker import _LocalContext

        while not self._stop.is_set():
            records = self._pending
            try:
                records = records + self.reader.read()["Records"]
                self._pending = []
                if records:
                    response = self.handler({"Records": records}, _LocalContext())
                    failed = [failure["itemIdentifier"] for failure in response.get("batchItemFailures", [])]
                    if failed:
                        first = next(i for i, r in enumerate(records) if r["dynamodb"]["SequenceNumber"] == failed[0])
                        self._pending = records[first:]
            except Exception as error:  # the whole batch failed: it comes again
                self._pending = records
                print(f"stream worker: {error.__class__.__name__}: {error}", flush=True)
            time.sleep(1)
