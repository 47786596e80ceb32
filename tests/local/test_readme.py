"""The README's walk-through runs as written: its `sh` blocks, in order, in one bash, against `make serve`."""

import contextlib
import os
import re
import signal
import subprocess
import time

import pytest

from tests.local.server import ROOT, LocalServer, free_port, server_environment

# Each curl also writes its status and URL to stderr (`%{stderr}`), so its output stays what the reader sees.
CURL_STATUS = """curl() { command curl --write-out '%{stderr}HTTP %{http_code} %{method} %{url_effective}\\n' "$@"; }"""
STATUS_LINE = re.compile(r"^HTTP (\d{3}) (\S+) (\S+)$", re.MULTILINE)


def walkthrough_blocks() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("\n## Walk-through") : readme.index("\n## Layout")]
    return re.findall(r"^```sh\n(.*?)^```$", section, flags=re.MULTILINE | re.DOTALL)


@pytest.mark.timeout(300)  # the walk-through, start to stop (`make test` installed what `make serve` needs)
@pytest.mark.parametrize("already_serving", [False, True], ids=["starts make serve", "make serve already runs"])
def test_the_readme_walkthrough_runs_as_written(tmp_path, already_serving):
    """As pasted into a terminal with nothing running, or beside a `make serve` started earlier with a key of its own
    (which the walk-through then uses, and leaves running)."""
    blocks = walkthrough_blocks()
    script = "\n".join(
        [
            "set -eEuo pipefail",
            """trap 'echo "FAILED (status $?): $BASH_COMMAND" >&2' ERR""",
            CURL_STATUS,
            *blocks,
        ]
    )
    port, state = free_port(), tmp_path / "state"
    environment = server_environment(PORT=str(port), AGENTCTX_STATE_DIR=str(state))
    environment.pop("AIP_API_KEY", None)
    running = LocalServer(state, port, tmp_path / "serving.log").wait_ready() if already_serving else None
    out, err = tmp_path / "stdout", tmp_path / "stderr"
    # files, not pipes: the backgrounded server would hold a pipe open after bash ends
    with open(out, "w") as stdout_file, open(err, "w") as stderr_file:
        process = subprocess.Popen(
            ["bash", "-c", script],
            cwd=ROOT,
            env=environment,
            stdout=stdout_file,
            stderr=stderr_file,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            process.wait(timeout=240)
            # the `make serve` the walk-through started saves its state on its way out
            stopped = already_serving or _wait_for(lambda: "state saved" in out.read_text(), seconds=30)
        finally:
            _end_group(process)
            left_running = running is not None and running.process.poll() is None
            if running is not None:
                running.stop()
    stdout, stderr = out.read_text(), err.read_text()
    report = f"--- stdout\n{stdout[-6000:]}\n--- stderr\n{stderr[-6000:]}"
    if already_serving:
        assert left_running and "Agent context service" not in stdout, report  # used, neither started nor stopped

    assert process.returncode == 0, report
    calls = STATUS_LINE.findall(stderr)
    # the readiness loop may meet a server not yet listening (000); every other call answers 2xx
    answered = [(status, method, url) for status, method, url in calls if status != "000"]
    assert [call for call in answered if not call[0].startswith("2")] == [], report
    assert all(url.endswith("/health") for status, _, url in calls if status == "000"), report
    expected_calls = sum(len(re.findall(r"\bcurl ", block)) for block in blocks)
    assert len(answered) >= expected_calls - 1, (len(answered), expected_calls, report)
    assert {"POST", "GET", "DELETE"} <= {method for _, method, _ in answered}
    assert stopped, report


def _wait_for(condition, seconds: float) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def _end_group(process: subprocess.Popen) -> None:  # type: ignore[type-arg]
    """The walk-through's processes (bash, make, the server) are one process group, started here: end what is left."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()
