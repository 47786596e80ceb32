"""`session_file_system`: files the agent keeps in its session, to read, write, list, grep and delete.

Paths are relative and normalised (`notes/plan.md`); `..`, absolute paths and empty segments are refused, so a
path names a file of this session and nothing else. Files live in the session's own partition (see
store/file_store.py): another session, or another tenant, cannot reach them.
"""

import posixpath
import re
from typing import Any

from pydantic import Field

from agentctx.capabilities.base import Capability, CapabilityConfig, ToolResult, ToolScope, ToolSpec

MAX_PATH = 512


class SessionFileSystemConfig(CapabilityConfig):
    max_file_bytes: int = Field(default=100_000, ge=1, le=300_000)
    max_files: int = Field(default=200, ge=1, le=1_000)
    read_only: bool = False


def file_path(raw: Any) -> str:
    """A normalised relative path; ValueError for anything that could name a file outside the session."""
    if not isinstance(raw, str) or not raw.strip():
        raise ValueError("path must be a non-empty string")
    path = raw.strip()
    if path.startswith("/") or len(path) > MAX_PATH or any(part in ("", ".", "..") for part in path.split("/")):
        raise ValueError(f"invalid path {raw!r}: use a relative path without '.', '..' or empty segments")
    return posixpath.normpath(path)


def _schema(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": required, "additionalProperties": False}


_PATH = {"type": "string", "description": "Relative path, such as notes/plan.md"}


class SessionFileSystem(Capability):
    ref = "session_file_system"
    name = "Session file system"
    description = "Files kept per session: the agent reads, writes, lists, greps and deletes them."
    category = "file_system"
    features = ["file_system"]
    config_model = SessionFileSystemConfig

    def tools(self) -> list[ToolSpec]:
        return [
            ToolSpec("read_file", "Read a file of this session.", _schema({"path": _PATH}, ["path"])),
            ToolSpec(
                "write_file",
                "Create or replace a file of this session.",
                _schema({"path": _PATH, "content": {"type": "string"}}, ["path", "content"]),
            ),
            ToolSpec(
                "list_files",
                "List the session's files (optionally under a directory), with their sizes.",
                _schema({"prefix": {"type": "string"}}, []),
            ),
            ToolSpec(
                "grep_files",
                "Search the session's files for a regular expression; returns matching lines.",
                _schema({"pattern": {"type": "string"}, "prefix": {"type": "string"}}, ["pattern"]),
            ),
            ToolSpec("delete_file", "Delete a file of this session.", _schema({"path": _PATH}, ["path"])),
        ]

    def run(
        self, tool: str, tool_input: dict[str, Any], config: dict[str, Any], scope: ToolScope | None = None
    ) -> ToolResult:
        files = scope.files if scope else None
        if files is None:
            return ToolResult({"error": "session files need a session"}, is_error=True)
        settings = SessionFileSystemConfig.model_validate(config)
        try:
            return self._run(tool, tool_input, settings, files)
        except ValueError as error:
            return ToolResult({"error": str(error)}, is_error=True)

    @staticmethod
    def _run(tool: str, tool_input: dict[str, Any], config: SessionFileSystemConfig, files: Any) -> ToolResult:
        if tool == "read_file":
            path = file_path(tool_input.get("path"))
            content = files.read(path)
            if content is None:
                return ToolResult({"error": f"no file {path}"}, is_error=True)
            return ToolResult({"path": path, "content": content})
        if tool == "list_files":
            prefix = str(tool_input.get("prefix") or "")
            return ToolResult({"files": [{"path": p, "bytes": size} for p, size in files.list(prefix)]})
        if tool == "grep_files":
            try:
                pattern = re.compile(str(tool_input.get("pattern", "")))
            except re.error as error:
                raise ValueError(f"invalid pattern: {error}") from error
            matches = []
            for path, _ in files.list(str(tool_input.get("prefix") or ""))[: config.max_files]:
                for number, line in enumerate((files.read(path) or "").splitlines(), start=1):
                    if pattern.search(line):
                        matches.append({"path": path, "line": number, "text": line[:500]})
            return ToolResult({"matches": matches[:200], "truncated": len(matches) > 200})
        if config.read_only:
            return ToolResult({"error": "the session's files are read-only for this agent"}, is_error=True)
        if tool == "write_file":
            path = file_path(tool_input.get("path"))
            content = tool_input.get("content")
            if not isinstance(content, str):
                raise ValueError("content must be a string")
            size = len(content.encode())
            if size > config.max_file_bytes:
                raise ValueError(f"the file is {size} bytes; at most {config.max_file_bytes} are allowed")
            existing = {p for p, _ in files.list("")}
            if path not in existing and len(existing) >= config.max_files:
                raise ValueError(f"the session already holds {config.max_files} files")
            files.write(path, content)
            return ToolResult({"path": path, "bytes": size})
        if tool == "delete_file":
            path = file_path(tool_input.get("path"))
            return ToolResult({"path": path, "deleted": files.delete(path)})
        return ToolResult({"error": f"unknown tool {tool!r}"}, is_error=True)
