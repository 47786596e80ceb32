"""The registry (agentctx.api.registry) is the one source of what each HTTP function serves: its entry point is built
from it and loads only its own routers. That the template routes exactly the registry's functions, each to its own
code, is checked where the template's routes are written (infra/routes.py, tests/template/test_generated_routes.py)."""

import json
import subprocess
import sys

import pytest

from agentctx.api import registry
from tests.template.conftest import ROOT

LOADED_ROUTERS = """
import json, sys
sys.path[:0] = [{code!r}, {shared!r}]
import {module}
print(json.dumps(sorted(name for name in sys.modules if name.startswith("agentctx.api.routers."))))
"""


def entry_module(function: registry.HttpFunction) -> str:
    return "app" if function.streams else "handler"


def test_each_function_loads_only_its_own_routers():
    running = {
        function.logical_id: subprocess.Popen(
            [
                sys.executable,
                "-c",
                LOADED_ROUTERS.format(
                    code=str(ROOT / "functions" / function.folder),
                    shared=str(ROOT / "shared"),
                    module=entry_module(function),
                ),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        for function in registry.FUNCTIONS
    }
    for function in registry.FUNCTIONS:
        output, _ = running[function.logical_id].communicate(timeout=120)
        loaded = set(json.loads(output))

        assert loaded == {f"agentctx.api.routers.{name}" for name in function.routers + function.unrouted}


BUILT_MODELS = """
import json, sys
sys.path[:0] = [{code!r}, {shared!r}]
import {module}
from pydantic import BaseModel
print(json.dumps(sorted(
    value.__name__
    for name, loaded in list(sys.modules.items()) if name.startswith("agentctx.schemas")
    for value in vars(loaded).values()
    if isinstance(value, type) and issubclass(value, BaseModel) and value.__module__ == name
)))
"""


def test_the_catalog_function_builds_no_models_of_the_aip_surface():
    """Importing any module of agentctx.schemas runs the package first, so the package defines no models."""
    catalog = next(function for function in registry.FUNCTIONS if function.folder == "catalog")
    script = BUILT_MODELS.format(
        code=str(ROOT / "functions" / catalog.folder), shared=str(ROOT / "shared"), module=entry_module(catalog)
    )
    built = set(
        json.loads(subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout)
    )

    assert "AgentOut" in built
    assert built.isdisjoint({"SessionOut", "BlockOut", "CompactionJobOut", "TenantOut", "UsageOut", "Health"})


def test_a_router_served_unrouted_is_routed_to_another_function():
    for function in registry.FUNCTIONS:
        assert set(function.unrouted) <= set(registry.ROUTERS) - set(function.routers), function.logical_id


@pytest.mark.parametrize("preloads", [False, True])
def test_under_snapstart_only_the_functions_that_say_so_load_the_tokenizer_before_the_snapshot(monkeypatch, preloads):
    from agentctx.api.lambda_entry import http_handler
    from agentctx.tokens import get_encoding

    function = next(f for f in registry.FUNCTIONS if f.preloads_tokenizer == preloads and not f.streams)
    monkeypatch.setenv("AWS_LAMBDA_INITIALIZATION_TYPE", "snap-start")
    get_encoding.cache_clear()

    http_handler(function.logical_id)

    assert get_encoding.cache_info().currsize == (1 if preloads else 0)


def test_under_snapstart_the_mcp_function_imports_the_sdk_before_the_snapshot():
    """In a fresh process each: the SDK is in the snapshot under SnapStart, and imported on first use otherwise."""
    import os
    import subprocess
    import sys

    code = (
        "import sys; from agentctx.api.lambda_entry import http_handler; http_handler('McpFunction'); "
        "print('mcp.server.streamable_http_manager' in sys.modules)"
    )
    for initialization, imported in (("snap-start", "True"), ("on-demand", "False")):
        environment = {**os.environ, "AWS_LAMBDA_INITIALIZATION_TYPE": initialization}
        ran = subprocess.run([sys.executable, "-c", code], env=environment, capture_output=True, text=True, check=True)
        assert ran.stdout.strip().splitlines()[-1] == imported
