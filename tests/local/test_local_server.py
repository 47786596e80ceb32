"""`make serve` as a newcomer meets it: the port is checked first, state outlives a restart (and a kill -9), and the
log reads one line per request and per job."""

import json
import re
import signal
import socket
import threading
import time

import httpx
import pytest

from tests.infra.test_local_bedrock import ANSWER, create_bedrock_agent
from tests.integration.test_mcp import run_docs_example
from tests.local.server import LocalServer, free_port, write_ballast_state
from tests.providers.loopback import Recorded, serve
from tests.providers.model_endpoints import STREAM_HEADERS

pytestmark = pytest.mark.timeout(300)  # a test starts the server up to three times, each a cold start

KEY = "ctx_local_test_key"
ADMIN = "adm_local_test_key"


@pytest.fixture
def start(tmp_path):  # type: ignore[no-untyped-def]
    """Starts servers on one state folder and stops whichever still run at the end."""
    servers: list[LocalServer] = []

    def start_server(wait: bool = True, port: int | None = None, **environment: str) -> LocalServer:
        server = LocalServer(
            tmp_path / "state", port or free_port(), tmp_path / f"server-{len(servers)}.log", **environment
        )
        servers.append(server)
        return server.wait_ready() if wait else server

    yield start_server
    for server in servers:
        server.stop(signal.SIGKILL)


def client(server: LocalServer, key: str = KEY) -> httpx.Client:
    return httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {key}"}, timeout=30)


def test_a_busy_port_is_reported_before_any_key_is_made_or_printed(start, tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        server = start(wait=False, port=port)
        status = server.process.wait(timeout=60)

    assert status != 0
    assert server.output.strip().splitlines() == [
        f"cannot listen on 127.0.0.1:{port}: Address already in use; stop what uses it or choose another PORT"
    ]
    assert not (tmp_path / "state").exists()


def test_a_restart_keeps_sessions_blocks_agents_events_and_keys(start):
    first = start(AIP_API_KEY=KEY, AIP_ADMIN_KEY=ADMIN)
    tenant_id = first.banner_value("tenant")
    with client(first) as http:
        session = http.post("/v1/aip/sessions", json={"name": "kept", "tags": ["restart"]}).json()["data"]
        http.post(
            f"/v1/aip/sessions/{session['id']}/blocks",
            json={"blocks": [{"type": "note", "content": "first"}, {"type": "note", "content": "second"}]},
        ).raise_for_status()
        agent = http.get("/v1/agents").json()["data"][0]
        runtime = http.post("/v1/sessions", json={"agent_id": agent["id"], "title": "kept too"}).json()
        http.post(
            f"/v1/sessions/{runtime['id']}/messages",
            json={"message": {"content": [{"type": "text", "text": "hello"}]}},
        ).raise_for_status()
        deadline = time.monotonic() + 30
        while http.get(f"/v1/sessions/{runtime['id']}").json()["status"] != "idle" and time.monotonic() < deadline:
            time.sleep(0.2)
        events = http.get(f"/v1/sessions/{runtime['id']}/events", params={"limit": 100}).json()["data"]
    issued = httpx.post(
        f"{first.url}/v1/admin/tenants/{tenant_id}/keys", headers={"X-Admin-Key": ADMIN}, timeout=10
    ).json()["data"]["key"]
    assert first.stop() == 0
    assert "state saved" in first.output

    # no key given this time: the saved ones are kept and printed
    second = start()
    assert second.banner_value("API key") == KEY
    assert "restored from" in second.output
    for key in (KEY, issued):
        with client(second, key) as http:
            assert http.get(f"/v1/aip/sessions/{session['id']}").json()["data"]["metrics"]["blockCount"] == 2
    with client(second) as http:
        blocks = http.get(f"/v1/aip/sessions/{session['id']}/blocks", params={"include": "content"}).json()["data"]
        assert [block["content"] for block in blocks] == ["first", "second"]
        assert [a["id"] for a in http.get("/v1/agents").json()["data"]] == [agent["id"]]
        assert http.get(f"/v1/sessions/{runtime['id']}").json()["title"] == "kept too"
        again = http.get(f"/v1/sessions/{runtime['id']}/events", params={"limit": 100}).json()["data"]
        assert [event["id"] for event in again] == [event["id"] for event in events] and events
    admin = httpx.get(f"{second.url}/v1/admin/tenants/{tenant_id}/quotas", headers={"X-Admin-Key": ADMIN})
    assert admin.status_code == 200


def test_clean_start_discards_the_saved_state(start):
    first = start(AIP_API_KEY=KEY)
    with client(first) as http:
        http.post("/v1/aip/sessions", json={"name": "gone"}).raise_for_status()
    first.stop()

    second = start(AIP_API_KEY=KEY, AGENTCTX_CLEAN="1")

    with client(second) as http:
        assert http.get("/v1/aip/sessions").json()["data"] == []
    assert "new, saved to" in second.output


def test_the_log_is_one_readable_line_per_request_and_per_job_without_warnings_or_emf(start):
    server = start(AIP_API_KEY=KEY)
    with client(server) as http:
        created = http.post("/v1/aip/sessions", json={"name": "logged"})
        sid = created.json()["data"]["id"]
        http.post("/v1/aip/blocks", json={"sessionId": sid, "type": "note", "content": "a " * 300}).raise_for_status()
        http.post("/v1/aip/blocks", json={"sessionId": sid, "type": "note", "content": "b " * 300}).raise_for_status()
        compacted = http.post(f"/v1/aip/sessions/{sid}/compact", json={"targetTokens": 50})
        assert compacted.status_code == 200, compacted.text
        assert http.get("/v1/aip/sessions/sess_00000000000000000000000000000000").status_code == 404
    assert "Use DynamoDB on-demand." in run_docs_example(server.url, KEY)  # MCP, as docs/mcp.md connects
    server.stop()
    output = server.output

    request_line = next(line for line in output.splitlines() if "method=POST path=/v1/aip/sessions " in line)
    assert re.search(
        rf"INFO +request method=POST path=/v1/aip/sessions status=201 ms=[0-9.]+ tenant_id=org_\w+ "
        rf"request_id={created.headers['X-Request-Id']}",
        request_line,
    )
    assert re.search(r"request method=GET path=/v1/aip/sessions/sess_0+ status=404 ms=", output)
    assert re.search(r"INFO +request method=POST path=/mcp status=200 ms=[0-9.]+ tenant_id=org_", output)
    assert re.search(r"INFO +job queue=agentctx-compaction outcome=done attempt=1 ms=[0-9.]+ tenant_id=org_", output)
    assert "Warning" not in output and "warn" not in output.lower()
    assert '"_aws"' not in output and "{" not in output


def test_a_turn_committed_but_not_yet_queued_at_the_snapshot_runs_after_the_restart(
    start, tmp_path, api, code_assistant
):
    """The stream is the turns' outbox: a snapshot taken between a turn's commit and its job reaching the queue
    keeps the stream's unhandled records, and the restarted publisher handles them."""
    import boto3

    from infra.local_state import STATE_FILE, capture, write_atomically
    from infra.local_streams import StreamReader
    from infra.template import logical_ids
    from tests.conftest import RESOURCES

    session = api.post("/v1/sessions", json={"agent_id": code_assistant["agent"]["id"], "title": "pending"}).json()
    api.post(
        f"/v1/sessions/{session['id']}/messages", json={"message": {"content": [{"type": "text", "text": "hi"}]}}
    ).raise_for_status()
    queue = boto3.client("sqs").get_queue_url(QueueName=RESOURCES["TurnQueue"])["QueueUrl"]
    boto3.client("sqs").purge_queue(QueueUrl=queue)  # the job never reached the queue
    tables = {logical_id: RESOURCES[logical_id] for logical_id in logical_ids("AWS::DynamoDB::Table")}
    local = {"tenant_id": api.tenant_id, "api_key": api.key, "model_id": "-", "agent_id": code_assistant["agent"]["id"]}
    (tmp_path / "state").mkdir()
    # no publisher has handled the stream's records: the snapshot keeps them all
    unhandled = StreamReader(RESOURCES["ContextTable"]).peek()
    write_atomically(tmp_path / "state" / STATE_FILE, capture(tables, {"TurnQueue": queue}, local, stream=unhandled))

    server = start()

    with client(server, api.key) as http:
        deadline = time.monotonic() + 60
        while (status := http.get(f"/v1/sessions/{session['id']}").json()["status"]) != "idle":
            assert time.monotonic() < deadline, status
            time.sleep(0.2)
        types = [event["type"] for event in http.get(f"/v1/sessions/{session['id']}/events").json()["data"]]
    assert "turn.completed" in types


def test_with_agentctx_bedrock_a_bedrock_models_calls_go_to_bedrock(start):
    with serve([Recorded(200, STREAM_HEADERS, ANSWER)]) as bedrock:
        server = start(AIP_API_KEY=KEY, AGENTCTX_BEDROCK="1", AWS_ENDPOINT_URL_BEDROCK_RUNTIME=bedrock.url)
        with client(server) as http:
            answered = http.post("/v1/aip/invoke", json={"agent": create_bedrock_agent(http), "prompt": "hi"})

    assert answered.status_code == 200, answered.text
    assert answered.json()["data"]["output"] == "Hello from Bedrock."
    assert [sent["path"] for sent in bedrock.requests] == ["/model/anthropic.claude-test/converse-stream"]
    assert "bedrock    on, with your AWS credentials" in server.output


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_stopping_after_an_event_stream_client_left_is_quiet_and_prompt(start, stop_signal):
    server = start(AIP_API_KEY=KEY)
    with client(server) as http:
        agent = http.get("/v1/agents").json()["data"][0]
        session = http.post("/v1/sessions", json={"agent_id": agent["id"], "title": "watched"}).json()
        with http.stream("GET", f"/v1/sessions/{session['id']}/sse") as stream:
            assert next(stream.iter_lines()).startswith("retry:")
    # the client has left; its stream would next write at the heartbeat, seconds away

    assert server.stop(stop_signal, timeout=10) == 0
    assert "Traceback" not in server.output and "ERROR" not in server.output, server.output
    assert "state saved" in server.output


@pytest.mark.serial  # writers race a kill -9
def test_kill_9_during_concurrent_writes_at_100_mb_keeps_every_acknowledged_write(start, tmp_path):
    write_ballast_state(tmp_path / "state", 100)
    first = start(AIP_API_KEY=KEY)
    sessions: list[str] = []
    with_blocks: list[str] = []

    def write() -> None:
        with client(first) as http:
            while True:
                try:
                    created = http.post("/v1/aip/sessions", json={"name": "load"})
                    if created.status_code != 201:
                        continue
                    sessions.append(sid := created.json()["data"]["id"])
                    appended = http.post(
                        f"/v1/aip/sessions/{sid}/blocks",
                        json={"blocks": [{"type": "note", "content": "x" * 2000}, {"type": "note", "content": "y"}]},
                    )
                except httpx.TransportError:
                    return
                if appended.status_code == 201:
                    with_blocks.append(sid)

    writers = [threading.Thread(target=write) for _ in range(4)]
    for writer in writers:
        writer.start()
    while len(with_blocks) < 30:
        time.sleep(0.05)
    time.sleep(3)  # past a periodic snapshot of the old kind, into the next
    first.stop(signal.SIGKILL)
    for writer in writers:
        writer.join()
    # a temporary snapshot the kill tore mid-write is overwritten by the next snapshot, never read
    (tmp_path / "state" / "state.json.tmp").write_text('{"version": 1, "tables": {"Cont')

    second = start(AIP_API_KEY=KEY)
    with client(second) as http:
        found = {sid: http.get(f"/v1/aip/sessions/{sid}").json().get("data") for sid in sessions}
    missing = [sid for sid, session in found.items() if session is None]
    assert not missing, f"{len(missing)} of {len(sessions)} acknowledged sessions lost"
    assert {found[sid]["metrics"]["blockCount"] for sid in with_blocks} == {2}, "acknowledged blocks lost"
    # a batch whose answer the kill cut off is there whole or not at all
    assert {session["metrics"]["blockCount"] for session in found.values()} <= {0, 2}


@pytest.mark.parametrize("damage", ["snapshot without a table", "log damaged before its end"])
def test_a_state_that_cannot_be_restored_whole_is_refused_in_one_line_and_left_as_it_is(start, tmp_path, damage):
    first = start(AIP_API_KEY=KEY)
    with client(first) as http:
        for name in ("one", "two"):
            http.post("/v1/aip/sessions", json={"name": name}).raise_for_status()
    first.stop(signal.SIGKILL)
    folder = tmp_path / "state"
    if damage == "snapshot without a table":
        state = json.loads((folder / "state.json").read_text())
        del state["tables"]["TenantsTable"]
        (folder / "state.json").write_text(json.dumps(state))
    else:
        (segment,) = folder.glob("journal-*.log")
        lines = segment.read_bytes().splitlines(keepends=True)
        segment.write_bytes(b"".join([lines[0][:-5] + b"X" + lines[0][-4:], *lines[1:]]))
    before = {path.name: path.read_bytes() for path in folder.iterdir()}

    second = start(wait=False, AIP_API_KEY=KEY)

    assert second.process.wait(timeout=60) != 0
    (line,) = second.output.strip().splitlines()
    assert line.endswith("move it away, or start with AGENTCTX_CLEAN=1 to discard it")
    assert {path.name: path.read_bytes() for path in folder.iterdir()} == before
