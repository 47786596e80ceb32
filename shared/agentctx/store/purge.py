"""The paced purge of a deleted session: its items removed in the background, 25 a call, at a rate of write units
a second, and its purge marker last, once."""

from enum import Enum

from botocore.exceptions import ClientError

from agentctx.store.dynamo import BATCH_WRITE_SIZE, batch_write, chunks, dynamodb_client, from_item, to_item
from agentctx.store.keys import COPY_SK_PREFIX, PURGE_SK, SESSION_SK, session_pk
from agentctx.store.pacing import Pacer


class PurgeOutcome(Enum):
    DONE = "done"
    MORE = "more"  # items left when the time was up
    WAITING = "waiting"  # a fork still copies from the session


class SessionPurge:
    def __init__(self, table: str, pacer: Pacer) -> None:
        self.table = table
        self.pacer = pacer

    def run(
        self, tenant_id: str, session_hex: str, seconds: float, write_units_per_second: int
    ) -> tuple[PurgeOutcome, int]:
        """Remove a deleted session's items, 25 a call, paced to `write_units_per_second` (one partition takes
        1,000), until none is left or `seconds` have passed on the pacer's clock. Resumable at any point: it reads
        what is left each time. When nothing but the marker is left, the marker goes too, and the tokens it named are
        returned, once (its delete is conditional; 0 otherwise). It waits while a fork still copies from the session
        (a `COPY#` item, which the fork's last copy or its delete removes)."""
        deadline = self.pacer.now() + seconds
        pk = session_pk(tenant_id, session_hex)
        client = dynamodb_client()
        copies = client.query(
            TableName=self.table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :copies)",
            ExpressionAttributeValues=to_item({":pk": pk, ":copies": COPY_SK_PREFIX}),
            ConsistentRead=True,
            Limit=1,
        )["Items"]
        if copies:
            return PurgeOutcome.WAITING, 0
        while True:  # each turn removes something, so a run that stops for time has progressed
            items = client.query(
                TableName=self.table,
                KeyConditionExpression="pk = :pk",
                ExpressionAttributeValues=to_item({":pk": pk}),
                ProjectionExpression="pk, sk",
                ConsistentRead=True,
                Limit=500,
            )["Items"]
            left = [item for item in items if item["sk"]["S"] not in (PURGE_SK, SESSION_SK)]
            if not left:
                if len(items) == 1 and items[0]["sk"]["S"] == PURGE_SK:
                    return PurgeOutcome.DONE, self._finish(pk)
                return PurgeOutcome.DONE, 0  # finished by another delivery
            for group in chunks(left, BATCH_WRITE_SIZE):
                started = self.pacer.now()
                units = batch_write(self.table, [{"DeleteRequest": {"Key": item}} for item in group])
                self.pacer.pace(started, units, write_units_per_second)
                if self.pacer.now() >= deadline:
                    return PurgeOutcome.MORE, 0

    def _finish(self, pk: str) -> int:
        try:
            response = dynamodb_client().delete_item(
                TableName=self.table,
                Key=to_item({"pk": pk, "sk": PURGE_SK}),
                ConditionExpression="attribute_exists(pk)",
                ReturnValues="ALL_OLD",
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return 0  # another delivery of the job finished it
            raise
        return int(from_item(response["Attributes"])["totalTokens"])
