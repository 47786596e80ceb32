"""Each operation accepts exactly the keys the OpenAPI document declares for it, sent as the document's schemes say
(what Swagger UI's Authorize dialog and generated clients do): a declared scheme gets past authentication, any other
key and no key are 401."""

import re

import pytest

from tests.conftest import ADMIN_KEY


def sent_as(scheme: dict, key: str) -> dict[str, str]:
    """The headers a client sends for this security scheme."""
    if scheme["type"] == "http":
        assert scheme["scheme"] == "bearer"
        return {"Authorization": f"Bearer {key}"}
    assert scheme["type"] == "apiKey" and scheme["in"] == "header"
    return {scheme["name"]: key}


def test_every_operation_accepts_the_keys_it_declares_and_refuses_the_rest(api, app):
    document = app.openapi()
    schemes = document["components"]["securitySchemes"]
    # which credential each scheme carries: the tenant's key in the tenant schemes, the operator's in AdminKey
    credential = {name: ADMIN_KEY if name == "AdminKey" else api.key for name in schemes}
    wrong: list[str] = []
    for path, methods in document["paths"].items():
        url = re.sub(r"\{[^}]+\}", "unknown", path)
        for method, operation in methods.items():
            declared = {name for requirement in operation.get("security", []) for name in requirement}
            attempts = {None: {}} | {name: sent_as(schemes[name], credential[name]) for name in schemes}
            for name, headers in attempts.items():
                status = api.http.request(method.upper(), url, headers=headers).status_code
                authenticated = not declared or name in declared
                if (status == 401) == authenticated:
                    wrong.append(f"{method.upper()} {path} with {name or 'no key'}: {status}")

    assert wrong == []


@pytest.mark.parametrize("headers", [{}, {"X-Admin-Key": ADMIN_KEY}])
def test_the_document_is_public(http, headers):
    assert http.get("/openapi.json", headers=headers).status_code == 200
