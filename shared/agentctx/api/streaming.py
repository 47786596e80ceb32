"""Server-Sent Events bodies whose frames come from blocking code (a model call, a poll of the event log).

That code runs on a daemon thread of its own and hands each frame to the event loop, which is the only side that
waits. So a stream ends as soon as its client leaves or the server cancels it on stopping, instead of when the
blocking code next yields (up to a heartbeat later: a thread of starlette's pool cannot be cancelled), and a stopping
process does not wait for that thread.
"""

import asyncio
import contextvars
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

HEARTBEAT = ": heartbeat\n\n"


async def in_background(
    frames: Iterator[str], heartbeat_seconds: float | None = None, drain: bool = False
) -> AsyncIterator[str]:
    """The frames as they come, and a heartbeat comment whenever none came for `heartbeat_seconds` (None: never).

    - An error raised while producing is raised here, to the response.
    - Once no one reads (the client left, the server stopped), the frames stop at the next one, unless `drain`:
      then they are produced to the end, unread (an invocation finishes and saves its answer).
    """
    loop = asyncio.get_running_loop()
    handed: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
    read = threading.Event()
    read.set()

    def hand(kind: str, value: Any) -> None:
        if read.is_set():
            try:
                loop.call_soon_threadsafe(handed.put_nowait, (kind, value))
            except RuntimeError:  # the event loop has closed: the server is gone
                read.clear()

    def produce() -> None:
        try:
            for frame in frames:
                hand("frame", frame)
                if not read.is_set() and not drain:
                    break
        except BaseException as error:  # handed to the response, which reports it
            hand("error", error)
        else:
            hand("end", None)
        finally:
            close = getattr(frames, "close", None)
            if close is not None:
                close()

    threading.Thread(target=contextvars.copy_context().run, args=(produce,), daemon=True).start()
    try:
        while True:
            try:
                kind, value = await asyncio.wait_for(handed.get(), heartbeat_seconds)
            except TimeoutError:
                yield HEARTBEAT
                continue
            if kind == "end":
                return
            if kind == "error":
                raise value
            yield value
    finally:
        read.clear()
