"""The SAM template, translated offline the way `sam deploy` would, and its functions loaded from their CodeUri."""

import copy
import importlib.util
import json
import re
import sys
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


def sam_template() -> dict[str, Any]:
    """template.yaml as SAM reads it, the caller's own copy (parsed once per version of the file: ~0.4 s a parse)."""
    stat = (ROOT / "template.yaml").stat()
    return copy.deepcopy(_sam_parsed(stat.st_mtime_ns, stat.st_size))


@cache
def _sam_parsed(modified_ns: int, size: int) -> dict[str, Any]:
    from samtranslator.yaml_helper import yaml_parse

    return yaml_parse((ROOT / "template.yaml").read_text())


@pytest.fixture(scope="session")
def template() -> dict[str, Any]:
    return sam_template()


@pytest.fixture(scope="session")
def translated(template) -> dict[str, Any]:
    """CloudFormation from the SAM transform; local code paths become S3 URIs first, as `sam package` does."""
    from samtranslator.translator.transform import transform

    packaged = copy.deepcopy(template)
    for resource in packaged["Resources"].values():
        properties = resource.get("Properties", {})
        for key in ("CodeUri", "ContentUri"):
            if isinstance(properties.get(key), str):
                properties[key] = f"s3://deployment-bucket/{properties[key].strip('/')}.zip"

    class NoManagedPolicies:
        def load(self) -> dict[str, str]:
            return {}

    return transform(packaged, {}, NoManagedPolicies())


# Both lint tests read one run; it takes ~15 s, so they share a test process too.
LINT_GROUP = pytest.mark.xdist_group("cfn-lint")


@pytest.fixture(scope="session")
def lint_matches(translated) -> list[Any]:
    """cfn-lint's findings on the translated template, by its own rules and the serverless ones, from one run."""
    from cfnlint.api import ManualArgs, lint

    config = ManualArgs(regions=["us-east-1"], append_rules=["cfn_lint_serverless.rules"])
    return lint(json.dumps(translated), config=config)


def is_serverless_rule(match: Any) -> bool:
    return type(match.rule).__module__.startswith("cfn_lint_serverless.")


def functions(template) -> dict[str, dict[str, Any]]:
    return {
        name: resource["Properties"]
        for name, resource in template["Resources"].items()
        if resource["Type"] == "AWS::Serverless::Function"
    }


def asgi_routes(app: Any) -> set[tuple[str, str]]:
    """(method, path) of what an app serves outside its OpenAPI document: the bare ASGI endpoints (/mcp) of the
    routers it includes (without a prefix, agentctx.api.app), not the document itself."""
    from starlette.routing import Route

    found, pending = set(), list(app.routes)
    while pending:
        route = pending.pop()
        if hasattr(route, "original_router"):  # FastAPI keeps an included router whole
            pending += route.original_router.routes
        elif type(route) is Route and route.path != app.openapi_url:
            found |= {(method, route.path) for method in route.methods or () if method != "HEAD"}
    return found


def web_adapter_app(properties: dict[str, Any]) -> Any:
    """For a Lambda Web Adapter function (Handler: run.sh), the ASGI app its start script serves."""
    script = (ROOT / properties["CodeUri"] / properties["Handler"]).read_text()
    target = re.search(r"uvicorn .*?(\w+):(\w+)\s*$", script, re.MULTILINE)
    assert target, "run.sh must start uvicorn with module:app"
    return load_handler(properties | {"Handler": f"{target.group(1)}.{target.group(2)}"})


def load_handler(properties: dict[str, Any]) -> Any:
    """Import a function's handler module from its CodeUri, as the Lambda runtime would."""
    module_name, function_name = properties["Handler"].rsplit(".", 1)
    path = ROOT / properties["CodeUri"] / f"{module_name.replace('.', '/')}.py"
    unique = f"lambda_{properties['CodeUri'].strip('/').replace('/', '_')}_{module_name}"
    spec = importlib.util.spec_from_file_location(unique, path)
    assert spec and spec.loader, path
    module: ModuleType = importlib.util.module_from_spec(spec)
    sys.modules[unique] = module
    spec.loader.exec_module(module)
    return getattr(module, function_name)
