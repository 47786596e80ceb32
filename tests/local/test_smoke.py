"""docs/deploy.md's steps after a deploy, run against `make serve`'s app: `make smoke URL=... ADMIN_KEY=...`, and the
shell block that creates the first tenant, its key, a model and an agent."""

import json
import os
import re
import signal
import subprocess
from collections.abc import Iterator

import httpx
import pytest

from tests.local.server import ROOT, LocalServer, free_port

pytestmark = pytest.mark.timeout(180)

ADMIN = "adm_smoke_test_key"
STEP = re.compile(r"^(ok|failed|skipped) +(.+?)  +(.*)$")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    folder = tmp_path_factory.mktemp("smoke")
    started = LocalServer(folder / "state", free_port(), folder / "server.log", AIP_ADMIN_KEY=ADMIN).wait_ready()
    yield started
    started.stop(signal.SIGKILL)


def make_smoke(url: str, admin_key: str) -> tuple[int, dict[str, tuple[str, str]], str]:
    """make's exit status (2 when the smoke test's is not 0), each step's outcome and detail by name, and the whole
    output (make's own last line names the smoke test's exit status)."""
    environment = {name: value for name, value in os.environ.items() if not name.startswith("MAKE")}
    finished = subprocess.run(
        ["make", "smoke", f"URL={url}", f"ADMIN_KEY={admin_key}"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    steps = {match[2]: (match[1], match[3]) for line in finished.stdout.splitlines() if (match := STEP.match(line))}
    return finished.returncode, steps, finished.stdout + finished.stderr


def test_smoke_runs_every_step_against_a_working_service_and_cleans_up(server: LocalServer):
    status, steps, output = make_smoke(server.url, ADMIN)

    assert status == 0, output
    assert list(steps) == [
        "create tenant",
        "issue API key",
        "default model",
        "create agent",
        "create session",
        "add block",
        "invoke (SSE)",
        "delete session",
        "delete agent",
        "revoke API key",
    ], output
    assert {outcome for outcome, _ in steps.values()} == {"ok"}, output
    assert steps["default model"][1].startswith("offline offline-1")  # what `make serve` configures
    assert "Offline answer to: In one short sentence" in steps["invoke (SSE)"][1]
    assert f"smoke test of {server.url}: passed" in output
    tenant_id = steps["create tenant"][1].split()[0]
    quotas = httpx.get(f"{server.url}/v1/admin/tenants/{tenant_id}/quotas", headers={"X-Admin-Key": ADMIN})
    assert quotas.status_code == 200  # the tenant is there (the admin API deletes none)


def test_a_refused_admin_key_fails_the_first_step_skips_the_rest_and_exits_1(server: LocalServer):
    status, steps, output = make_smoke(server.url, "adm_not_the_operator_key")

    assert status == 2 and "smoke] Error 1" in output, output
    outcome, detail = steps.pop("create tenant")
    assert outcome == "failed" and detail.startswith("401 "), output
    assert {outcome for outcome, _ in steps.values()} == {"skipped"} and "invoke (SSE)" in steps, output
    assert f"smoke test of {server.url}: FAILED" in output


def test_an_unreachable_url_fails_with_the_reason():
    status, steps, output = make_smoke(f"http://127.0.0.1:{free_port()}", ADMIN)

    assert status == 2 and "smoke] Error 1" in output, output
    assert steps["create tenant"][0] == "failed" and "connect" in steps["create tenant"][1].lower(), output


def first_tenant_block() -> str:
    """docs/deploy.md's block for the first tenant, key, model and agent, without its `API=` line (the stack's URL)."""
    guide = (ROOT / "docs" / "deploy.md").read_text()
    (block,) = [b for b in re.findall(r"^```sh\n(.*?)^```$", guide, flags=re.MULTILINE | re.DOTALL) if "TENANT=" in b]
    return block.removeprefix(block.splitlines()[0] + "\n")


def test_the_first_tenant_key_model_and_agent_are_made_as_the_guide_writes(server: LocalServer):
    script = "set -euo pipefail\n" + first_tenant_block() + 'echo; echo "KEY $KEY"\n'
    environment = {**os.environ, "API": server.url, "OPERATOR_KEY": ADMIN}
    finished = subprocess.run(["bash", "-c", script], env=environment, capture_output=True, text=True, timeout=60)

    assert finished.returncode == 0, finished.stderr
    *_, agent_line, key_line = finished.stdout.splitlines()
    agent = json.loads(agent_line)
    assert agent["slug"] == "code-assistant" and [c["ref"] for c in agent["capabilities"]] == ["current_time"]
    key = key_line.removeprefix("KEY ")
    model = httpx.get(f"{server.url}/v1/models/{agent['default_model_id']}", headers={"X-API-Key": key}).json()
    assert (model["provider"], model["model_id"]) == ("bedrock", "us.anthropic.claude-haiku-4-5-20251001-v1:0")
