"""Routing: every operation of the OpenAPI document reaches, through the translated template, exactly one function
whose app serves it, in the STREAM transfer mode exactly where that function streams; and the template routes
nothing else. (tests/deployed runs each route against the built function.)"""

import re
from collections import Counter
from functools import cache
from typing import Any

from agentctx.api.full import full_app
from tests.template.conftest import asgi_routes, functions, load_handler, web_adapter_app


@cache
def openapi_operations() -> dict[tuple[str, str], bool]:
    """(method, path) -> whether the operation may answer with Server-Sent Events; the bare ASGI endpoints outside
    the document (/mcp) too, which answer JSON."""
    app = full_app()
    operations = dict.fromkeys(asgi_routes(app), False)
    for path, methods in app.openapi()["paths"].items():
        for method, operation in methods.items():
            contents = [c for response in operation.get("responses", {}).values() for c in response.get("content", {})]
            operations[(method.upper(), path)] = "text/event-stream" in contents
    return operations


def gateway_routes(translated: dict[str, Any]) -> dict[tuple[str, str], tuple[str, str]]:
    """(method, path) -> (the function it invokes, its response transfer mode), from the deployed API definition."""
    api = next(r for r in translated["Resources"].values() if r["Type"] == "AWS::ApiGateway::RestApi")
    routes = {}
    for path, methods in api["Properties"]["Body"]["paths"].items():
        for method, operation in methods.items():
            integration = operation["x-amazon-apigateway-integration"]
            function = re.search(r"\$\{(\w+?Function)(?:Aliaslive|\.Arn)\}", integration["uri"]["Fn::Sub"])
            assert function, integration
            routes[(method.upper(), path)] = (function.group(1), integration.get("responseTransferMode", "BUFFERED"))
    return routes


def _mangum_app(handler: Any) -> Any:
    """The ASGI app of the Mangum adapter somewhere in the handler's closures (under Powertools' decorators)."""
    from mangum import Mangum

    pending, seen = [handler], set()
    while pending:
        candidate = pending.pop()
        if isinstance(candidate, Mangum):
            return candidate.app
        if id(candidate) in seen or not callable(candidate):
            continue
        seen.add(id(candidate))
        pending += [cell.cell_contents for cell in getattr(candidate, "__closure__", None) or ()]
        pending += [getattr(candidate, "__wrapped__", None)] if hasattr(candidate, "__wrapped__") else []
    raise AssertionError(f"no Mangum adapter in {handler}")


def streams(properties: dict[str, Any]) -> bool:
    return properties.get("Environment", {}).get("Variables", {}).get("AWS_LWA_INVOKE_MODE") == "response_stream"


def served(properties: dict[str, Any]) -> set[tuple[str, str]]:
    """The routes the function's own app serves: the web adapter's app, or the one inside the Mangum handler."""
    if properties["Handler"].endswith(".sh"):
        app = web_adapter_app(properties)
    else:
        app = _mangum_app(load_handler(properties))
    return {(method.upper(), path) for path, methods in app.openapi()["paths"].items() for method in methods} | (
        asgi_routes(app)
    )


def test_each_template_route_is_declared_once(template):
    declared = Counter(
        (event["Properties"]["Method"].upper(), event["Properties"]["Path"])
        for properties in functions(template).values()
        for event in properties.get("Events", {}).values()
        if event["Type"] == "Api"
    )

    assert [route for route, count in declared.items() if count > 1] == []


def test_every_operation_reaches_one_function_that_serves_it_and_nothing_else_is_routed(template, translated):
    routes = gateway_routes(translated)
    operations = openapi_operations()
    preflights = {("OPTIONS", path) for _, path in operations}
    assert set(routes) == set(operations) | preflights

    properties = functions(template)
    serving = {name: served(properties[name]) for name in {function for function, _ in routes.values()}}
    for route, (function, _) in routes.items():
        if route in preflights:  # any app answers a preflight (agentctx.api.cors): one that serves the path
            assert any(path == route[1] for _, path in serving[function]), f"{function} serves nothing on {route}"
        else:
            assert route in serving[function], f"{function} does not serve {route}"


def test_stream_mode_exactly_on_the_streaming_function_and_every_event_stream_on_it(template, translated):
    properties = functions(template)
    for route, (function, mode) in gateway_routes(translated).items():
        assert (mode == "STREAM") == streams(properties[function]), route
        if openapi_operations().get(route):
            assert mode == "STREAM", f"{route} answers text/event-stream but is buffered"
