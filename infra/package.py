"""`make package`: the artifacts `make deploy` deploys, built without Docker, precompiled so no cold start compiles.

Each function's code directory and the shared layer's `python/` directory (the agentctx package and its
dependencies as wheels for the template's runtime and architecture) land under build/<target>/. Every module is
compiled to unchecked-hash .pyc by an interpreter of the target's Python version, recorded under the path it has
in Lambda (/var/task, /opt/python), so the runtime loads the bytecode without reading or checking the source.
Beside them, build/<target>/template.json is template.yaml with each CodeUri and ContentUri naming the built
directories: the template `make deploy` gives `sam deploy` (template.yaml's own name the sources, which hold none
of the layer's dependencies).

The dependencies are the slow part; they are installed once per (requirements, Python version, architecture, trims)
into a cache outside the checkout, ~/.cache/agentctx/layer-deps/<target>-<hash>/ (AGENTCTX_CACHE moves it), and
reused by every checkout and run. The tests build the same artifacts for this machine's architecture (`--host`),
because native wheels (pydantic-core, tiktoken, regex) only load on the architecture they were built for.
"""

import argparse
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infra.template import TEMPLATE_PATH, load_template

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "build"
# Outside the checkout, so a fresh clone (CI's) reuses what an earlier one built.
CACHE = Path(
    os.environ.get("AGENTCTX_CACHE") or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "agentctx"
)
TASK_ROOT = "/var/task"
LAYER_ROOT = "/opt/python"
_MANYLINUX = ("manylinux_2_28", "manylinux2014")  # Lambda's python3.12 runs on Amazon Linux 2023 (glibc 2.34)
# Left out of the layer: pydantic's copy of its 1.x API, which nothing here uses. FastAPI imports it (when present)
# only to refuse 1.x models, on the first route with a model: ~30 ms of every HTTP function's cold start.
UNUSED_PACKAGES = ("pydantic/v1",)
# The template that deploys a build, written beside its artifacts (write_deploy_template).
DEPLOY_TEMPLATE = "template.json"


@dataclass(frozen=True)
class Patch:
    """One edit to an installed dependency's source in the layer: `old` must occur exactly once."""

    path: str
    old: str
    new: str


# FastAPI builds the pydantic models of the OpenAPI document (Schema, Operation, PathItem, ...) when it is imported:
# about a third of `import fastapi`, or 0.4x `import boto3` per HTTP function. No function writes that document (API
# Gateway routes no /openapi.json to one), so in the layer they are built when it is first written (pydantic's
# `defer_build`), which yields the same document (tests/deployed/test_artifacts.py). A FastAPI whose source no longer
# matches fails the build, to be looked at again.
LAYER_PATCHES = (
    Patch(
        "fastapi/openapi/models.py",
        'class BaseModelWithConfig(BaseModel):\n    model_config = {"extra": "allow"}\n',
        'class BaseModelWithConfig(BaseModel):\n    model_config = {"extra": "allow", "defer_build": True}\n',
    ),
    Patch(
        "fastapi/openapi/models.py",
        "\nSchema.model_rebuild()\nOperation.model_rebuild()\nEncoding.model_rebuild()\n",
        "\n",
    ),
)


@dataclass(frozen=True)
class Target:
    python_version: str  # "3.12"
    machine: str  # "aarch64" or "x86_64"

    @property
    def name(self) -> str:
        return f"python{self.python_version}-{self.machine}"

    @property
    def build_root(self) -> Path:
        """Where `make package` puts this target's artifacts (the tests build theirs in a folder of their own)."""
        return BUILD / self.name


@dataclass(frozen=True)
class Artifacts:
    """Where a build put each function's code (by logical id) and the layer's python/ directory."""

    root: Path
    functions: dict[str, Path]
    layer: Path
    python: str  # the interpreter that compiled them, of the target's version

    @property
    def manifest(self) -> Path:
        return self.root / "manifest.json"

    @property
    def template(self) -> Path:
        return self.root / DEPLOY_TEMPLATE


def lambda_target(template: dict[str, Any] | None = None) -> Target:
    """The runtime and architecture the template deploys every function with."""
    function = (template or load_template())["Globals"]["Function"]
    runtime = function["Runtime"]
    assert runtime.startswith("python"), runtime
    machine = {"arm64": "aarch64", "x86_64": "x86_64"}[function.get("Architectures", ["x86_64"])[0]]
    return Target(runtime.removeprefix("python"), machine)


def find_python(version: str) -> str | None:
    """An interpreter of this exact version: on PATH, in pyenv's versions, or the one running this."""
    if f"{sys.version_info.major}.{sys.version_info.minor}" == version:
        return sys.executable
    candidates = [shutil.which(f"python{version}")]
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    candidates += sorted(str(path) for path in pyenv.glob(f"{version}.*/bin/python{version}"))
    for candidate in filter(None, candidates):
        check = subprocess.run([candidate, "-c", "import sys; print(sys.version_info[:2])"], capture_output=True)
        if check.returncode == 0 and check.stdout.decode().strip() == str(tuple(map(int, version.split(".")))):
            return candidate
    return None


def host_target(template: dict[str, Any] | None = None) -> tuple[Target, str]:
    """This machine's architecture, with the template's Python version when an interpreter of it is here."""
    wanted = lambda_target(template).python_version
    python = find_python(wanted)
    version = wanted if python else f"{sys.version_info.major}.{sys.version_info.minor}"
    return Target(version, platform.machine()), python or sys.executable


def _requirements(template: dict[str, Any]) -> Path:
    layer = next(r for r in template["Resources"].values() if r["Type"] == "AWS::Serverless::LayerVersion")
    return ROOT / layer["Properties"]["ContentUri"] / "requirements.txt"


def _compile(python: str, directory: Path, deployed_at: str) -> None:
    subprocess.run(
        [python, "-m", "compileall", "-q", "-j", "0", "--invalidation-mode", "unchecked-hash"]
        + ["-s", str(directory), "-p", deployed_at, str(directory)],
        check=True,
    )


def cached_build(path: Path, make: Callable[[Path], None]) -> Path:
    """`path` in the cache, made by `make(folder)` the first time: made in a folder of its own, then renamed into
    place, so runs building it at once (two `make test`, two test processes) never see it half made."""
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(prefix=f".{path.name}-", dir=path.parent))
    try:
        make(building)
        try:
            building.rename(path)
        except OSError:  # another run put it there first
            if not path.exists():
                raise
    finally:
        shutil.rmtree(building, ignore_errors=True)
    return path


def _dependencies(target: Target, requirements: Path, python: str) -> Path:
    """The layer's third-party packages, installed and compiled once per requirements file, target and trims."""
    recipe = f"{target.name}{UNUSED_PACKAGES}{LAYER_PATCHES}".encode()
    key = hashlib.sha256(requirements.read_bytes() + recipe).hexdigest()[:16]

    def install(folder: Path) -> None:
        platforms = [arg for tag in _MANYLINUX for arg in ("--platform", f"{tag}_{target.machine}")]
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check", "--no-compile"]
            + platforms
            + ["--implementation", "cp", "--python-version", target.python_version, "--only-binary=:all:"]
            + ["--target", str(folder), "-r", str(requirements)],
            check=True,
        )
        shutil.rmtree(folder / "bin", ignore_errors=True)  # console scripts: the layer is imported, never run
        for unused in UNUSED_PACKAGES:
            shutil.rmtree(folder / unused)
        for patch in LAYER_PATCHES:
            source = folder / patch.path
            text = source.read_text()
            if text.count(patch.old) != 1:
                sys.exit(f"{patch.path} is not what infra/package.py's LAYER_PATCHES expects: look at the patch again")
            source.write_text(text.replace(patch.old, patch.new))
        _compile(python, folder, LAYER_ROOT)

    return cached_build(CACHE / "layer-deps" / f"{target.name}-{key}", install)


def _link_or_copy(source: str, destination: str) -> None:
    """A hard link (the cache and the build share one disk, usually); a copy across disks."""
    try:
        os.link(source, destination)
    except OSError:
        shutil.copy2(source, destination)


def _fresh_copy(source: Path, destination: Path) -> None:
    shutil.rmtree(destination, ignore_errors=True)
    shutil.copytree(source, destination, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


def build(target: Target, python: str, template: dict[str, Any] | None = None, root: Path | None = None) -> Artifacts:
    """Build every function and the layer for the target into `root` (build/<target>/), compiled by `python`."""
    template = template or load_template()
    root = root or target.build_root
    deps = _dependencies(target, _requirements(template), python)

    layer = root / "layer" / "python"
    shutil.rmtree(layer, ignore_errors=True)
    shutil.copytree(deps, layer, copy_function=_link_or_copy)
    shared = _requirements(template).parent
    for entry in shared.iterdir():
        if entry.is_dir() and (entry / "__init__.py").exists():
            _fresh_copy(entry, layer / entry.name)
            _compile(python, layer / entry.name, f"{LAYER_ROOT}/{entry.name}")

    functions = {}
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] == "AWS::Serverless::Function":
            code = root / "functions" / logical_id
            _fresh_copy(ROOT / resource["Properties"]["CodeUri"], code)
            _compile(python, code, TASK_ROOT)
            functions[logical_id] = code

    artifacts = Artifacts(root, functions, layer, python)
    manifest = {
        "target": target.name,
        "python": python,
        "layer": str(layer),
        "functions": {name: str(path) for name, path in functions.items()},
    }
    artifacts.manifest.write_text(json.dumps(manifest, indent=2) + "\n")
    write_deploy_template(artifacts)
    return artifacts


def write_deploy_template(artifacts: Artifacts) -> None:
    """template.yaml as `sam deploy` must be given it for these artifacts: each function's CodeUri and the layer's
    ContentUri name the built directories (relative to the written template, as SAM reads them), all else as it is.

    Parsed by SAM's own YAML reader, which turns the short intrinsic forms (!Ref, !Sub) into CloudFormation's, so the
    template is written as JSON that SAM and CloudFormation read unchanged.
    """
    from samtranslator.yaml_helper import yaml_parse

    template = yaml_parse(TEMPLATE_PATH.read_text())
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] == "AWS::Serverless::Function":
            resource["Properties"]["CodeUri"] = artifacts.functions[logical_id].relative_to(artifacts.root).as_posix()
        elif resource["Type"] == "AWS::Serverless::LayerVersion":  # the layer's zip holds python/ at its root
            resource["Properties"]["ContentUri"] = artifacts.layer.parent.relative_to(artifacts.root).as_posix()
    artifacts.template.write_text(json.dumps(template, indent=2) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", action="store_true", help="build for this machine's architecture (the tests)")
    arguments = parser.parse_args()
    template = load_template()
    if arguments.host:
        target, python = host_target(template)
    else:
        target = lambda_target(template)
        found = find_python(target.python_version)
        if not found:
            sys.exit(f"make package needs python{target.python_version} (the template's runtime) to precompile")
        python = found
    artifacts = build(target, python, template)
    print(f"built {len(artifacts.functions)} functions and the layer for {target.name} in {artifacts.root}")
    print(f"deploy them with `make deploy` (sam deploy --template-file {artifacts.template.relative_to(ROOT)})")


if __name__ == "__main__":
    main()
