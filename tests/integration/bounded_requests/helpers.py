"""The bounded-request tests' thresholds and tools: sessions seeded through the store, the context-table calls a
request makes, a session's stored items, and the session job queue delivered as SQS would."""

from agentctx import ids
from agentctx.domain import Block, BlockType, Session, utc_now
from agentctx.wiring import context_store
from tests.conftest import RESOURCES
from tests.dynamo_calls import CallCounter
from tests.events import LambdaContext
from tests.template.conftest import functions, load_handler, sam_template

LISTED_IDS = 10  # a session's view lists the ids of its first 1,000 blocks and pinned blocks (services/sessions.py)
SCANNED = 40  # a filtered listing reads at most 1,000 keys a call (store/block_listing.py)
ASSEMBLY_PAGE = 20  # context assembly reads its candidates 100 at a time (services/context.py)


def seed(api, count: int, *, pinned_every: int = 0, tag_every: int = 0, summary_every: int = 0) -> Session:
    """A session of the caller's tenant with `count` notes of 10 tokens, written through the store in batches:
    every `pinned_every`-th pinned, every `tag_every`-th tagged `rare` (the rest `common`), every
    `summary_every`-th a summary."""
    now = utc_now()
    session = Session(tenant_id=api.tenant_id, hex=ids.new_hex(), name="big", created_at=now, updated_at=now)
    blocks = []
    for i in range(count):
        summary = bool(summary_every) and i % summary_every == 0
        blocks.append(
            Block(
                session_hex=session.hex,
                order_key=ids.new_order_key(),
                type=BlockType.SUMMARY if summary else BlockType.NOTE,
                content=f"block {i}",
                token_count=10,
                tags=["rare"] if tag_every and i % tag_every == 0 else ["common"],
                pinned=bool(pinned_every) and i % pinned_every == 0,
                importance=0.5,
                created_at=now,
            )
        )
    session.block_count, session.total_tokens = count, 10 * count
    session.pinned_count = sum(block.pinned for block in blocks)
    session.summary_count = sum(block.type is BlockType.SUMMARY for block in blocks)
    context_store().sessions.create(session, blocks)
    return session


def calls_of(request) -> dict:  # type: ignore[no-untyped-def]
    """The context-table calls one request makes, by API (the tenants table's key, quota and usage reads are cached
    for a time, so they are left out to compare requests), and its response."""
    with CallCounter(RESOURCES["ContextTable"]).measure() as counted:
        response = request()
    return {"detail": counted["detail"], "response": response}


def run_session_jobs(aws, until_empty: bool = True) -> int:
    """Deliver the session job queue's messages to the function the template names, as SQS would."""
    from agentctx.store.queue import sqs_client
    from infra.local_worker import sqs_event

    handler = load_handler(functions(sam_template())["SessionJobFunction"])
    delivered = 0
    while True:
        received = sqs_client().receive_message(QueueUrl=aws["SessionJobQueue"], MaxNumberOfMessages=1)
        messages = received.get("Messages", [])
        if not messages:
            return delivered
        response = handler(sqs_event(messages, "arn:aws:sqs:us-east-1:123456789012:test-session-jobs"), LambdaContext())
        assert response["batchItemFailures"] == []
        sqs_client().delete_message(QueueUrl=aws["SessionJobQueue"], ReceiptHandle=messages[0]["ReceiptHandle"])
        delivered += 1
        if not until_empty:
            return delivered


def partition_items(tenant_id: str, session_hex: str) -> list[str]:
    from agentctx.store.dynamo import dynamodb_client
    from agentctx.store.keys import session_pk

    response = dynamodb_client().query(
        TableName="test-context",
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": session_pk(tenant_id, session_hex)}},
        ProjectionExpression="sk",
    )
    return [item["sk"]["S"] for item in response["Items"]]


def listed_ids(api, session_id: str, query: str = "") -> list[str]:  # type: ignore[no-untyped-def]
    ids_, page = [], f"/v1/aip/sessions/{session_id}/blocks?limit=200&{query}"
    while page:
        body = api.get(page).json()
        ids_ += [block["id"] for block in body["data"]]
        cursor = body["meta"].get("nextCursor")
        page = f"/v1/aip/sessions/{session_id}/blocks?limit=200&{query}&cursor={cursor}" if cursor else None
    return ids_
