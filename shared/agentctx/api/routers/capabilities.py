"""`/v1/capabilities`: the catalogue of the capabilities (tools) an agent may be given."""

from typing import Annotated

from fastapi import APIRouter, Query

from agentctx.api.deps import Tenant
from agentctx.api.openapi import ERROR_RESPONSES
from agentctx.capabilities import CATALOGUE
from agentctx.errors import NotFound
from agentctx.schemas.catalog import SnakeList
from agentctx.schemas.runtime import CapabilityOut, ToolDefinitionOut

router = APIRouter(tags=["capabilities"], responses=ERROR_RESPONSES)


def capability_out(ref: str) -> CapabilityOut:
    capability = CATALOGUE[ref]
    tools = capability.tools()
    return CapabilityOut(
        id=capability.ref,
        ref=capability.ref,
        name=capability.name,
        description=capability.description,
        category=capability.category,
        config_schema=capability.config_schema(),
        features=capability.features,
        tools=[tool.name for tool in tools],
        tool_definitions=[
            ToolDefinitionOut(name=tool.name, description=tool.description, parameters=tool.input_schema)
            for tool in tools
        ],
    )


@router.get("/v1/capabilities", response_model=SnakeList[CapabilityOut])
def list_capabilities(
    tenant: Tenant,
    search: Annotated[str | None, Query(max_length=256, description="Name or description contains")] = None,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=100)] = 100,
    cursor: Annotated[str | None, Query(pattern=r"^[0-9]{1,6}$", description="A page's `next_cursor`")] = None,
) -> SnakeList[CapabilityOut]:
    """The shipped capabilities; `search` matches the id, name or description (case-insensitive). Page on with
    `offset`, or with `cursor` = `next_cursor` (the next offset)."""
    if cursor is not None:
        offset = int(cursor)
    needle = (search or "").lower()
    found = [
        ref
        for ref, capability in CATALOGUE.items()
        if needle in f"{ref}\n{capability.name}\n{capability.description}".lower()
    ]
    page = found[offset : offset + limit]
    return SnakeList(
        data=[capability_out(ref) for ref in page],
        has_more=offset + limit < len(found),
        next_cursor=str(offset + limit) if offset + limit < len(found) else None,
        total=len(found),
        offset=offset,
        limit=limit,
    )


@router.get("/v1/capabilities/{ref}", response_model=CapabilityOut)
def get_capability(ref: str, tenant: Tenant) -> CapabilityOut:
    if ref not in CATALOGUE:
        raise NotFound(f"capability {ref} not found")
    return capability_out(ref)
