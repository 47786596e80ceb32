"""Server-Sent Events bodies: a followed log (`followed`), or frames from long blocking code (`in_background`).

Neither takes a thread of the request threadpool (anyio's 40, which every sync route and dependency shares), and
only the event loop waits, so a stream ends as soon as its client leaves or the server cancels it on stopping.
- A followed log waits between its reads on the event loop and reads on the streams' own few threads: an open,
  quiet stream holds no thread at all, so any number of them leave the requests their threads.
- A model call runs on a daemon thread of its own for as long as it takes, and hands each frame to the event loop;
  a stopping process does not wait for that thread.
"""

import asyncio
import contextvars
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

HEARTBEAT = ": heartbeat\n\n"
T = TypeVar("T")

# The streams' threads for their short blocking calls (a read of the event log, a key's re-check), apart from the
# request threadpool. A read takes milliseconds: 45 streams reading every 0.25 s keep about one of them busy.
_STREAM_THREADS = ThreadPoolExecutor(max_workers=4, thread_name_prefix="stream")


async def off_loop(call: Callable[[], T]) -> T:
    """`call` on the streams' threads, in the caller's context (the request's metering counts its reads)."""
    return await asyncio.get_running_loop().run_in_executor(_STREAM_THREADS, contextvars.copy_context().run, call)


async def followed(
    read: Callable[[], tuple[list[T], bool]],
    recheck: Callable[[], object],
    poll_seconds: float,
    heartbeat_seconds: float,
    max_seconds: float,
    recheck_seconds: float,
) -> AsyncIterator[list[T] | None]:
    """Each non-empty batch `read` gives (with whether more is waiting), None where a heartbeat is due, for
    `max_seconds`.

    - After a read that left nothing waiting it waits `poll_seconds` on the event loop, never on a thread.
    - `recheck` runs every `recheck_seconds`; what it raises (a revoked key's Unauthorized) ends the stream with
      that error.
    """
    loop = asyncio.get_running_loop()
    started = last_sent = checked = loop.time()
    while (now := loop.time()) - started < max_seconds:
        if now - checked >= recheck_seconds:
            await off_loop(recheck)
            checked = now
        batch, more = await off_loop(read)
        if batch:
            yield batch
            last_sent = loop.time()
        elif loop.time() - last_sent >= heartbeat_seconds:
            yield None
            last_sent = loop.time()
        if not more:
            await asyncio.sleep(poll_seconds)


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
