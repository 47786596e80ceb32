"""Requests whose work does not grow with the session: the same DynamoDB calls at two sizes, bounded responses,
filters that read only matching blocks, and a delete purged in the background.

The service's size thresholds are lowered for every test in this folder, so that a "large" session of a few hundred
blocks crosses them as one of thousands crosses the real ones; `make bench` (tests/benchmarks/bounded_bench.py) runs
the real sizes. A fork copies its first 100 source blocks at once whatever the thresholds, so its sessions stay above
100 blocks.
"""

import pytest

from tests.conftest import InstantPacer
from tests.integration.bounded_requests.helpers import ASSEMBLY_PAGE, LISTED_IDS, SCANNED


@pytest.fixture(autouse=True)
def lowered_thresholds(monkeypatch: pytest.MonkeyPatch, instant_pacing: InstantPacer) -> None:
    """The thresholds lowered, and the background jobs' pacing counted instead of slept."""
    monkeypatch.setattr("agentctx.services.sessions.MAX_LISTED_IDS", LISTED_IDS)
    monkeypatch.setattr("agentctx.store.block_listing.MAX_SCANNED", SCANNED)
    monkeypatch.setattr("agentctx.services.context.PAGE_SIZE", ASSEMBLY_PAGE)
