"""Shared fixtures: moto's DynamoDB with the tables of template.yaml, and an API client with a tenant."""

import hashlib
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from agentctx.store.pacing import Pacer
from infra.template import local_names, resource_environment

ADMIN_KEY = "test-admin-key"
# The template's tables, queues and bus under test names, and the variables that name them (as in Lambda).
RESOURCES = local_names("test")
os.environ.update(
    {
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "CURSOR_SECRET": "test-cursor-secret-that-is-long-enough",
        "ADMIN_KEY_SHA256": hashlib.sha256(ADMIN_KEY.encode()).hexdigest(),
        "POWERTOOLS_METRICS_NAMESPACE": "AgentContextTest",
        "COMPACTION_WAIT_SECONDS": "10",
        "SESSION_JOB_RETRY_SECONDS": "0",
        "SSE_POLL_SECONDS": "0.02",
        "SSE_HEARTBEAT_SECONDS": "0.3",
        "SSE_MAX_SECONDS": "1",
        **resource_environment(RESOURCES),
    }
)


@pytest.fixture(scope="session", autouse=True)
def queue_workers_stop_at_once() -> None:
    """Queue workers poll without SQS's long wait and pause briefly when idle, so stopping one takes no time (a
    long poll cannot be cut short: each stop waited out a second)."""
    from infra.local_worker import QueueWorker

    QueueWorker.wait_seconds, QueueWorker.idle_seconds = 0, 0.05


def embedded_aws() -> Iterator[dict[str, str]]:
    """A fresh moto account with the template's tables and queues; the queues' URLs by logical id."""
    from infra.local_aws import local_aws

    with local_aws(RESOURCES) as queues:
        yield queues


@pytest.fixture
def aws() -> Iterator[dict[str, str]]:
    """An embedded AWS of the test's own. A module whose tests share one server shares one (each test then has a
    tenant of its own): it overrides this fixture with a module-scoped one."""
    yield from embedded_aws()


@pytest.fixture
def compaction_worker(aws):  # type: ignore[no-untyped-def]
    """The compaction queue's consumer running in the background, as `make serve` runs it."""
    from infra.local_worker import QueueWorker
    from tests.template.conftest import functions, load_handler, sam_template

    handler = load_handler(functions(sam_template())["CompactionFunction"])
    worker = QueueWorker(aws["CompactionQueue"], handler).start()
    yield worker
    worker.stop()


@pytest.fixture
def index_blocks(aws):  # type: ignore[no-untyped-def]
    """Catches the search index up with the context table's stream, as SearchIndexFunction's event source mapping
    does in AWS: call it after writes, before searching. Every record must be handled (no batch item failure)."""
    from infra.local_streams import StreamReader
    from tests.events import LambdaContext
    from tests.template.conftest import functions, load_handler, sam_template

    handler = load_handler(functions(sam_template())["SearchIndexFunction"])
    reader = StreamReader(RESOURCES["ContextTable"])

    def catch_up() -> int:
        handled = 0
        while records := reader.read()["Records"]:
            answer = handler({"Records": records}, LambdaContext())
            assert answer["batchItemFailures"] == [], answer
            handled += len(records)
        return handled

    return catch_up


@dataclass
class Caller:
    """A tenant and an HTTP client that sends its key."""

    http: object
    tenant_id: str
    key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"X-API-Key": self.key}

    def request(self, method: str, path: str, **kwargs):  # type: ignore[no-untyped-def]
        headers = {**self.headers, **kwargs.pop("headers", {})}
        return self.http.request(method, path, headers=headers, **kwargs)  # type: ignore[attr-defined]

    def get(self, path: str, **kwargs):  # type: ignore[no-untyped-def]
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs):  # type: ignore[no-untyped-def]
        return self.request("POST", path, **kwargs)

    def patch(self, path: str, **kwargs):  # type: ignore[no-untyped-def]
        return self.request("PATCH", path, **kwargs)

    def delete(self, path: str, **kwargs):  # type: ignore[no-untyped-def]
        return self.request("DELETE", path, **kwargs)


class InstantPacer(Pacer):
    """The paced jobs' clock and waits without the waiting: a wait moves this clock on instead of sleeping, so a
    deadline still ends a run where its time would have run out, and `slept` says how long the pacing asked for."""

    def __init__(self) -> None:
        self.slept = 0.0

    def now(self) -> float:
        return time.monotonic() + self.slept

    def sleep(self, seconds: float) -> None:
        self.slept += seconds


@pytest.fixture
def instant_pacing(monkeypatch: pytest.MonkeyPatch) -> InstantPacer:
    """The purge and the fork copy of this process paced on an InstantPacer."""
    from agentctx.wiring import context_store

    pacer = InstantPacer()
    for job in (context_store().purge, context_store().fork_copy):
        monkeypatch.setattr(job, "pacer", pacer)
    return pacer


@pytest.fixture(scope="session")
def app():  # type: ignore[no-untyped-def]
    """The whole API, built once: it keeps no state of its own between requests (the data lives in the embedded
    AWS), and building its OpenAPI document takes about a second."""
    from agentctx.api.full import full_app

    return full_app()


@pytest.fixture
def http(aws: None, app):  # type: ignore[no-untyped-def]
    from fastapi.testclient import TestClient

    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def new_caller(http) -> Caller:  # type: ignore[no-untyped-def]
    created = http.post("/v1/admin/tenants", json={"name": "acme"}, headers={"X-Admin-Key": ADMIN_KEY})
    tenant_id = created.json()["data"]["id"]
    issued = http.post(f"/v1/admin/tenants/{tenant_id}/keys", headers={"X-Admin-Key": ADMIN_KEY})
    return Caller(http=http, tenant_id=tenant_id, key=issued.json()["data"]["key"])


@pytest.fixture
def api(http) -> Caller:  # type: ignore[no-untyped-def]
    return new_caller(http)


@pytest.fixture
def other_api(http) -> Caller:  # type: ignore[no-untyped-def]
    return new_caller(http)


OFFLINE_MODEL = {
    "name": "Offline demo model",
    "provider": "offline",
    "provider_model_id": "offline-1",
    "context_window": 200_000,
    "max_output_tokens": 4_096,
}


@pytest.fixture
def code_assistant(api) -> dict:  # type: ignore[no-untyped-def]
    """The seed's `code-assistant` agent on the offline model, with current_time and web_fetch."""
    model = api.post("/v1/models", json=OFFLINE_MODEL).json()
    agent = api.post(
        "/v1/agents",
        json={
            "name": "Code assistant",
            "slug": "code-assistant",
            "system_prompt": "You are a careful coding assistant.",
            "default_model_id": model["id"],
            "capabilities": [{"ref": "current_time"}, {"ref": "web_fetch", "config": {"timeout_ms": 2000}}],
        },
    ).json()
    return {"model": model, "agent": agent}
