"""`make package`'s artifacts: every module precompiled to bytecode the runtime loads without checking the source,
for the runtime and architecture the template deploys."""

import json
import subprocess

import pytest

from infra.package import Artifacts, lambda_target
from tests.deployed.runtime import LambdaRuntime
from tests.template.conftest import ROOT, functions, sam_template

pytestmark = [pytest.mark.xdist_group("deployed"), pytest.mark.timeout(300)]  # as in test_functions.py


def test_the_lambda_build_targets_the_template_s_runtime_and_architecture():
    target = lambda_target()
    function = sam_template()["Globals"]["Function"]

    assert f"python{target.python_version}" == function["Runtime"]
    assert {"arm64": "aarch64", "x86_64": "x86_64"}[function["Architectures"][0]] == target.machine


def test_every_module_is_precompiled_with_unchecked_hashes(artifacts: Artifacts):
    tag = subprocess.run(
        [artifacts.python, "-c", "import sys; print(sys.implementation.cache_tag)"], capture_output=True, text=True
    ).stdout.strip()
    sources = [path for root in [*artifacts.functions.values(), artifacts.layer] for path in root.rglob("*.py")]
    assert len(sources) > 500  # the layer's dependencies are in

    unchecked = 0b01  # PEP 552 flags: hash-based, not checked against the source
    for source in sources:
        compiled = source.parent / "__pycache__" / f"{source.stem}.{tag}.pyc"
        assert compiled.exists(), source
        assert int.from_bytes(compiled.read_bytes()[4:8], "little") == unchecked, compiled


def test_each_function_is_its_code_directory_only(artifacts: Artifacts):
    for name, properties in functions(sam_template()).items():
        built = {p.name for p in artifacts.functions[name].iterdir() if p.name != "__pycache__"}
        source = {p.name for p in (ROOT / properties["CodeUri"]).iterdir() if p.name != "__pycache__"}
        assert built == source, name


def test_the_trimmed_layer_writes_the_same_openapi_document(artifacts: Artifacts, lambda_runtime: LambdaRuntime):
    """The layer leaves out pydantic.v1 and builds FastAPI's OpenAPI models on first use (infra/package.py): the
    whole app, run from the layer in a bare interpreter, still defines every route and writes the very document the
    project's own dependencies write."""
    from agentctx.api.full import full_app

    assert not (artifacts.layer / "pydantic" / "v1").exists()
    code = (
        f"import json, sys; sys.path[:0] = {[str(artifacts.layer), str(lambda_runtime.runtime_dir)]!r}; "
        "from agentctx.api.full import full_app; print(json.dumps(full_app().openapi()))"
    )
    written = subprocess.run(
        [str(lambda_runtime.python), "-I", "-c", code],
        env={"PATH": "/usr/bin:/bin", "AWS_DEFAULT_REGION": "us-east-1"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(written.stdout) == full_app().openapi()
