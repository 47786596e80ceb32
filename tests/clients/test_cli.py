"""The `agentctx` command against the service over HTTP, configured as a user would: AGENTCTX_URL, AGENTCTX_API_KEY.
The commands run in this process, through the command's own entry (`main`); one test runs the installed command."""

import ast
import contextlib
import io
import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path
from unittest import mock

from agentctx_client import cli

CLIENT = Path(__file__).resolve().parents[2] / "clients" / "python"


def agentctx(service, *args: str, check: bool = True) -> subprocess.CompletedProcess:  # type: ignore[no-untyped-def]
    """What the command prints and its exit status, as a shell would see them."""
    environment = {"AGENTCTX_URL": service.url, "AGENTCTX_API_KEY": service.key}
    stdout, stderr = io.StringIO(), io.StringIO()
    output = contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr)
    with mock.patch.dict(os.environ, environment), output[0], output[1]:
        status = cli.main(list(args))
    result = subprocess.CompletedProcess(["agentctx", *args], status, stdout.getvalue(), stderr.getvalue())
    if check:
        assert result.returncode == 0, result.stderr
    return result


def test_the_installed_command_reads_its_environment_and_exits_with_the_error_status(service):
    command = str(Path(sys.executable).with_name("agentctx"))  # the console script the client package installs
    environment = {**os.environ, "AGENTCTX_URL": service.url, "AGENTCTX_API_KEY": service.key}

    def run(*args: str) -> subprocess.CompletedProcess:  # type: ignore[type-arg]
        return subprocess.run([command, *args], env=environment, capture_output=True, text=True, timeout=60)

    created, missing = run("sessions", "create", "Entry"), run("sessions", "get", "sess_" + "0" * 32)

    assert created.returncode == 0 and created.stdout.strip().startswith("sess_"), created.stderr
    assert missing.returncode == 1 and "not_found" in missing.stderr and "request" in missing.stderr


def test_the_walkthrough_with_the_cli(service):
    sid = agentctx(service, "sessions", "create", "Auth Feature", "--agent", "code-assistant", "--tag", "auth").stdout
    sid = sid.strip()
    assert sid.startswith("sess_")
    note = agentctx(service, "blocks", "add", sid, "Use JWT with refresh tokens", "--tag", "authentication", "--pinned")
    turn = json.dumps([{"role": "user", "content": "Add login"}])
    agentctx(service, "blocks", "add", sid, turn, "--type", "conversation", "--json-content", "--tag", "authentication")
    for n in range(3):
        agentctx(service, "blocks", "add", sid, f"step {n}: " + "detail " * 150)

    blocks = json.loads(agentctx(service, "--json", "blocks", "list", sid).stdout)
    assert [block["id"] for block in blocks][0] == note.stdout.strip() and len(blocks) == 5
    assert blocks[1]["content"] == [{"role": "user", "content": "Add login"}]
    assert json.loads(agentctx(service, "--json", "sessions", "get", sid).stdout)["metrics"]["blockCount"] == 5
    assert sid in agentctx(service, "sessions", "list").stdout

    fork = agentctx(service, "sessions", "fork", sid, "Deep dive", "--include-tag", "authentication").stdout.strip()
    assert len(json.loads(agentctx(service, "--json", "blocks", "list", fork).stdout)) == 2

    streamed = agentctx(service, "invoke", "code-assistant", "What do we use?", "--session", sid, "--stream").stdout
    invocation = json.loads(agentctx(service, "--json", "invoke", "code-assistant", "Again", "--session", sid).stdout)
    assert streamed.strip() and invocation["output"] and invocation["session"] == sid

    job = json.loads(agentctx(service, "--json", "compact", sid, "--target-tokens", "50").stdout)
    assert job["status"] == "completed" and job["newTokens"] < job["previousTokens"]

    assert agentctx(service, "sessions", "delete", fork).stdout.strip() == f"deleted {fork}"
    missing = agentctx(service, "sessions", "get", fork, check=False)
    assert missing.returncode == 1 and "not_found" in missing.stderr and "request" in missing.stderr


def test_a_compaction_short_of_its_target_prints_why(service):
    sid = agentctx(service, "sessions", "create", "Small").stdout.strip()
    agentctx(service, "blocks", "add", sid, "Use JWT with refresh tokens " * 20, "--pinned")

    printed = agentctx(service, "compact", sid, "--target-tokens", "50").stdout

    job_id, status, tokens, reason = printed.rstrip("\n").split("\t")
    assert job_id.startswith("cmp_") and status == "completed" and tokens.endswith(" tokens")
    assert reason.startswith("target not reached: pinned and recent blocks alone hold")


def test_a_service_that_cannot_be_reached_is_one_line_and_a_failure_status(service):
    from tests.local.server import free_port

    down = type(service)(url=f"http://127.0.0.1:{free_port()}", key=service.key, agent_id=service.agent_id)

    result = agentctx(down, "sessions", "list", check=False)

    assert result.returncode != 0 and result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith(f"error: cannot reach the service at {down.url} (") and "is it running?" in line


def test_invoke_stream_prints_the_text_as_it_arrives(service):
    sid = agentctx(service, "sessions", "create", "Streamed").stdout.strip()
    events = agentctx(service, "--json", "invoke", "code-assistant", "Hello", "--session", sid, "--stream").stdout
    lines = [json.loads(line) for line in events.splitlines()]
    text = "".join(line["data"]["content"] for line in lines if line["event"] == "text_delta")

    printed = agentctx(service, "invoke", "code-assistant", "Hello", "--session", sid, "--stream").stdout

    assert lines[0]["event"] == "start" and lines[-1]["event"] == "complete"
    assert text == lines[-1]["data"]["output"]
    # plain text, not events: the answer's pieces as they came, then a newline
    assert printed.strip() and printed.endswith("\n") and not printed.startswith(("{", "event:"))


def test_events_tail_follows_an_agent_session_until_it_is_idle(service):
    rs = agentctx(service, "agent-sessions", "create", "code-assistant", "--title", "Tail me").stdout.strip()
    agentctx(service, "agent-sessions", "send", rs, "What is current_time?")

    tailed = agentctx(service, "--json", "events", "tail", rs, "--until", "session.idled").stdout
    events = [json.loads(line) for line in tailed.splitlines()]

    assert events[-1]["type"] == "session.idled"
    assert {"turn.started", "turn.completed"} <= {event["type"] for event in events}
    after_first = agentctx(service, "events", "tail", rs, "--since", events[0]["id"], "--until", "session.idled")
    assert [line.split("\t")[0] for line in after_first.stdout.splitlines()] == [event["id"] for event in events[1:]]
    assert agentctx(service, "agent-sessions", "get", rs).stdout.split("\t")[1] == "idle"


def test_the_client_package_depends_only_on_httpx_and_pydantic():
    declared = tomllib.loads((CLIENT / "pyproject.toml").read_text())["project"]["dependencies"]
    imported = set()
    for module in (CLIENT / "agentctx_client").glob("*.py"):
        for node in ast.walk(ast.parse(module.read_text())):
            if isinstance(node, ast.Import):
                imported |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module:
                imported.add(node.module.split(".")[0])

    assert sorted(dep.split(">")[0].split("=")[0].split("<")[0] for dep in declared) == ["httpx", "pydantic"]
    assert imported - sys.stdlib_module_names == {"httpx", "pydantic", "agentctx_client"}


def session_with_blocks(service) -> str:  # type: ignore[no-untyped-def]
    sid = agentctx(service, "sessions", "create", "Context").stdout.strip()
    agentctx(service, "blocks", "add", sid, "Use JWT with refresh tokens", "--tag", "auth", "--pinned")
    agentctx(service, "blocks", "add", sid, "The login handler is in src/login.py", "--tag", "auth")
    agentctx(service, "blocks", "add", sid, "unrelated " * 50, "--tag", "misc")
    return sid


def test_context_prints_the_payload_ready_to_send_and_the_text_as_text(service):
    sid = session_with_blocks(service)
    options = ("--system-prompt", "You are terse.", "--tag", "auth")

    body = json.loads(agentctx(service, "context", sid, "Summarise.", "--format", "anthropic", *options).stdout)
    answer = json.loads(
        agentctx(service, "--json", "context", sid, "Summarise.", "--format", "anthropic", *options).stdout
    )
    text = agentctx(service, "context", sid, "Summarise.", "--format", "text", *options).stdout

    assert body == answer["payload"] and len(answer["blockIds"]) == 2  # the two blocks tagged auth
    assert body["system"][0] == {"type": "text", "text": "You are terse."} and body["messages"][-1]["role"] == "user"
    assert text.startswith("You are terse.\n") and "src/login.py" in text and "unrelated" not in text
    assert text.endswith("user: Summarise.\n")


def test_context_summary_prints_blocks_tokens_per_section_and_cache_points(service):
    sid = session_with_blocks(service)
    preview = ("context", sid, "Go on", "--agent", "code-assistant", "--max-tokens", "100")

    answer = json.loads(agentctx(service, "--json", *preview).stdout)
    printed = agentctx(service, *preview, "--summary").stdout.splitlines()

    assert answer["agent"] == "code-assistant" and answer["tokenCount"] <= 100
    blocks, tokens, points, format_name, model = printed[0].split("\t")
    assert blocks == f"{len(answer['blockIds'])} blocks" and tokens == f"{answer['tokenCount']} tokens"
    assert (points, format_name, model) == ("0 cache points", "text", answer["model"])
    assert printed[1:] == [f"{name}\t{count} tokens" for name, count in answer["sections"].items()]


def test_context_with_a_bad_format_or_another_tenants_session_fails_with_the_services_error(service, other_api):
    sid = session_with_blocks(service)
    stranger = type(service)(url=service.url, key=other_api.key, agent_id=service.agent_id)

    bad_format = agentctx(service, "context", sid, "Go on", "--format", "xml", check=False)
    foreign = agentctx(stranger, "context", sid, "Go on", check=False)

    assert bad_format.returncode == 1 and bad_format.stdout == "" and "422 validation_error" in bad_format.stderr
    assert "  body.format: Input should be 'text', 'openai', 'anthropic' or 'bedrock'\n" in bad_format.stderr
    assert (
        foreign.returncode == 1 and foreign.stdout == "" and "404 not_found" in foreign.stderr and sid in foreign.stderr
    )
