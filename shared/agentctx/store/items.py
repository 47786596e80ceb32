"""Item mapping: sessions, blocks, filter entries, files and job records as DynamoDB items, and back.

- A session item holds its metrics, its runtime configuration and turn state (a runtime session), and while it is
  a fork still being copied, its copy state and the compaction lock the copy holds (compaction waits for it).
- A block item holds `bsk` and `tpk` (its index keys) only while it is active, so a compacted block leaves both
  indexes; its filter entries (see keys) are keys alone.
"""

import json
import time
from dataclasses import asdict
from typing import Any

from agentctx.domain import (
    Block,
    BlockType,
    CapabilityRef,
    ForkCopy,
    ForkFilter,
    RuntimeConfig,
    Session,
    SessionStatus,
    TurnState,
)
from agentctx.store.dynamo import dump_json, from_item, load_json, to_item
from agentctx.store.keys import (
    BLOCK_SK_PREFIX,
    FILE_SK_PREFIX,
    INVOCATION_SK_PREFIX,
    JOB_SK_PREFIX,
    MESSAGE_SK_PREFIX,
    PINNED_ENTRY_SK_PREFIX,
    SESSION_SK,
    SUMMARY_ENTRY_SK_PREFIX,
    block_sk,
    block_type_pk,
    session_pk,
    tag_entry_sk_prefix,
)

# The compaction lock a fork holds while its blocks are copied (compaction waits for the copy).
COPY_LOCK = "copy"
COPY_LOCK_SECONDS = 3_600
# The block attributes a listing without content reads (everything the BlockMeta index projects).
META_PROJECTION = (
    "pk, sk, #type, tokenCount, tags, pinned, importance, compactionLevel, compacted, compactedBy, summaryOf, createdAt"
)


def expiry(retention_days: int) -> dict[str, int]:
    """The TTL attribute (`expiresAt`) of a record that ages out after `retention_days`; nothing when 0 keeps it."""
    if not retention_days:
        return {}
    return {"expiresAt": int(time.time()) + retention_days * 86_400}


def session_item(session: Session) -> dict[str, Any]:
    return to_item(
        {
            "pk": session_pk(session.tenant_id, session.hex),
            "sk": SESSION_SK,
            "name": session.name,
            "defaultAgent": session.default_agent,
            "tags": session.tags,
            "maxTokens": session.max_tokens,
            "autoHeadroom": session.auto_headroom,
            "totalTokens": session.total_tokens,
            "blockCount": session.block_count,
            "compactionCount": session.compaction_count,
            "invocationCount": session.invocation_count,
            "pinnedCount": session.pinned_count,
            "summaryCount": session.summary_count,
            "forkedFrom": session.forked_from,
            **_copy_attributes(session),
            "createdAt": session.created_at,
            "updatedAt": session.updated_at,
            **_runtime_attributes(session),
        }
    )


def session_from(tenant_id: str, item: dict[str, Any]) -> Session:
    values = from_item(item)
    return Session(
        tenant_id=tenant_id,
        hex=values["pk"].rsplit("#", 1)[1],
        name=values["name"],
        default_agent=values.get("defaultAgent"),
        tags=values.get("tags", []),
        max_tokens=values.get("maxTokens", 200_000),
        auto_headroom=values.get("autoHeadroom", 0),
        auto_compaction_pending="autoCompactionJob" in values,
        total_tokens=values.get("totalTokens", 0),
        block_count=values.get("blockCount", 0),
        compaction_count=values.get("compactionCount", 0),
        invocation_count=values.get("invocationCount", 0),
        pinned_count=values.get("pinnedCount", 0),
        summary_count=values.get("summaryCount", 0),
        forked_from=values.get("forkedFrom"),
        copy=_copy_from(values),
        created_at=values["createdAt"],
        updated_at=values["updatedAt"],
        runtime=_runtime_from(values),
        turns=_turns_from(values),
    )


def _runtime_attributes(session: Session) -> dict[str, Any]:
    runtime, turns = session.runtime, session.turns
    attributes: dict[str, Any] = {"status": turns.status.value, "eventSeq": turns.event_seq}
    if runtime is not None:
        attributes |= {
            "agentId": runtime.agent_id,
            "modelId": runtime.model_id,
            "capabilities": dump_json([{"ref": cap.ref, "config": cap.config} for cap in runtime.capabilities]),
            "locale": runtime.locale,
            "forkedFrom": runtime.forked_from,
        }
    return attributes | {
        "turnsQueued": turns.queued,
        "turnsDone": turns.done,
        "cancelledThrough": turns.cancelled_through,
        "preview": turns.preview,
        "outputPreview": turns.output_preview,
        "inputTokensUsed": turns.input_tokens,
        "outputTokensUsed": turns.output_tokens,
        "cacheReadTokensUsed": turns.cache_read_tokens,
        "cacheWriteTokensUsed": turns.cache_write_tokens,
        "costMicroUsdUsed": turns.cost_micro_usd,
        "startedAt": turns.started_at,
        "finishedAt": turns.finished_at,
    }


def _runtime_from(values: dict[str, Any]) -> RuntimeConfig | None:
    if "agentId" not in values:
        return None
    capabilities = [CapabilityRef(cap["ref"], cap["config"]) for cap in load_json(values.get("capabilities", "[]"))]
    return RuntimeConfig(
        values["agentId"], values.get("modelId"), capabilities, values.get("locale"), values.get("forkedFrom")
    )


def _turns_from(values: dict[str, Any]) -> TurnState:
    return TurnState(
        status=SessionStatus(values.get("status", SessionStatus.STARTED.value)),
        event_seq=values.get("eventSeq", 0),
        queued=values.get("turnsQueued", 0),
        done=values.get("turnsDone", 0),
        cancelled_through=values.get("cancelledThrough", 0),
        active_turn=values.get("activeTurn"),
        active_seq=values.get("activeTurnSeq", 0),
        attempt=values.get("turnAttempt", 0),
        last_input_key=values.get("lastInputKey", ""),
        preview=values.get("preview"),
        output_preview=values.get("outputPreview"),
        input_tokens=values.get("inputTokensUsed", 0),
        output_tokens=values.get("outputTokensUsed", 0),
        cache_read_tokens=values.get("cacheReadTokensUsed", 0),
        cache_write_tokens=values.get("cacheWriteTokensUsed", 0),
        cost_micro_usd=values.get("costMicroUsdUsed"),
        started_at=values.get("startedAt"),
        finished_at=values.get("finishedAt"),
    )


def _copy_attributes(session: Session) -> dict[str, Any]:
    copy = session.copy
    if copy is None:
        return {}
    return {
        "copySource": copy.source_hex,
        "copyThrough": copy.through,
        "copiedThrough": copy.copied_through,
        "copyFilter": dump_json(asdict(copy.filter)),
        "compactionJob": COPY_LOCK,
        "compactionLockUntil": int(time.time()) + COPY_LOCK_SECONDS,
    }


def _copy_from(values: dict[str, Any]) -> ForkCopy | None:
    if "copySource" not in values:
        return None
    fork_filter = ForkFilter(**json.loads(values["copyFilter"]))
    return ForkCopy(values["copySource"], values["copyThrough"], values.get("copiedThrough", ""), fork_filter)


def block_item(pk: str, block: Block) -> dict[str, Any]:
    sk = block_sk(block.order_key)
    return to_item(
        {
            "pk": pk,
            "sk": sk,
            "bsk": None if block.compacted else sk,
            "tpk": None if block.compacted else block_type_pk(pk, block.type.value),
            "type": block.type.value,
            "content": dump_json(block.content),
            "tokenCount": block.token_count,
            "tags": block.tags,
            "pinned": block.pinned,
            "importance": block.importance,
            "compactionLevel": block.compaction_level,
            "compacted": block.compacted or None,
            "compactedBy": block.compacted_by,
            "summaryOf": dump_json(block.summary_of) if block.summary_of else None,
            "createdAt": block.created_at,
        }
    )


def block_from(item: dict[str, Any]) -> Block:
    values = from_item(item)
    content = values.get("content")
    return Block(
        session_hex=values["pk"].rsplit("#", 1)[1],
        order_key=values["sk"][len(BLOCK_SK_PREFIX) :],
        type=BlockType(values["type"]),
        content=load_json(content) if content is not None else None,
        token_count=values["tokenCount"],
        tags=values.get("tags", []),
        pinned=values.get("pinned", False),
        importance=values.get("importance", 0.5),
        compaction_level=values.get("compactionLevel", 0),
        compacted=values.get("compacted", False),
        compacted_by=values.get("compactedBy"),
        summary_of=json.loads(values["summaryOf"]) if values.get("summaryOf") else None,
        created_at=values["createdAt"],
    )


def entry_prefixes(block: Block) -> list[str]:
    """The filter entries of an active block: one if pinned, one if a summary, one per tag; none once compacted.
    (Other types are found through the `BlockType` index, which costs a write no transaction action.)"""
    if block.compacted:
        return []
    prefixes = [PINNED_ENTRY_SK_PREFIX] if block.pinned else []
    prefixes += [SUMMARY_ENTRY_SK_PREFIX] if block.type is BlockType.SUMMARY else []
    return prefixes + [tag_entry_sk_prefix(tag) for tag in block.tags]


def entry_items(pk: str, block: Block, prefixes: list[str] | None = None) -> list[dict[str, Any]]:
    """The block's filter entries (or those under `prefixes`) as items."""
    prefixes = entry_prefixes(block) if prefixes is None else prefixes
    return [to_item({"pk": pk, "sk": prefix + block.order_key}) for prefix in prefixes]


def file_item(pk: str, path: str, content: str) -> dict[str, Any]:
    """A file as a DynamoDB item of the session's partition `pk`."""
    return to_item({"pk": pk, "sk": FILE_SK_PREFIX + path, "content": content, "bytes": len(content.encode())})


def message_item(pk: str, message: dict[str, Any]) -> dict[str, Any]:
    """An input or output message (JSON text) of the session's partition `pk`, by its order key."""
    return to_item({"pk": pk, "sk": MESSAGE_SK_PREFIX + message["order_key"], "record": dump_json(message)})


def invocation_item(pk: str, invocation: dict[str, Any]) -> dict[str, Any]:
    """An invocation's record (JSON text) in the session's partition `pk`, by its order key."""
    return to_item({"pk": pk, "sk": INVOCATION_SK_PREFIX + invocation["orderKey"], "record": dump_json(invocation)})


def job_item(tenant_id: str, session_hex: str, job: dict[str, Any], retention_days: int) -> dict[str, Any]:
    """A compaction job's record (JSON text), which ages out with the other records."""
    return to_item(
        {
            "pk": session_pk(tenant_id, session_hex),
            "sk": JOB_SK_PREFIX + job["orderKey"],
            "record": dump_json(job),
            **expiry(retention_days),
        }
    )
