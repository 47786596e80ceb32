"""What the FIFO turn queue carries: "run session S's turns up to number n", and where such a job comes from.

A job is sent only for a turn whose input message committed: by the request that committed it, right after the
commit, and again by the context table's stream from the committed turn item (the outbox), so a crash between the
commit and the send still dispatches the turn. Both sends carry the same deduplication id; a duplicate that gets
through finds its turn finished and does nothing. Kept free of heavy imports: the stream function loads it.
"""

from dataclasses import dataclass
from typing import Any

from agentctx.store.dynamo import from_item
from agentctx.store.keys import TURN_SK_PREFIX, parse_session_pk


@dataclass(frozen=True)
class TurnJob:
    tenant_id: str
    session_hex: str
    turn_seq: int

    def body(self) -> dict[str, Any]:
        return {"tenantId": self.tenant_id, "sessionHex": self.session_hex, "turnSeq": self.turn_seq}

    @property
    def deduplication_id(self) -> str:
        return f"{self.session_hex}-{self.turn_seq}"

    @classmethod
    def from_body(cls, body: dict[str, Any]) -> "TurnJob":
        return cls(body["tenantId"], body["sessionHex"], int(body["turnSeq"]))


def job_from_stream_record(record: dict[str, Any]) -> TurnJob | None:
    """The job a stream record dispatches: the INSERT of a turn item, else none."""
    if record.get("eventName") != "INSERT":
        return None
    keys = from_item(record["dynamodb"]["Keys"])
    session = parse_session_pk(keys["pk"])
    if not keys["sk"].startswith(TURN_SK_PREFIX) or session is None:
        return None
    return TurnJob(*session, int(keys["sk"][len(TURN_SK_PREFIX) :], 16))
