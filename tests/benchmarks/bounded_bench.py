"""Requests at 1,000 and 10,000 blocks: DynamoDB calls by API, read and write capacity units, response
bytes, for each request whose work used to grow with the session, and the background jobs that replace that work.

Capacity units are computed from the items on the wire (moto reports none that mean anything): a read is the
items' bytes in 4 KB units (half for an eventually consistent read; a Query rounds its total, GetItem and
BatchGetItem each item), a write the item's bytes in 1 KB units, doubled inside a transaction, plus one unit for
each index entry a written block carries (BlockMeta, BlockType); a purged block (about 1.3 KB here) counts 4.
Other updates and deletes are counted at 1 KB (the session item, filter entries). Run alone with
`python -m tests.benchmarks.bounded_bench` (sizes from BOUNDED_BENCH_SIZES, default 1000,10000,100000).
The background jobs are measured unpaced (their pacing only sleeps): the seconds in their rows are their write units
at the service's pace.
"""

import json
import math
import os
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

DEFAULT_SIZES = [1_000, 10_000, 100_000]
TENANT = "org_" + "c" * 32
BUDGET = 8_000


def item_bytes(item: dict[str, Any]) -> int:
    """DynamoDB's item size: attribute names plus values (strings and numbers by their text)."""

    def value_bytes(value: dict[str, Any]) -> int:
        ((kind, data),) = value.items()
        if kind in ("S", "N"):
            return len(str(data).encode())
        if kind == "BOOL" or kind == "NULL":
            return 1
        if kind in ("SS", "NS"):
            return sum(len(str(member).encode()) for member in data)
        if kind == "L":
            return 3 + sum(value_bytes(member) + 1 for member in data)
        if kind == "M":
            return 3 + sum(len(key) + value_bytes(member) + 1 for key, member in data.items())
        return len(json.dumps(data))

    return sum(len(name.encode()) + value_bytes(value) for name, value in item.items())


def _index_units(item: dict[str, Any]) -> int:
    return int("bsk" in item) + int("bsk" in item and "tpk" in item)


class CapacityMeter:
    """DynamoDB calls by API and the capacity they consume, from botocore's before-call and after-call hooks."""

    def __init__(self) -> None:
        from agentctx.store.dynamo import dynamodb_client

        self.calls: Counter[str] = Counter()
        self._consistent = True
        self.read_units = 0.0
        self.write_units = 0.0
        events = dynamodb_client().meta.events
        events.register("before-parameter-build.dynamodb", self._before)
        events.register("after-call.dynamodb", self._after)

    def _before(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        self.calls[model.name] += 1
        self._consistent = bool(params.get("ConsistentRead"))
        if model.name == "TransactWriteItems":
            for action in params["TransactItems"]:
                ((kind, body),) = action.items()
                item = body.get("Item")
                units = math.ceil(item_bytes(item) / 1024) + _index_units(item) if item else 1
                self.write_units += 2 * units if kind != "ConditionCheck" else 1
        elif model.name == "BatchWriteItem":
            for requests in params["RequestItems"].values():
                for request in requests:
                    item = request.get("PutRequest", {}).get("Item")
                    if item:
                        self.write_units += math.ceil(item_bytes(item) / 1024) + _index_units(item)
                    else:  # a delete: a block (about 1 KB here) leaves both indexes too
                        key = request["DeleteRequest"]["Key"]
                        self.write_units += 4 if key["sk"]["S"].startswith("B#") else 1
        elif model.name in ("PutItem",):
            self.write_units += math.ceil(item_bytes(params["Item"]) / 1024) + _index_units(params["Item"])
        elif model.name in ("UpdateItem", "DeleteItem"):
            self.write_units += 1

    def _after(self, model: Any, parsed: dict[str, Any], **_: Any) -> None:
        if model.name == "Query":
            total = sum(item_bytes(item) for item in parsed.get("Items", []))
            self.read_units += max(1, math.ceil(total / 4096)) * (1 if self._consistent else 0.5)
        elif model.name == "GetItem" and "Item" in parsed:
            self.read_units += math.ceil(item_bytes(parsed["Item"]) / 4096)
        elif model.name == "BatchGetItem":
            for items in parsed.get("Responses", {}).values():
                self.read_units += sum(math.ceil(item_bytes(item) / 4096) for item in items)

    @contextmanager
    def measure(self) -> Iterator[dict[str, Any]]:
        self.calls.clear()
        self.read_units = self.write_units = 0.0
        result: dict[str, Any] = {}
        start = time.perf_counter()
        yield result
        result["ms"] = (time.perf_counter() - start) * 1000
        result["calls"] = sum(self.calls.values())
        result["detail"] = ", ".join(f"{name} {count}" for name, count in sorted(self.calls.items()))
        result["rcu"], result["wcu"] = self.read_units, self.write_units


def seed(blocks: int) -> Any:
    """A session of `blocks` notes of ~200 tokens (~1 KB), written through the store in batches: tag `t{i % 10}`
    on each (a fork by `t3` keeps ~10 %), and every 1,000th pinned, a summary, and tagged `rare`."""
    from agentctx import ids
    from agentctx.domain import Block, BlockType, Session, utc_now
    from agentctx.wiring import context_store

    now = utc_now()
    session = Session(tenant_id=TENANT, hex=ids.new_hex(), name=f"{blocks} blocks", created_at=now, updated_at=now)
    batch: list[Block] = []
    for i in range(blocks):
        rare = i % 1_000 == 500
        batch.append(
            Block(
                session_hex=session.hex,
                order_key=ids.new_order_key(),
                type=BlockType.SUMMARY if i % 1_000 == 250 else BlockType.NOTE,
                content=f"note {i}: " + "the auth service validates the token and logs the session " * 16,
                token_count=150 + i % 150,
                tags=[f"t{i % 10}"] + (["rare"] if rare else []),
                pinned=i % 1_000 == 750,
                importance=0.5,
                created_at=now,
            )
        )
    session.block_count = blocks
    session.total_tokens = sum(block.token_count for block in batch)
    # A window this session fits, so an append measures the append and not the automatic compaction it queues.
    session.max_tokens = session.auto_headroom = 10 * session.total_tokens
    session.pinned_count = sum(block.pinned for block in batch)
    session.summary_count = sum(block.type is BlockType.SUMMARY for block in batch)
    context_store().sessions.create(session, batch)
    return session


def _response_bytes(payload: Any) -> int:
    return len(json.dumps(payload, default=str).encode()) if payload is not None else 0


def requests_at(size: int, meter: CapacityMeter, row: Callable[..., None]) -> None:
    from agentctx.api.views import block_out, session_meta, session_out
    from agentctx.domain import BlockType
    from agentctx.schemas.blocks import BlockIn
    from agentctx.schemas.sessions import SessionFork
    from agentctx.services.context import ContextAssembler, Selection
    from agentctx.store.purge import PurgeOutcome
    from agentctx.wiring import block_service, context_store, quota_guard, session_service, tenant_service

    started = time.perf_counter()
    session = seed(size)
    print(f"seeded {size:,} blocks in {time.perf_counter() - started:,.0f} s", file=sys.stderr)
    sessions, blocks = session_service(), block_service()
    guard = quota_guard()
    tenant_service().create_tenant("bench", TENANT)
    tenant_service().set_quotas(TENANT, {"tokensPerMonth": 10**9, "storedTokens": 10**12})
    guard.quotas(TENANT)  # the quotas themselves are cached 30 s per container; the usage is read every time

    def quota_check() -> None:
        guard.check_tokens(TENANT)
        guard.check_storage(TENANT)

    def view(result: Any) -> Any:
        return {"data": session_out(result).model_dump(by_alias=True), "meta": session_meta(result, "r").model_dump()}

    def listing(block_type: BlockType | None = None, tag: str | None = None, pinned: bool | None = None) -> Any:
        page, _ = blocks.list_page(
            TENANT,
            session.id,
            limit=50,
            cursor=None,
            include_content=False,
            block_type=block_type,
            tag=tag,
            pinned=pinned,
        )
        return [block_out(block, False).model_dump(by_alias=True) for block in page]

    def assemble() -> Any:
        loaded = sessions.load(TENANT, session.id)
        context = ContextAssembler(context_store(), 500).assemble(
            loaded, Selection(include_by_tag=["rare", "t3"]), BUDGET
        )
        return [block_out(block).model_dump(by_alias=True) for block in context.blocks]

    note = BlockIn(type="note", content="one more note about the auth flow", tags=["t1"])
    measured: list[tuple[str, Callable[[], Any]]] = [
        ("get session", lambda: view(sessions.get(TENANT, session.id))),
        ("list ?pinned=true", lambda: listing(pinned=True)),
        ("list ?tag=rare", lambda: listing(tag="rare")),
        ("list ?type=summary", lambda: listing(block_type=BlockType.SUMMARY)),
        (f"assembly {BUDGET:,} tokens, includeByTag rare+t3", assemble),
        ("append one block", lambda: [block.id for block in blocks.append(TENANT, session.id, [note])]),
        ("quota check (monthly tokens and stored tokens)", quota_check),
    ]
    for name, run in measured:
        with meter.measure() as result:
            payload = run()
        row(name, size, result, _response_bytes(payload))

    with meter.measure() as result:
        fork = sessions.fork(TENANT, session.id, SessionFork(name="f", include_by_tag=["t3"]))
    row("fork keeping ~10 % (tag t3)", size, result, _response_bytes(view(fork)))
    pace = sessions.purge_write_units
    sessions.purge_write_units = 10**9  # the pacing only sleeps: measured without it, its time computed below
    try:
        with meter.measure() as result:
            assert sessions.copy(TENANT, fork.session.hex, 3_600)
        row(f"background copy of the fork (at {pace} WCU/s: {result['wcu'] / pace:,.0f} s)", size, result, 0)

        with meter.measure() as result:
            sessions.delete(TENANT, session.id)
        row("delete session", size, result, _response_bytes({"deleted": True}))

        with meter.measure() as result:
            assert sessions.purge(TENANT, session.hex, 3_600) is PurgeOutcome.DONE
        row(f"background purge (at {pace} WCU/s: {result['wcu'] / pace:,.0f} s)", size, result, 0)
    finally:
        sessions.purge_write_units = pace


def bounded_rows(sizes: list[int] | None = None) -> list[str]:
    from infra.local_aws import local_aws
    from tests.benchmarks.run import BENCH_RESOURCES

    rows = [
        "| request | blocks | DynamoDB calls | calls by API | RCU | WCU | response bytes | wall ms (moto) |",
        "|---|---|---|---|---|---|---|---|",
    ]

    def row(name: str, size: int, result: dict[str, Any], response: int) -> None:
        rows.append(
            f"| {name} | {size:,} | {result['calls']} | {result['detail']} | {result['rcu']:,.1f} | "
            f"{result['wcu']:,.0f} | {response:,} | {result['ms']:,.0f} |"
        )

    for size in sizes or DEFAULT_SIZES:
        with local_aws(BENCH_RESOURCES):
            requests_at(size, CapacityMeter(), row)
    return rows


def main() -> None:
    from tests.benchmarks.run import ROOT, bench_environment

    sys.path[:0] = [str(ROOT), str(ROOT / "shared")]
    bench_environment()
    sizes = [int(size) for size in os.environ.get("BOUNDED_BENCH_SIZES", "").split(",") if size] or DEFAULT_SIZES
    print("\n".join(bounded_rows(sizes)))


if __name__ == "__main__":
    main()
