"""The README and docs name only what a reader of the repository can see: no issue numbers, no private spec files,
and every repository path they give exists."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", ROOT / "clients/python/README.md", *sorted((ROOT / "docs").glob("*.md"))]
UNSEEN = re.compile(r"\bseeds? \d{3}\b|\bissues? #?\d+\b|\.\./shared\b|shared/seeds", re.IGNORECASE)
# A path inside the repository, as the docs quote them: `functions/...`, `tests/...py`, `docs/x.md`...
REPOSITORY_PATH = re.compile(r"`((?:functions|shared|infra|tests|docs|clients)/[A-Za-z0-9_./-]+)`")


@pytest.mark.parametrize("doc", DOCS, ids=[str(doc.relative_to(ROOT)) for doc in DOCS])
def test_a_doc_names_nothing_outside_the_repository(doc):
    text = doc.read_text()

    assert UNSEEN.findall(text) == []
    missing = [path for path in REPOSITORY_PATH.findall(text) if not (ROOT / path.rstrip("/.")).exists()]
    assert missing == []
