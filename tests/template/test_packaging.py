"""The Lambda layer installs the same runtime dependencies the project declares."""

import tomllib

from tests.template.conftest import ROOT


def test_layer_requirements_match_project_dependencies():
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    layer = [
        line.strip()
        for line in (ROOT / "shared" / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]

    assert sorted(layer) == sorted(dep for dep in declared if not dep.startswith("boto3"))


def test_tokenizer_rank_files_ship_inside_the_package():
    data = ROOT / "shared" / "agentctx" / "tokenizer_data"

    assert {path.name for path in data.glob("*.tiktoken.gz")} == {"o200k_base.tiktoken.gz", "cl100k_base.tiktoken.gz"}
