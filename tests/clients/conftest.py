"""The service over real HTTP (uvicorn on loopback) with its compaction and turn workers, and a tenant with the
demo agent: what the Python client and the CLI are tested against."""

from dataclasses import dataclass

import pytest

from tests.live import serve


@dataclass
class Service:
    url: str
    key: str
    agent_id: str


@pytest.fixture
def service(aws, api, code_assistant, compaction_worker):  # type: ignore[no-untyped-def]
    from agentctx.api.full import full_app
    from infra.local_worker import QueueWorker
    from tests.template.conftest import functions, load_handler, sam_template

    turns = QueueWorker(aws["TurnQueue"], load_handler(functions(sam_template())["TurnFunction"])).start()
    try:
        with serve(full_app()) as url:
            yield Service(url=url, key=api.key, agent_id=code_assistant["agent"]["id"])
    finally:
        turns.stop()
