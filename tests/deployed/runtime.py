"""What Lambda's managed Python runtime brings, rebuilt here: an interpreter with nothing installed (a venv
without pip, of the artifacts' Python version) and the runtime directory holding boto3, compiled as Lambda's is."""

import platform
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from infra.package import BUILD, Artifacts


@dataclass(frozen=True)
class LambdaRuntime:
    python: Path
    runtime_dir: Path


def managed_runtime(artifacts: Artifacts) -> LambdaRuntime:
    """Built once per Python version, architecture and boto3 version, under build/lambda-runtime/."""
    import boto3

    version = subprocess.run(
        [artifacts.python, "-c", "import sys; print(f'{sys.version_info[0]}.{sys.version_info[1]}')"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    root = BUILD / "lambda-runtime" / f"python{version}-{platform.machine()}-boto3-{boto3.__version__}"
    if not (root / ".complete").exists():
        shutil.rmtree(root, ignore_errors=True)
        subprocess.run([artifacts.python, "-m", "venv", "--without-pip", str(root / "interpreter")], check=True)
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "-q", "--no-compile", "--disable-pip-version-check"]
            + ["--target", str(root / "runtime"), f"boto3=={boto3.__version__}"],
            check=True,
        )
        subprocess.run([artifacts.python, "-m", "compileall", "-q", "-j", "0", str(root / "runtime")], check=True)
        (root / ".complete").touch()
    return LambdaRuntime(root / "interpreter" / "bin" / "python3", root / "runtime")
