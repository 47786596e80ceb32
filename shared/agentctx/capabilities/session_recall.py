"""`session_recall`: the agent searches its own session, compacted originals included, and reads back what a
summary replaced. Compaction keeps every original; this is how a model gets a summarised fact back.

Only the session the call belongs to is searched or read: a block id of another session is refused, whatever the
agent sends."""

from typing import Any

from pydantic import Field

from agentctx.capabilities.base import Capability, CapabilityConfig, SessionRecall, ToolResult, ToolScope, ToolSpec
from agentctx.domain import BlockType

MAX_READ_IDS = 25


class SessionRecallConfig(CapabilityConfig):
    max_results: int = Field(default=8, ge=1, le=20)
    # What one read returns at most: a block's text is cut to fit.
    max_read_tokens: int = Field(default=4_000, ge=100, le=20_000)


def _schema(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": required, "additionalProperties": False}


class SessionRecallCapability(Capability):
    ref = "session_recall"
    name = "Session recall"
    description = (
        "Search this session's whole history, including what compaction summarised, and read the originals back."
    )
    category = "memory"
    features = ["recall"]
    config_model = SessionRecallConfig

    def tools(self) -> list[ToolSpec]:
        return [
            ToolSpec(
                "search_session",
                "Search everything this session ever held (summarised originals included) by words, identifiers, "
                "error strings or meaning. Answers block ids, scores and snippets, best first.",
                _schema(
                    {
                        "query": {"type": "string", "minLength": 1, "maxLength": 2000},
                        "limit": {"type": "integer", "minimum": 1, "maximum": 20},
                        "types": {"type": "array", "items": {"enum": [t.value for t in BlockType]}},
                    },
                    ["query"],
                ),
            ),
            ToolSpec(
                "read_blocks",
                "Read blocks of this session whole, by id (from search_session, or a summary's `covers`).",
                _schema(
                    {
                        "blockIds": {
                            "type": "array",
                            "items": {"type": "string"},
                            "minItems": 1,
                            "maxItems": MAX_READ_IDS,
                        }
                    },
                    ["blockIds"],
                ),
            ),
            ToolSpec(
                "read_summarised",
                "Read the original blocks a summary replaced, in order.",
                _schema({"summaryId": {"type": "string"}}, ["summaryId"]),
            ),
        ]

    def run(
        self, tool: str, tool_input: dict[str, Any], config: dict[str, Any], scope: ToolScope | None = None
    ) -> ToolResult:
        recall = scope.recall if scope else None
        if recall is None:
            return ToolResult({"error": "session recall needs a session"}, is_error=True)
        settings = SessionRecallConfig.model_validate(config)
        try:
            return self._run(tool, tool_input, settings, recall)
        except ValueError as error:
            return ToolResult({"error": str(error)}, is_error=True)

    @staticmethod
    def _run(tool: str, tool_input: dict[str, Any], config: SessionRecallConfig, recall: SessionRecall) -> ToolResult:
        if tool == "search_session":
            query = tool_input.get("query")
            if not isinstance(query, str) or not query.strip():
                raise ValueError("query must be a non-empty string")
            limit = min(int(tool_input.get("limit") or config.max_results), config.max_results)
            types = tool_input.get("types") or None
            return ToolResult({"results": recall.search(query, limit, types)})
        if tool == "read_blocks":
            block_ids = tool_input.get("blockIds")
            if not isinstance(block_ids, list) or not block_ids or not all(isinstance(i, str) for i in block_ids):
                raise ValueError("blockIds must be a non-empty list of block ids")
            return ToolResult({"blocks": recall.read(block_ids[:MAX_READ_IDS], config.max_read_tokens)})
        if tool == "read_summarised":
            summary_id = tool_input.get("summaryId")
            if not isinstance(summary_id, str):
                raise ValueError("summaryId must be a block id")
            covered = recall.covered(summary_id)
            return ToolResult({"summaryId": summary_id, "blocks": recall.read(covered, config.max_read_tokens)})
        return ToolResult({"error": f"unknown tool {tool}"}, is_error=True)
