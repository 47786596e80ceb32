"""Query parameters of the snake_case lists (catalog and agent-runtime): the page size, and the cursor under both
of the names Everruns' clients send."""

from typing import Annotated

from fastapi import Query

Limit = Annotated[int, Query(ge=1, le=100)]
Cursor = Annotated[str | None, Query(max_length=2048)]
PageToken = Annotated[str | None, Query(max_length=2048, description="Everruns' name for cursor")]
