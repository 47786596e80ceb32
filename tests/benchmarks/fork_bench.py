"""A fork by tag whose kept blocks are sparse (about 11 of the source's): the context-table calls and wall time of
the fork request (the service call it makes), and what the fork's first page of 100 blocks holds right after,
before any copy job has run. `python -m tests.benchmarks.fork_bench`; also a table of `make bench`."""

import time

SOURCE_SIZES = [30, 3_000]
KEPT = 11


def _seed(tenant: str, size: int) -> str:
    """A source of `size` notes, every (size // KEPT)-th tagged `rare`, written through the store in batches."""
    from agentctx import ids
    from agentctx.domain import Block, BlockType, Session, utc_now
    from agentctx.wiring import context_store

    now, every = utc_now(), max(1, size // KEPT)
    session = Session(tenant_id=tenant, hex=ids.new_hex(), name=f"{size} blocks", created_at=now, updated_at=now)
    blocks = [
        Block(
            session_hex=session.hex,
            order_key=ids.new_order_key(),
            type=BlockType.NOTE,
            content=f"block {i}",
            token_count=10,
            tags=["rare"] if i % every == 0 else ["common"],
            pinned=False,
            importance=0.5,
            created_at=now,
        )
        for i in range(size)
    ]
    session.block_count, session.total_tokens = size, 10 * size
    context_store().sessions.create(session, blocks)
    return session.id


def fork_rows() -> list[str]:
    from agentctx.schemas.sessions import SessionFork
    from agentctx.wiring import block_service, session_service
    from infra.local_aws import local_aws
    from tests.benchmarks.run import BENCH_RESOURCES
    from tests.dynamo_calls import CallCounter

    rows = [
        "| source blocks | kept | fork request: calls by API | wall ms | first page of 100 |",
        "|---|---|---|---|---|",
    ]
    tenant = "org_" + "f" * 32
    for size in SOURCE_SIZES:
        with local_aws(BENCH_RESOURCES):
            source = _seed(tenant, size)
            fork_request = SessionFork(name="fork", include_by_tag=["rare"])
            with CallCounter(BENCH_RESOURCES["ContextTable"]).measure() as measured:
                started = time.perf_counter()
                fork = session_service().fork(tenant, source, fork_request)
                wall_ms = (time.perf_counter() - started) * 1000
            kept = sum(1 for i in range(size) if i % max(1, size // KEPT) == 0)
            page, cursor = block_service().list_page(
                tenant,
                fork.session.id,
                limit=100,
                cursor=None,
                include_content=False,
                block_type=None,
                tag=None,
                pinned=None,
            )
            held = f"{len(page)} of {kept}" + (", with a cursor" if cursor else "")
            rows.append(f"| {size:,} | {kept} | {measured['detail']} | {wall_ms:.0f} | {held} |")
    return rows


if __name__ == "__main__":
    from tests.benchmarks.run import bench_environment

    bench_environment()
    print("\n".join(fork_rows()))
