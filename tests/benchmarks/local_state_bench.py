"""`make serve`'s saved state: how long a snapshot holds writes (its copy of the tables, under the locks) and how long
writing its file takes (outside them), its size, how long a restore takes, and the server's start until it answers,
by the number of blocks kept; and how long a snapshot holds writes at 100 MB of small items.

Run: .venv/bin/python -m tests.benchmarks.local_state_bench
"""

import signal
import tempfile
import threading
import time
from pathlib import Path

SIZES = [1_000, 10_000]


def snapshot_rows() -> list[str]:
    from infra.local_aws import local_aws
    from infra.local_server import LOCAL_RESOURCES, TABLES
    from infra.local_state import STATE_FILE, capture, restore, write_atomically
    from tests.benchmarks.run import _seed_session
    from tests.local.server import LocalServer, free_port

    rows = [
        "| blocks kept | writes held ms (copy) | file write ms (fsync'd) | file MB | restore ms "
        "| server start to answer ms |",
        "|---|---|---|---|---|---|",
    ]
    tables = {logical_id: LOCAL_RESOURCES[logical_id] for logical_id in TABLES}
    for size in [0, *SIZES]:
        folder = Path(tempfile.mkdtemp(prefix="agentctx-state-"))
        with local_aws(LOCAL_RESOURCES) as queues:
            from agentctx.wiring import tenant_service

            tenant = tenant_service().create_tenant("bench")
            if size:
                _seed_session(tenant.id, size)
            started = time.perf_counter()
            state = capture(tables, queues, {})
            copied = time.perf_counter()
            write_atomically(folder / STATE_FILE, state)
            copy_ms, write_ms = (copied - started) * 1000, (time.perf_counter() - copied) * 1000
        with local_aws(LOCAL_RESOURCES) as queues:
            started = time.perf_counter()
            restore(state, tables, queues)
            restore_ms = (time.perf_counter() - started) * 1000
        # the server restores the same file (with no local tenant saved it adds its own)
        server = LocalServer(folder, free_port(), folder / "server.log")
        started = time.perf_counter()
        server.wait_ready(timeout=300)
        ready_ms = (time.perf_counter() - started) * 1000
        server.stop(signal.SIGTERM)
        megabytes = (folder / STATE_FILE).stat().st_size / 1e6
        rows.append(
            f"| {size:,} | {copy_ms:.0f} | {write_ms:.0f} | {megabytes:.1f} | {restore_ms:.0f} | {ready_ms:.0f} |"
        )
    return rows


def writes_held_at_100_mb() -> str:
    """How long a snapshot holds writes with 100,000 items of 1 KB (written straight into moto: seeding that many
    blocks takes minutes): a thread takes the writers' locks again and again meanwhile, and its longest wait is the
    pause a write would see."""
    from infra.local_aws import local_aws, writes_paused
    from infra.local_journal import Journal
    from infra.local_server import LOCAL_RESOURCES, TABLES
    from infra.local_state import STATE_FILE, Snapshotter, restore

    tables = {logical_id: LOCAL_RESOURCES[logical_id] for logical_id in TABLES}
    items = [
        {"pk": {"S": f"BALLAST#{i // 100}"}, "sk": {"S": f"{i:08d}"}, "data": {"S": "s" * 1000}} for i in range(100_000)
    ]
    folder = Path(tempfile.mkdtemp(prefix="agentctx-state-"))
    waits: list[float] = []
    snapshot_done = threading.Event()

    def write_meanwhile() -> None:
        while not snapshot_done.is_set():
            started = time.perf_counter()
            with writes_paused():
                waits.append((time.perf_counter() - started) * 1000)
            time.sleep(0.001)

    with local_aws(LOCAL_RESOURCES) as queues:
        restore({"tables": {"ContextTable": items}, "queues": {}}, tables, queues)
        journal = Journal(folder, 0)
        journal.append({"url": "-", "headers": {}, "body": ""})
        snapshotter = Snapshotter(folder, tables, queues, {}, journal, list)
        writer = threading.Thread(target=write_meanwhile)
        writer.start()
        started = time.perf_counter()
        snapshotter.poll(force=True)
        snapshot_ms = (time.perf_counter() - started) * 1000
        snapshot_done.set()
        writer.join()
        journal.close()
    return (
        f"100,000 items of 1 KB ({(folder / STATE_FILE).stat().st_size / 1e6:.0f} MB file): snapshot {snapshot_ms:.0f} "
        f"ms, longest wait of a write meanwhile {max(waits):.0f} ms"
    )


if __name__ == "__main__":
    import os

    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "local")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "local")
    print("\n".join(snapshot_rows()))
    print(writes_held_at_100_mb())
