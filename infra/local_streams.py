"""Locally, what Lambda's DynamoDB stream event source mapping does: read the table's stream from where it left
off and hand the records to a handler in the event shape Lambda uses."""

import threading
from typing import Any

from infra.local_worker import BackgroundPoller, Handler, _LocalContext


def streams_client() -> Any:
    import boto3
    from botocore.config import Config

    # moto answers the classic endpoint, not the account-based one botocore now prefers.
    return boto3.client("dynamodbstreams", config=Config(account_id_endpoint_mode="disabled"))


def as_json(record: dict[str, Any]) -> dict[str, Any]:
    """A stream record as a snapshot keeps it: what the handler reads, without the stream's own timestamp."""
    change = {key: value for key, value in record["dynamodb"].items() if key != "ApproximateCreationDateTime"}
    return {"eventID": record["eventID"], "eventName": record["eventName"], "dynamodb": change}


class StreamReader:
    def __init__(self, table_name: str, start: str = "TRIM_HORIZON") -> None:
        import boto3

        self.client = streams_client()
        self.arn = boto3.client("dynamodb").describe_table(TableName=table_name)["Table"]["LatestStreamArn"]
        shard = self.client.describe_stream(StreamArn=self.arn)["StreamDescription"]["Shards"][0]["ShardId"]
        self.iterator = self.client.get_shard_iterator(StreamArn=self.arn, ShardId=shard, ShardIteratorType=start)[
            "ShardIterator"
        ]

    def read(self) -> dict[str, Any]:
        """The records written since the last read, as a Lambda DynamoDB stream event."""
        response = self.client.get_records(ShardIterator=self.iterator)
        self.iterator = response.get("NextShardIterator", self.iterator)
        return {"Records": self._shaped(response["Records"])}

    def peek(self) -> list[dict[str, Any]]:
        """Every record after the last read, as JSON, without moving past them (moto's iterators can be read
        again)."""
        records: list[dict[str, Any]] = []
        iterator = self.iterator
        while True:
            response = self.client.get_records(ShardIterator=iterator)
            if not response["Records"]:
                return records
            records += [as_json(record) for record in response["Records"]]
            iterator = response["NextShardIterator"]

    def _shaped(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [
            {
                "eventID": record["eventID"],
                "eventName": record["eventName"],
                "eventVersion": record.get("eventVersion", "1.1"),
                "eventSource": "aws:dynamodb",
                "awsRegion": record.get("awsRegion", "us-east-1"),
                "dynamodb": record["dynamodb"],
                "eventSourceARN": self.arn,
            }
            for record in records
        ]


class StreamWorker(BackgroundPoller):
    """Reads the stream about once a second and calls the handler; records it reports as failed are handed to it
    again (from the failed one on), as the event source mapping retries.

    - `unhandled()`: the records read but not yet handled and those not yet read: the outbox a snapshot keeps.
    """

    pause_seconds = 1.0

    def __init__(self, table_name: str, handler: Handler, start: str = "TRIM_HORIZON") -> None:
        super().__init__()
        self.reader = StreamReader(table_name, start)
        self.handler = handler
        # read and not yet handled (until handled: a failed batch, whole or from its failed record, comes again)
        self._pending: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def poll(self) -> int:
        with self._lock:
            self._pending = records = self._pending + self.reader.read()["Records"]
        if records:
            response = self.handler({"Records": records}, _LocalContext())
            failed = [failure["itemIdentifier"] for failure in response.get("batchItemFailures", [])]
            first = next((i for i, r in enumerate(records) if r["dynamodb"]["SequenceNumber"] in failed[:1]), None)
            with self._lock:
                self._pending = records[first:] if first is not None else []
        return len(records)

    def unhandled(self) -> list[dict[str, Any]]:
        """The records not yet handled, in order, as JSON."""
        with self._lock:
            return [as_json(record) for record in self._pending] + self.reader.peek()

    def replay(self, records: list[dict[str, Any]]) -> None:
        """Hand the handler these records first: those a snapshot kept unhandled, which this process's stream never
        carried (renumbered, so that a failure names one of them)."""
        self._pending = [
            {
                **record,
                "eventVersion": "1.1",
                "eventSource": "aws:dynamodb",
                "awsRegion": "us-east-1",
                "dynamodb": {**record["dynamodb"], "SequenceNumber": f"restored-{index}"},
                "eventSourceARN": self.reader.arn,
            }
            for index, record in enumerate(records)
        ] + self._pending
