"""What a capability is: tools with input schemas, a validated config, and how to run each tool."""

from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from pydantic import BaseModel, ConfigDict


@dataclass(frozen=True)
class ToolSpec:
    name: str
    description: str
    input_schema: dict[str, Any]


@dataclass
class ToolResult:
    output: Any
    is_error: bool = False
    # Extra stream events a tool produces, such as ("file_edit", {...}) or ("dev_url", {...}).
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)


class SessionFiles(Protocol):
    """The files kept in one session (the session_file_system capability's storage)."""

    def read(self, path: str) -> str | None: ...

    def write(self, path: str, content: str) -> None: ...

    def list(self, prefix: str) -> list[tuple[str, int]]: ...

    def delete(self, path: str) -> bool: ...


class SessionRecall(Protocol):
    """Search over one session's blocks, compacted originals included, and reading them back (session_recall)."""

    def search(self, query: str, limit: int, types: list[str] | None) -> list[dict[str, Any]]: ...

    def read(self, block_ids: list[str], max_tokens: int) -> list[dict[str, Any]]: ...

    def covered(self, summary_id: str) -> list[str]: ...


@dataclass(frozen=True)
class ToolScope:
    """Where a tool call runs: the session's files and recall when the call belongs to a session, else None."""

    files: SessionFiles | None = None
    recall: SessionRecall | None = None


class CapabilityConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Capability:
    ref: ClassVar[str]
    name: ClassVar[str]
    description: ClassVar[str]
    features: ClassVar[list[str]] = []
    category: ClassVar[str] = "general"  # how Everruns groups capabilities in its catalogue
    config_model: ClassVar[type[CapabilityConfig]] = CapabilityConfig

    def validate_config(self, config: dict[str, Any]) -> dict[str, Any]:
        """The config with defaults filled in; raises pydantic's ValidationError when it does not fit."""
        return self.config_model.model_validate(config).model_dump()

    def config_schema(self) -> dict[str, Any]:
        return self.config_model.model_json_schema()

    def tools(self) -> list[ToolSpec]:
        raise NotImplementedError

    def run(
        self, tool: str, tool_input: dict[str, Any], config: dict[str, Any], scope: ToolScope | None = None
    ) -> ToolResult:
        raise NotImplementedError
