"""The OpenAPI document names, for each operation, the keys its route really demands: the tenant's key (`X-API-Key`
or `Authorization: Bearer`) on tenant routes, the operator key (`X-Admin-Key`) on the admin routes, none on public
ones. Swagger UI's Authorize dialog and every generated client read this, so a wrong scheme is a page that cannot call
the API."""

from fastapi.routing import APIRoute

from agentctx.api.app import routers_named
from agentctx.api.deps import admin_key_header, api_key_header, authorization_header, current_tenant, require_admin
from agentctx.api.full import full_app
from agentctx.api.registry import ROUTERS
from infra.routes import depends_on

DOCUMENT = full_app().openapi()
# The schemes' names are part of the contract: Swagger UI shows them, and generated clients name their settings so.
TENANT_SCHEMES = {"TenantApiKey", "TenantBearer"}
ADMIN_SCHEMES = {"AdminKey"}


def demanded_schemes(route: APIRoute) -> set[str]:
    """What the route's dependencies check: the tenant's key, the operator's, or nothing."""
    if depends_on(route.dependant, current_tenant):
        return TENANT_SCHEMES
    if depends_on(route.dependant, require_admin):
        return ADMIN_SCHEMES
    return set()


def test_each_key_is_its_own_scheme_named_as_it_is_sent():
    schemes = DOCUMENT["components"]["securitySchemes"]

    assert {name: (scheme["type"], scheme.get("name") or scheme["scheme"]) for name, scheme in schemes.items()} == {
        "TenantApiKey": ("apiKey", "X-API-Key"),
        "TenantBearer": ("http", "bearer"),
        "AdminKey": ("apiKey", "X-Admin-Key"),
    }
    assert {api_key_header.scheme_name, authorization_header.scheme_name} == TENANT_SCHEMES
    assert {admin_key_header.scheme_name} == ADMIN_SCHEMES


def test_every_operation_names_exactly_the_keys_its_route_demands():
    declared = {
        (method.upper(), path): {name for requirement in operation.get("security", []) for name in requirement}
        for path, methods in DOCUMENT["paths"].items()
        for method, operation in methods.items()
    }
    demanded = {
        (method, route.path): demanded_schemes(route)
        for router in routers_named(*ROUTERS)
        for route in router.routes
        if isinstance(route, APIRoute) and route.include_in_schema
        for method in route.methods or ()
    }

    assert declared == demanded
    assert {frozenset(schemes) for schemes in demanded.values()} == {
        frozenset(TENANT_SCHEMES),
        frozenset(ADMIN_SCHEMES),
        frozenset(),
    }


def test_a_tenant_route_takes_either_key_and_an_admin_route_only_the_operator_s():
    tenant_route = DOCUMENT["paths"]["/v1/aip/sessions"]["post"]["security"]
    admin_route = DOCUMENT["paths"]["/v1/admin/tenants"]["post"]["security"]

    # a list of requirements is a choice, each of one scheme: either key alone authorizes the call
    assert sorted(tenant_route, key=str) == sorted(({name: []} for name in TENANT_SCHEMES), key=str)
    assert admin_route == [{name: []} for name in ADMIN_SCHEMES]
    assert "security" not in DOCUMENT["paths"]["/health"]["get"]
