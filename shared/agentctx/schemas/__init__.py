"""Pydantic models at the edge: requests in, responses out, one module per subject (base, sessions, blocks,
compaction, admin, usage, health for the AIP surface in camelCase; catalog, runtime, invoke; limits for free-form
JSON). Nothing is re-exported here: importing a submodule runs this file first, so a function loads only the models
it imports.

Request and response shapes are separate classes even where they look alike; constraints live on the fields so
validation and the OpenAPI document agree.
"""
