"""`make routes`: writes into template.yaml each HTTP function's `Description` and `Type: Api` events, from the
registry (agentctx.api.registry) and the routes its routers declare. Each function's block sits between two marker
comments; every other line of the template is written by hand and kept as it is.

An event's rules: path and method as the route declares them; `Auth: Authorizer: NONE` when the route takes no
tenant key (it does not depend on `current_tenant`: /health, the operator's X-Admin-Key routes); on a streaming
function the STREAM transfer mode, with the function's timeout as the integration's. Its name is the method and the
path's words (`GET /v1/aip/sessions/{sessionId}`: GetV1AipSessionsSessionId). Each path also gets an OPTIONS event,
on the first function of the registry that serves it, without the authorizer: a browser sends no key on a CORS
preflight, and the app answers it (agentctx.api.cors).

`python -m infra.routes --check` changes nothing and fails when the template is not what this writes.
"""

import argparse
import json
import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import yaml
from fastapi.routing import APIRoute
from starlette.routing import Route as StarletteRoute

from agentctx.api.app import routers_named
from agentctx.api.deps import current_tenant
from agentctx.api.registry import FUNCTIONS, HttpFunction
from agentctx.api.registry import function as registered
from infra.template import TEMPLATE_PATH, parse_template

BEGIN = "# BEGIN routes of {}: `make routes` writes this block from shared/agentctx/api/registry.py"
END = "# END routes of {}"
_BLOCK = re.compile(
    r"^(?P<indent> *)# BEGIN routes of (?P<function>\w+)\b.*?^(?P=indent)# END routes of (?P=function)\n", re.M | re.S
)
STALE = "template.yaml's routes differ from the registry and the routers: run make routes"
DESCRIPTION_LIMIT = 256  # Lambda's limit on a function's description


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    keyed: bool  # takes a tenant's API key, which API Gateway's authorizer checks first

    @property
    def event_name(self) -> str:
        words = (word[:1].upper() + word[1:] for word in re.split(r"[^A-Za-z0-9]+", self.path) if word)
        return self.method.title() + "".join(words)


def depends_on(dependant: Any, call: Callable[..., Any]) -> bool:
    return any(sub.call is call or depends_on(sub, call) for sub in dependant.dependencies)


def routes(routers: tuple[str, ...]) -> Iterator[Route]:
    """The routes of these routers (modules of agentctx.api.routers), in the order they are declared.

    - An operation of the OpenAPI document is keyed when it depends on `current_tenant`.
    - A bare ASGI endpoint (/mcp, outside the document) has no dependencies to read: it is keyed, so the authorizer
      checks the key first, as the endpoint itself does when no authorizer ran.
    """
    for router in routers_named(*routers):
        for route in router.routes:
            if isinstance(route, APIRoute) and route.include_in_schema:
                for method in sorted(route.methods or ()):
                    yield Route(method, route.path, depends_on(route.dependant, current_tenant))
            elif type(route) is StarletteRoute:
                yield from (Route(method, route.path, keyed=True) for method in sorted(route.methods or ()))


def preflights(function: HttpFunction) -> list[Route]:
    """A CORS preflight (OPTIONS, no key) for each path that this function is the first of the registry to serve."""
    earlier = {route.path for other in FUNCTIONS[: FUNCTIONS.index(function)] for route in routes(other.routers)}
    paths = dict.fromkeys(route.path for route in routes(function.routers))
    return [Route("OPTIONS", path, keyed=False) for path in paths if path not in earlier]


def _scalar(value: str) -> str:
    """The value as a plain YAML scalar when it reads back as itself, else double-quoted."""
    try:
        plain = yaml.safe_load(f"key: {value}") == {"key": value}
    except yaml.YAMLError:
        plain = False
    return value if plain else json.dumps(value)


def _block(function: HttpFunction, template: dict[str, Any], indent: str) -> str:
    properties = template["Resources"][function.logical_id]["Properties"]
    timeout = properties.get("Timeout", template["Globals"]["Function"]["Timeout"])
    declared = [*routes(function.routers), *preflights(function)]
    names = [route.event_name for route in declared]
    _require(len(names) == len(set(names)), f"{function.logical_id}: two routes give one event name")
    lines = [BEGIN.format(function.logical_id), f"Description: {_scalar(function.purpose)}", "Events:"]
    for route in declared:
        lines += [
            f"  {route.event_name}:",
            "    Type: Api",
            "    Properties:",
            "      RestApiId: !Ref ContextApi",
            f"      Path: {_scalar(route.path)}",
            f"      Method: {route.method}",
        ]
        lines += [] if route.keyed else ["      Auth:", "        Authorizer: NONE"]
        if function.streams:
            lines += ["      ResponseTransferMode: RESPONSE_STREAM", f"      TimeoutInMillis: {timeout * 1000}"]
    lines.append(END.format(function.logical_id))
    return "".join(f"{indent}{line}\n" for line in lines)


def generate(text: str) -> str:
    """The template text with every function's marked block written anew from the registry."""
    template = parse_template(text)
    marked = [match.group("function") for match in _BLOCK.finditer(text)]
    _require(
        sorted(marked) == sorted(f.logical_id for f in FUNCTIONS),
        f"template.yaml must mark each HTTP function of the registry once: marked {marked}",
    )
    written = _BLOCK.sub(lambda m: _block(registered(m.group("function")), template, m.group("indent")), text)
    _check(parse_template(written), FUNCTIONS)
    return written


def _check(template: dict[str, Any], functions: tuple[HttpFunction, ...]) -> None:
    """Each block landed in its own function, whose code is the registry's folder, and no other function is routed."""
    resources = template["Resources"]
    for function in functions:
        properties = resources[function.logical_id]["Properties"]
        name = function.logical_id
        _require(properties["Description"] == function.purpose, f"{name}: its markers are outside its Properties")
        _require(properties["CodeUri"].strip("/") == f"functions/{function.folder}", f"{name}: not the registry's code")
        _require(len(function.purpose) <= DESCRIPTION_LIMIT, f"{name}: a purpose over {DESCRIPTION_LIMIT} characters")
    routed = {
        name
        for name, resource in resources.items()
        if resource["Type"] == "AWS::Serverless::Function"
        and any(event["Type"] == "Api" for event in resource["Properties"].get("Events", {}).values())
    }
    _require(routed == {function.logical_id for function in functions}, "an API event outside the registry's functions")


def _require(condition: bool, problem: str) -> None:
    if not condition:
        sys.exit(f"infra/routes.py: {problem}")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m infra.routes", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="change nothing; fail when the template is stale")
    options = parser.parse_args()
    current = TEMPLATE_PATH.read_text()
    generated = generate(current)
    if options.check:
        sys.exit(STALE if generated != current else 0)
    if generated != current:
        TEMPLATE_PATH.write_text(generated)
    print(f"template.yaml: routes {'rewritten' if generated != current else 'unchanged'}")


if __name__ == "__main__":
    main()
