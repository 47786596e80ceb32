"""`make serve`'s saved state: how long a snapshot takes (DynamoDB paused meanwhile), its size, how long a restore
takes, and the server's start until it answers, by the number of blocks kept.

Run: .venv/bin/python -m tests.benchmarks.local_state_bench
"""

import signal
import tempfile
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
        "| blocks kept | snapshot ms (capture + fsync'd write) | file MB | restore ms | server start to answer ms |",
        "|---|---|---|---|---|",
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
            write_atomically(folder / STATE_FILE, state)
            snapshot_ms = (time.perf_counter() - started) * 1000
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
        rows.append(f"| {size:,} | {snapshot_ms:.0f} | {megabytes:.1f} | {restore_ms:.0f} | {ready_ms:.0f} |")
    return rows


if __name__ == "__main__":
    import os

    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "local")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "local")
    print("\n".join(snapshot_rows()))
