"""`make serve`'s process, as a test runs it: `python -m infra.local_server` on a free loopback port, with its own
state folder, read through its output."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
# The tests' own AWS settings (and any table, queue or bus name) would point the server at other resources; it must
# run as `make serve` runs it.
_NOT_INHERITED = {
    "CONTEXT_TABLE_NAME",
    "TENANTS_TABLE_NAME",
    "IDEMPOTENCY_TABLE_NAME",
    "EVENT_BUS_NAME",
    "COMPACTION_QUEUE_URL",
    "TURN_QUEUE_URL",
    "ADMIN_KEY_SHA256",
    "CURSOR_SECRET",
    "POWERTOOLS_METRICS_NAMESPACE",
    "AWS_SESSION_TOKEN",
    "SSE_MAX_SECONDS",
    "SSE_POLL_SECONDS",
    "SSE_HEARTBEAT_SECONDS",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_environment(**overrides: str) -> dict[str, str]:
    environment = {
        name: value
        for name, value in os.environ.items()
        if name not in _NOT_INHERITED and not name.endswith(("_QUEUE_URL", "_TABLE_NAME", "_BUS_NAME", "_INDEX_ARN"))
    }
    environment.update({"PYTHONUNBUFFERED": "1", **overrides})
    return environment


class LocalServer:
    """One run of the local server; `output` is what it printed so far."""

    def __init__(self, state_dir: Path, port: int, log_path: Path, **environment: str) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = log_path
        self._log = open(log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "infra.local_server"],
            cwd=ROOT,
            env=server_environment(PORT=str(port), AGENTCTX_STATE_DIR=str(state_dir), **environment),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )

    @property
    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_ready(self, timeout: float = 60) -> "LocalServer":
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"the server exited with {self.process.returncode}:\n{self.output}")
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"the server did not answer in {timeout} s:\n{self.output}")

    def banner_value(self, label: str) -> str:
        line = next(line for line in self.output.splitlines() if line.strip().startswith(label))
        return line.split()[-1] if label != "tenant" else line.split()[1]

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            return self.process.wait(timeout=timeout)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()
            self._log.close()


def write_ballast_state(folder: Path, megabytes: int) -> None:
    """A saved state of `megabytes` MB, written directly (seeding it through the API would take minutes): items of
    50 KB in a partition of their own, beside the tables a fresh start has."""
    from infra.local_server import TABLES

    ballast = [
        {"pk": {"S": "BALLAST"}, "sk": {"S": f"{index:08d}"}, "data": {"S": "b" * 50_000}}
        for index in range(megabytes * 20)
    ]
    folder.mkdir(parents=True, exist_ok=True)
    state = {
        "version": 1,
        "saved_at": "2026-01-01T00:00:00Z",
        "local": {},
        "tables": {logical_id: ballast if logical_id == "ContextTable" else [] for logical_id in TABLES},
        "queues": {},
    }
    (folder / "state.json").write_text(json.dumps(state))
