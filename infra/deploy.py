"""`make deploy`: `sam deploy` of exactly what `make package` built.

Plain `sam deploy` uploads what template.yaml's CodeUri and ContentUri name: the sources, and a layer of our code and
a requirements file without the dependencies it lists. `make package` writes build/<target>/template.json beside the
artifacts, naming them instead; this deploys that template, with the project's samconfig.toml (SAM looks for it
beside the template otherwise) and the arguments given after it (make's ARGS).
"""

import os
import sys

from infra.package import DEPLOY_TEMPLATE, ROOT, lambda_target


def main() -> None:
    template = lambda_target().build_root / DEPLOY_TEMPLATE
    if not template.exists():
        sys.exit(f"{template} is missing: `make package` writes it (`make deploy` runs it first)")
    sam = os.environ.get("SAM", "sam")
    command = [sam, "deploy", "--template-file", str(template), "--config-file", str(ROOT / "samconfig.toml")]
    command += sys.argv[1:]
    print(" ".join(command), flush=True)
    try:
        os.execvp(sam, command)
    except FileNotFoundError:
        sys.exit(f"{sam} not found: the Makefile installs the SAM CLI in .venv/sam (`make .venv/.installed`)")


if __name__ == "__main__":
    main()
