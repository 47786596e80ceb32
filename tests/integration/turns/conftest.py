"""The turn tests' fixtures: the turn function the template names, the turn queue delivered to it until empty, and a
session of the seed's code assistant with its file system."""

import pytest


@pytest.fixture
def turn_handler(aws):  # type: ignore[no-untyped-def]
    from tests.template.conftest import functions, load_handler, sam_template

    return load_handler(functions(sam_template())["TurnFunction"])


@pytest.fixture
def run_turns(aws, turn_handler):  # type: ignore[no-untyped-def]
    """Deliver what the turn queue holds to the turn function, as the event source mapping does, until it is empty."""
    from infra.local_worker import QueueWorker

    worker = QueueWorker(aws["TurnQueue"], turn_handler, batch_size=10)

    def run() -> None:
        while worker.poll(wait_seconds=0):
            pass

    return run


@pytest.fixture
def session(api, code_assistant):  # type: ignore[no-untyped-def]
    body = {
        "agent_id": code_assistant["agent"]["id"],
        "title": "Turns",
        "capabilities": [{"ref": "session_file_system"}],
    }
    return api.post("/v1/sessions", json=body).json()
