"""Property-based fuzzing of the whole OpenAPI document against the app (schemathesis): no 5xx, and every
response has a documented status, content type and schema."""

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import ADMIN_KEY

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture
def api_schema(api, app):
    # Seed a session with blocks so that generated requests also meet real data, not only 404s.
    session = api.post("/v1/aip/sessions", json={"name": "fuzz", "tags": ["t"]}).json()["data"]
    api.post(f"/v1/aip/sessions/{session['id']}/blocks", json={"blocks": [{"type": "note", "content": "n"}]})
    app.openapi()  # the document is built here: schemathesis gives its request for it 10 s, a loaded machine more
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    schema.fuzz_headers = {"X-API-Key": api.key, "X-Admin-Key": ADMIN_KEY}
    return schema


lazy_schema = schemathesis.pytest.from_fixture("api_schema")


# Besides these generated examples (5 an operation, about 300 requests), schemathesis's coverage phase sends each
# operation its boundary and invalid cases, about 3,300 requests whatever the count here. Derandomized: every run sends
# the same requests, so a run fails or passes for what the code does, not for what it happened to draw.
@pytest.mark.timeout(300)
@lazy_schema.parametrize()
@settings(max_examples=5, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_openapi_document(case, api_schema):
    case.call_and_validate(headers=api_schema.fuzz_headers, checks=CHECKS)
