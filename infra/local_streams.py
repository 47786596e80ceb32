"""Locally, what Lambda's DynamoDB stream event source mapping does: read the table's stream from where it left
off and hand the records to a handler in the event shape Lambda uses."""

from typing import Any

from infra.local_worker import BackgroundPoller, Handler, _LocalContext


def streams_client() -> Any:
    import boto3
    from botocore.config import Config

    # moto answers the classic endpoint, not the account-based one botocore now prefers.
    return boto3.client("dynamodbstreams", config=Config(account_id_endpoint_mode="disabled"))


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


class StreamWorker(BackgroundPoller):
    """Reads the stream about once a second and calls the handler; records it reports as failed are handed to it
    again (from the failed one on), as the event source mapping retries."""

    pause_seconds = 1.0

    def __init__(self, table_name: str, handler: Handler, start: str = "TRIM_HORIZON") -> None:
        super().__init__()
        self.reader = StreamReader(table_name, start)
        self.handler = handler
        self._pending: list[dict[str, Any]] = []

    def poll(self) -> int:
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
        except Exception:  # the whole batch failed: it comes again
            self._pending = records
            raise
        return len(records)

    def replay_inserts(self, items: list[dict[str, Any]]) -> None:
        """Hand the handler these items as if just inserted (before what the stream brings next): for items
        restored from a snapshot, whose records the stream of this process never carried."""
        self._pending = [
            {
                "eventID": f"restored-{index}",
                "eventName": "INSERT",
                "eventVersion": "1.1",
                "eventSource": "aws:dynamodb",
                "awsRegion": "us-east-1",
                "dynamodb": {
                    "Keys": {"pk": item["pk"], "sk": item["sk"]},
                    "NewImage": item,
                    "SequenceNumber": f"restored-{index}",
                    "StreamViewType": "NEW_AND_OLD_IMAGES",
                },
                "eventSourceARN": self.reader.arn,
            }
            for index, item in enumerate(items)
        ] + self._pending
