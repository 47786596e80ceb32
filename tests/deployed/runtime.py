"""What Lambda's managed Python runtime brings, rebuilt here: an interpreter with nothing installed (a venv
without pip, of the artifacts' Python version) and the runtime directory holding boto3, compiled as Lambda's is."""

import platform
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from infra.package import CACHE, Artifacts, cached_build


@dataclass(frozen=True)
class LambdaRuntime:
    python: Path
    runtime_dir: Path


def managed_runtime(artifacts: Artifacts) -> LambdaRuntime:
    """Built once per Python version, architecture and boto3 version, in the build cache (infra/package.py)."""
    import boto3

    version = subprocess.run(
        [artifacts.python, "-c", "import sys; print(f'{sys.version_info[0]}.{sys.version_info[1]}')"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()

    def make(folder: Path) -> None:
        # a venv without pip runs from wherever it is moved (its prefix is where its pyvenv.cfg is)
        subprocess.run([artifacts.python, "-m", "venv", "--without-pip", str(folder / "interpreter")], check=True)
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "-q", "--no-compile", "--disable-pip-version-check"]
            + ["--target", str(folder / "runtime"), f"boto3=={boto3.__version__}"],
            check=True,
        )
        subprocess.run([artifacts.python, "-m", "compileall", "-q", "-j", "0", str(folder / "runtime")], check=True)

    name = f"python{version}-{platform.machine()}-boto3-{boto3.__version__}"
    root = cached_build(CACHE / "lambda-runtime" / name, make)
    return LambdaRuntime(root / "interpreter" / "bin" / "python3", root / "runtime")
