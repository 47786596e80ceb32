"""Sessions to compact, the compaction function run as its queue runs it, and what a finished compaction must look
like: shared by the compaction tests and by the turn and request-guard tests that watch automatic compaction."""

from tests.conftest import OFFLINE_MODEL
from tests.events import DeadlineContext
from tests.integration.test_sessions_api import append, create_session, note
from tests.template.conftest import functions, load_handler, sam_template

SENTENCE = "The team decided to use JWT access tokens with rotating refresh tokens. "


def long_note(i: int, **extra) -> dict:
    return note(f"Note {i}: {SENTENCE * 4}", tags=[f"t{i % 3}"], **extra)


def fill(api, count: int = 20, **extra) -> tuple[dict, list[dict]]:
    session = create_session(api)
    return session, append(api, session["id"], *[long_note(i, **extra) for i in range(count)])


def compaction_handler():
    return load_handler(functions(sam_template())["CompactionFunction"])


def function_context(clock=None) -> DeadlineContext:
    """The context of one invocation of the compaction function, its deadline the template's Timeout away."""
    return DeadlineContext(functions(sam_template())["CompactionFunction"]["Timeout"], clock)


def small_agent(api) -> str:
    """An agent whose model has a 1,000-token window: its sessions auto-compact past 800 tokens, to 400."""
    model = api.post("/v1/models", json={**OFFLINE_MODEL, "context_window": 1_000, "max_output_tokens": 100}).json()
    api.post("/v1/agents", json={"name": "Tiny", "slug": "tiny", "default_model_id": model["id"]})
    return "tiny"


def jobs_of(api, session_id: str) -> list[tuple[str, str]]:
    jobs = api.get(f"/v1/aip/sessions/{session_id}/compactions").json()["data"]
    return [(job["trigger"], job["status"]) for job in jobs]


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def deliver_until_done(aws, clock: FakeClock, limit: int = 50, left: list[float] | None = None) -> list[dict]:
    """Run the compaction queue the way the event source mapping does, one message per invocation, each with
    its own deadline; the handler's answers, in order (and in `left`, the seconds each invocation had left)."""
    from agentctx.store.queue import sqs_client
    from infra.local_worker import sqs_event

    answers = []
    for _ in range(limit):
        received = sqs_client().receive_message(QueueUrl=aws["CompactionQueue"], WaitTimeSeconds=0).get("Messages")
        if not received:
            return answers
        context = function_context(clock)
        answer = compaction_handler()(sqs_event(received, "arn:aws:sqs:us-east-1:123456789012:q"), context)
        answers.append(answer)
        if left is not None:
            left.append(context.get_remaining_time_in_millis() / 1000)
        if not answer["batchItemFailures"]:
            sqs_client().delete_message(QueueUrl=aws["CompactionQueue"], ReceiptHandle=received[0]["ReceiptHandle"])
    raise AssertionError("the job never finished")


def assert_compacted_once(api, session_id: str, result: dict) -> None:
    """Every block is either active or covered by exactly one summary, and the metrics match the result."""
    everything = []
    cursor = None
    while True:
        query = "includeCompacted=true&limit=200" + (f"&cursor={cursor}" if cursor else "")
        page = api.get(f"/v1/aip/sessions/{session_id}/blocks?{query}").json()
        everything += page["data"]
        cursor = page["meta"].get("nextCursor")
        if not cursor:
            break
    summaries = {b["id"]: b for b in everything if b["type"] == "summary"}
    covered = [i for s in summaries.values() for i in s["metadata"]["summaryOf"]["blockIds"]]
    assert len(covered) == len(set(covered)), "a block was summarised twice"
    for block in everything:
        if block["metadata"].get("compacted"):
            assert block["id"] in summaries[block["metadata"]["compactedBy"]]["metadata"]["summaryOf"]["blockIds"]
    view = api.get(f"/v1/aip/sessions/{session_id}").json()["data"]
    active = [b for b in everything if not b["metadata"].get("compacted")]
    assert view["metrics"]["totalTokens"] == result["newTokens"] == sum(b["metadata"]["tokenCount"] for b in active)
    assert view["metrics"]["blockCount"] == len(active)
