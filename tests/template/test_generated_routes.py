"""template.yaml's API events and HTTP function descriptions are what `make routes` writes from the registry and the
routers (infra/routes.py), between markers; every other line of the template is kept as written."""

import pytest

from infra.routes import STALE, generate
from tests.template.conftest import ROOT
from tests.template.test_routing import gateway_routes

TEMPLATE = (ROOT / "template.yaml").read_text()


def test_the_template_is_what_make_routes_writes():
    assert generate(TEMPLATE) == TEMPLATE, STALE


def test_a_hand_edit_inside_the_markers_is_rewritten_and_every_line_outside_them_kept():
    outside = "  # a hand-written note\n"
    edited = TEMPLATE.replace("Resources:\n", "Resources:\n" + outside, 1).replace(
        "Path: /v1/aip/blocks\n", "Path: /v1/aip/blocks-renamed\n", 1
    )

    assert generate(edited) == TEMPLATE.replace("Resources:\n", "Resources:\n" + outside, 1)


def test_a_function_of_the_registry_without_markers_is_refused():
    unmarked = TEMPLATE.replace("# BEGIN routes of CatalogFunction", "# routes of CatalogFunction", 1)

    with pytest.raises(SystemExit, match="mark each HTTP function"):
        generate(unmarked)


def test_only_health_the_operator_s_routes_and_the_preflights_skip_the_authorizer(translated):
    api = next(r for r in translated["Resources"].values() if r["Type"] == "AWS::ApiGateway::RestApi")
    public = {
        (method.upper(), path)
        for path, methods in api["Properties"]["Body"]["paths"].items()
        for method, operation in methods.items()
        if operation.get("security", []) in ([], [{"NONE": []}])
    }

    operator = {(method, path) for method, path in gateway_routes(translated) if path.startswith("/v1/admin/")}
    # a browser sends no key on a CORS preflight: the authorizer would refuse every one
    preflights = {("OPTIONS", path) for _, path in gateway_routes(translated)}
    assert public == {("GET", "/health")} | operator | preflights
