"""The service over real HTTP (uvicorn on loopback) with its compaction and turn workers, and a tenant with the
demo agent: what the Python client and the CLI are tested against. One embedded AWS and one server serve a module's
tests; each test has a tenant of its own, so none sees another's sessions."""

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.conftest import embedded_aws
from tests.live import serve_with_consumers


@dataclass
class Service:
    url: str
    key: str
    agent_id: str


@pytest.fixture(scope="module")
def aws() -> Iterator[dict[str, str]]:
    yield from embedded_aws()


@pytest.fixture(scope="module")
def served(aws, app) -> Iterator[str]:  # type: ignore[no-untyped-def]
    consumers = {"CompactionQueue": "CompactionFunction", "TurnQueue": "TurnFunction"}
    with serve_with_consumers(app, aws, consumers) as url:
        yield url


@pytest.fixture
def service(served, api, code_assistant) -> Service:  # type: ignore[no-untyped-def]
    return Service(url=served, key=api.key, agent_id=code_assistant["agent"]["id"])
