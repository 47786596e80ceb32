"""An SSE stream sends a heartbeat comment whenever its frames are quiet, nothing is lost, and a stream no one reads
any more stops producing (unless it must drain, as an invocation saving its answer does); a followed log gives
heartbeats while quiet and ends when its time is up or its recheck fails."""

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Iterator

import pytest

from agentctx.api.streaming import HEARTBEAT, followed, in_background


def slow_frames() -> Iterator[str]:
    yield "event: start\n\n"
    time.sleep(0.35)  # a model thinking
    yield "event: complete\n\n"


def read_all(stream: AsyncIterator[str]) -> list[str]:
    async def collect() -> list[str]:
        return [frame async for frame in stream]

    return asyncio.run(collect())


@pytest.mark.serial  # heartbeats every 0.1 s within 0.35 s of wall clock
def test_a_quiet_stream_gets_heartbeats_between_its_frames():
    frames = read_all(in_background(slow_frames(), heartbeat_seconds=0.1))

    assert frames[0] == "event: start\n\n" and frames[-1] == "event: complete\n\n"
    assert set(frames[1:-1]) == {HEARTBEAT} and len(frames[1:-1]) >= 2


def test_a_busy_stream_gets_none():
    assert read_all(in_background(iter(["a", "b", "c"]), heartbeat_seconds=5)) == ["a", "b", "c"]


def test_an_error_while_producing_reaches_the_response():
    def failing() -> Iterator[str]:
        yield "event: start\n\n"
        raise RuntimeError("provider failed")

    with pytest.raises(RuntimeError, match="provider failed"):
        read_all(in_background(failing()))


@pytest.mark.parametrize("drain", [False, True])
def test_a_stream_left_unread_stops_producing_unless_it_drains(drain):
    produced, ended = [], threading.Event()
    more = threading.Semaphore(0)

    def frames() -> Iterator[str]:
        try:
            for n in range(5):
                more.acquire()
                produced.append(n)
                yield f"frame {n}"
        finally:
            ended.set()

    async def read_one_then_leave() -> str:
        stream = in_background(frames(), drain=drain)
        more.release()
        first = await anext(stream)
        await stream.aclose()  # the client left
        for _ in range(4):
            more.release()
        return first

    assert asyncio.run(read_one_then_leave()) == "frame 0"
    assert ended.wait(timeout=10)
    # without draining, at most the frame being made when the reader left
    assert produced == [0, 1, 2, 3, 4] if drain else produced in ([0], [0, 1])


def follow_all(read, recheck=lambda: None, recheck_seconds: float = 10) -> list:  # type: ignore[no-untyped-def]
    async def collect() -> list:
        return [batch async for batch in followed(read, recheck, 0.01, 0.05, 0.3, recheck_seconds)]

    return asyncio.run(collect())


@pytest.mark.serial  # heartbeats every 0.05 s within 0.3 s of wall clock
def test_a_followed_log_gives_its_batches_then_heartbeats_while_quiet_until_its_time_is_up():
    appended = [([1, 2], True), ([3], False)]

    got = follow_all(lambda: appended.pop(0) if appended else ([], False))

    assert got[:2] == [[1, 2], [3]]
    assert set(map(type, got[2:])) == {type(None)} and 2 <= len(got[2:]) <= 6


def test_a_recheck_that_fails_ends_the_followed_log_with_its_error():
    checks = []

    def recheck() -> None:
        checks.append(1)
        if len(checks) == 2:
            raise PermissionError("revoked")

    with pytest.raises(PermissionError, match="revoked"):
        follow_all(lambda: ([], False), recheck, recheck_seconds=0.02)
