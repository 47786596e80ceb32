"""Capabilities: the tools an agent may call, each with a config schema and the features it brings.

The catalogue is fixed in code; an agent (and a session, on top of its agent's) names capabilities by ref with a config.
"""

from agentctx.capabilities.base import Capability, ToolResult, ToolScope, ToolSpec
from agentctx.capabilities.current_time import CurrentTime
from agentctx.capabilities.session_file_system import SessionFileSystem
from agentctx.capabilities.session_recall import SessionRecallCapability
from agentctx.capabilities.web_fetch import WebFetch

CATALOGUE: dict[str, Capability] = {
    capability.ref: capability
    for capability in (CurrentTime(), WebFetch(), SessionFileSystem(), SessionRecallCapability())
}

__all__ = ["CATALOGUE", "Capability", "ToolResult", "ToolScope", "ToolSpec"]
