"""The OpenAPI document the service serves is the one kept in tests/fixtures/openapi.json, byte for byte.

The fixture was written from the app before its routing and rooms were redrawn; a change to the API contract is a
deliberate act: write the new document to the fixture in the same commit, so the change shows in review."""

from pathlib import Path

from fastapi.testclient import TestClient

from agentctx.api.full import full_app

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "openapi.json"


def test_the_served_openapi_document_is_the_kept_one_byte_for_byte():
    served = TestClient(full_app()).get("/openapi.json")
    assert served.status_code == 200
    assert served.content == FIXTURE.read_bytes(), "the API contract changed; if on purpose, rewrite the fixture"
