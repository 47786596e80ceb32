"""The official Everruns SDK (`everruns-sdk`, unmodified) against our `/v1`, over real HTTP: the app under uvicorn on
loopback, the turn queue's consumer running the turn function, moto behind both, one of each for this folder's tests.
Every SDK call that maps to a feature we claim is driven in this folder and its result checked; docs/agent-sessions.md
lists them with their routes."""

import warnings
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from everruns_sdk import Everruns

from tests.conftest import embedded_aws
from tests.live import serve_with_consumers

warnings.filterwarnings("ignore", category=DeprecationWarning, module="everruns_sdk")


@dataclass
class Stack:
    base_url: str
    key: str
    tenant_id: str

    def client(self) -> Everruns:
        return Everruns(api_key=self.key, base_url=self.base_url)

    def http(self) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, headers={"Authorization": self.key}, timeout=10)


@pytest.fixture(scope="package")
def aws() -> Iterator[dict[str, str]]:
    """One embedded AWS behind one server for this folder's tests; each test has a tenant of its own."""
    yield from embedded_aws()


@pytest.fixture(scope="package")
def served(aws, app) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """The API on a loopback port and the turn function consuming the turn queue, as `make serve` runs them."""
    with serve_with_consumers(app, aws, {"TurnQueue": "TurnFunction"}) as url:
        yield url


@pytest.fixture
def stack(served: str) -> Stack:
    from agentctx.wiring import tenant_service

    tenant = tenant_service().create_tenant("everruns-sdk")
    _, key = tenant_service().issue_key(tenant.id)
    return Stack(served, key, tenant.id)
