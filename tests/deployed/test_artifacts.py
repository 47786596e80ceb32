"""`make package`'s artifacts: every module precompiled to bytecode the runtime loads without checking the source,
for the runtime and architecture the template deploys."""

import io
import json
import os
import stat
import subprocess
import zipfile
from pathlib import Path
from typing import Any

import pytest

from infra.package import Artifacts, lambda_target
from tests.deployed.conftest import DeployedCode, LocalAws
from tests.deployed.runtime import LambdaRuntime
from tests.template.conftest import ROOT, functions, sam_template

SAM = ROOT / ".venv" / "sam" / "bin" / "sam"

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


def _without_code_locations(template: dict[str, Any]) -> dict[str, Any]:
    for resource in template["Resources"].values():
        for key in ("CodeUri", "ContentUri"):
            resource.get("Properties", {}).pop(key, None)
    return template


def test_make_deploy_s_template_names_the_built_directories_and_changes_nothing_else(artifacts: Artifacts):
    """template.yaml's own CodeUri and ContentUri name the sources (a layer without its dependencies): `make deploy`
    deploys the template written beside the artifacts instead, which names them."""
    code = DeployedCode.of(artifacts.template)

    assert code.functions == artifacts.functions
    assert code.layer / "python" == artifacts.layer
    deployed = json.loads(artifacts.template.read_text())
    assert _without_code_locations(deployed) == _without_code_locations(sam_template())


def _files(directory: Path) -> set[str]:
    return {path.relative_to(directory).as_posix() for path in directory.rglob("*") if path.is_file()}


def test_sam_uploads_each_built_directory_whole(artifacts: Artifacts, local_aws: LocalAws, tmp_path: Path):
    """`sam deploy`'s upload step (`sam package`, the SAM CLI `make deploy` runs) against moto's S3: each function's
    zip holds exactly its built directory, start script still executable, and the layer's its python/ folder with
    every dependency."""
    assert SAM.exists(), "make test installs the SAM CLI in .venv/sam (its pins clash with the project's)"
    s3 = local_aws.client("s3")
    s3.create_bucket(Bucket="deployment-bucket")
    packaged = tmp_path / "packaged.yaml"
    environment = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "AWS_ENDPOINT_URL": local_aws.endpoint,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "deployer",
        "AWS_SECRET_ACCESS_KEY": "local",
        "SAM_CLI_TELEMETRY": "0",
    }
    subprocess.run(
        [str(SAM), "package", "--template-file", str(artifacts.template), "--s3-bucket", "deployment-bucket"]
        + ["--output-template-file", str(packaged)],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        check=True,
    )
    from samtranslator.yaml_helper import yaml_parse

    uploaded = {}
    for logical_id, resource in yaml_parse(packaged.read_text())["Resources"].items():
        location = resource.get("Properties", {}).get("CodeUri") or resource.get("Properties", {}).get("ContentUri")
        if location:
            key = location.removeprefix("s3://deployment-bucket/")
            uploaded[logical_id] = zipfile.ZipFile(
                io.BytesIO(s3.get_object(Bucket="deployment-bucket", Key=key)["Body"].read())
            )

    code = DeployedCode.of(artifacts.template)
    for name, directory in code.functions.items():
        assert set(uploaded[name].namelist()) == _files(directory), name
    (layer,) = set(uploaded) - set(code.functions)
    assert set(uploaded[layer].namelist()) == _files(code.layer)
    assert {"python/fastapi/__init__.py", "python/pydantic/__init__.py", "python/tiktoken/__init__.py"} <= set(
        uploaded[layer].namelist()
    )
    run_sh = uploaded["InvokeFunction"].getinfo("run.sh")
    assert (run_sh.external_attr >> 16) & stat.S_IXUSR
