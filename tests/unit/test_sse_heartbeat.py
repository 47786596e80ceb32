"""An invocation's SSE stream sends a heartbeat comment whenever the model is quiet, and nothing is lost."""

import time
from collections.abc import Iterator

import pytest

from agentctx.api.routers.invoke import with_heartbeats


def slow_frames() -> Iterator[str]:
    yield "event: start\n\n"
    time.sleep(0.35)  # a model thinking
    yield "event: complete\n\n"


@pytest.mark.serial  # heartbeats every 0.1 s within 0.35 s of wall clock
def test_a_quiet_stream_gets_heartbeats_between_its_frames():
    frames = list(with_heartbeats(slow_frames(), seconds=0.1))

    assert frames[0] == "event: start\n\n" and frames[-1] == "event: complete\n\n"
    assert set(frames[1:-1]) == {": heartbeat\n\n"} and len(frames[1:-1]) >= 2


def test_a_busy_stream_gets_none():
    assert list(with_heartbeats(iter(["a", "b", "c"]), seconds=5)) == ["a", "b", "c"]


def test_an_error_while_producing_reaches_the_response():
    def failing() -> Iterator[str]:
        yield "event: start\n\n"
        raise RuntimeError("provider failed")

    stream = with_heartbeats(failing(), seconds=5)
    assert next(stream) == "event: start\n\n"
    with pytest.raises(RuntimeError, match="provider failed"):
        next(stream)
