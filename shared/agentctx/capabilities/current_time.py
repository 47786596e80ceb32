"""`current_time`: the date and time now, in UTC and in a configured time zone."""

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import field_validator

from agentctx.capabilities.base import Capability, CapabilityConfig, ToolResult, ToolScope, ToolSpec


class CurrentTimeConfig(CapabilityConfig):
    timezone: str = "UTC"

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as error:
            raise ValueError(f"unknown time zone {value!r}") from error
        return value


class CurrentTime(Capability):
    ref = "current_time"
    name = "Current time"
    description = "Tells the agent the current date and time."
    category = "utilities"
    features = ["time"]
    config_model = CurrentTimeConfig

    def tools(self) -> list[ToolSpec]:
        return [
            ToolSpec(
                name="current_time",
                description="The current date and time, in UTC and in the configured time zone.",
                input_schema={"type": "object", "properties": {}, "additionalProperties": False},
            )
        ]

    def run(
        self, tool: str, tool_input: dict[str, Any], config: dict[str, Any], scope: ToolScope | None = None
    ) -> ToolResult:
        now = datetime.now(UTC)
        zone = config.get("timezone", "UTC")
        return ToolResult(
            {
                "utc": now.isoformat(timespec="seconds"),
                "timezone": zone,
                "local": now.astimezone(ZoneInfo(zone)).isoformat(timespec="seconds"),
                "unix": int(now.timestamp()),
            }
        )
