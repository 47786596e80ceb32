"""Probes for compaction: a long agent session with things planted in it that a reader must still be able to find
after the session is compacted (summaries in place of old blocks).

Four kinds, the ones an agent resuming a session needs most:
- fact: a value stated once (a host and port, an account id, a seat count, a bucket);
- file: a file the session touched (a diff, a file written or read), found by its path;
- decision: what was chosen and why (both the choice and the reason must survive);
- next_step: what was planned after a milestone.

The reader is scripted, not a model: a probe is answerable when every answer string occurs in one of the texts
(lowercased, whitespace collapsed). Strict on purpose: a summary that keeps "we chose a FIFO queue" but drops
"SQS FIFO" has lost the name a user would search for. Results vary with the seed, so `score_replicates` reports the
mean and spread over several seeds rather than one number.
"""

import random
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from tests.benchmarks.agent_sessions import PROJECTS, BlockSpec, SessionSpec, background_block

ProbeKind = Literal["fact", "file", "decision", "next_step"]
PROBE_KINDS: tuple[ProbeKind, ...] = ("fact", "file", "decision", "next_step")


@dataclass(frozen=True)
class Probe:
    kind: ProbeKind
    question: str
    answers: tuple[str, ...]
    block_index: int


@dataclass(frozen=True)
class ProbedSession:
    session: SessionSpec
    probes: list[Probe]


def _normalise(text: str) -> str:
    return " ".join(text.split()).lower()


def answerable(probe: Probe, texts: Sequence[str]) -> bool:
    """Whether every answer string of the probe occurs in one of the texts (case and whitespace ignored)."""
    normalised = [_normalise(text) for text in texts]
    return all(any(_normalise(answer) in text for text in normalised) for answer in probe.answers)


def count_answerable(probes: Sequence[Probe], texts: Sequence[str]) -> dict[str, int]:
    """Answerable probes by kind, and under "all" their total."""
    counts: dict[str, int] = {kind: 0 for kind in PROBE_KINDS}
    for probe in probes:
        counts[probe.kind] += answerable(probe, texts)
    counts["all"] = sum(counts.values())
    return counts


@dataclass(frozen=True)
class Spread:
    mean: float
    stdev: float
    minimum: int
    maximum: int


def spread_over_replicates(counts: Sequence[Mapping[str, int]]) -> dict[str, Spread]:
    """Mean, sample standard deviation (0 for one replicate), min and max of each key over replicates."""
    if not counts:
        raise ValueError("no replicates to summarise")
    spreads = {}
    for key in counts[0]:
        values = [replicate[key] for replicate in counts]
        stdev = statistics.stdev(values) if len(values) > 1 else 0.0
        spreads[key] = Spread(statistics.fmean(values), stdev, min(values), max(values))
    return spreads


def score_replicates(
    seeds: Sequence[int], compact: Callable[[ProbedSession], list[str]], **session_options: int
) -> dict[str, Spread]:
    """Builds the session for each seed, lets `compact` turn it into the texts that remain (summaries and kept
    blocks), and summarises how many probes those texts still answer."""
    counts = []
    for seed in seeds:
        probed = long_session(seed, **session_options)
        counts.append(count_answerable(probed.probes, compact(probed)))
    return spread_over_replicates(counts)


# Pools of planted values, each entry used at most once per session so that every question has one answer.
_ENVIRONMENTS = ["staging", "qa", "perf", "demo", "preview", "canary", "sandbox", "dr"]
_VENDORS = ["Stripe", "Adyen", "PayPal", "Twilio", "SendGrid", "Plaid", "Mollie", "Checkout.com"]
_CUSTOMERS = [
    "Acme Corp",
    "Globex",
    "Initech",
    "Umbrella Health",
    "Wayne Freight",
    "Stark Logistics",
    "Hooli",
    "Vandelay",
]
_BUCKET_CONTENTS = [
    "the nightly database dumps",
    "the invoice PDFs",
    "the raw upload manifests",
    "the model evaluation runs",
    "the access logs",
    "the customer exports",
    "the crash dumps",
    "the release artifacts",
]
_BUGS = [
    ("the rounding error in VAT totals", "billing/vat_rounding.py"),
    ("the double-sent welcome email", "notifications/welcome_once.ts"),
    ("the stuck upload progress bar", "web/upload_progress_bar.tsx"),
    ("the expired refresh tokens being accepted", "auth/refresh_expiry_check.py"),
    ("the crash on empty manifests", "ingest/empty_manifest_guard.py"),
    ("the off-by-one in pagination cursors", "api/cursor_window.py"),
    ("the wrong time zone in digests", "notifications/digest_timezone.ts"),
    ("the memory leak in the sync outbox", "sync/outbox_release.ts"),
]
_NEW_FILES = [
    ("the webhook replay tool", "tools/replay_webhooks.py"),
    ("the tenant export job", "jobs/tenant_export_job.py"),
    ("the rate limiter middleware", "api/middleware/rate_limiter.py"),
    ("the currency conversion helper", "billing/fx_convert.py"),
    ("the health check endpoint", "api/routes/healthz.py"),
    ("the load test scenario", "loadtest/checkout_scenario.js"),
    ("the audit log writer", "audit/audit_writer.py"),
    ("the feature flag client", "flags/flag_client.ts"),
]
_DECISIONS = [
    ("the job queue", "SQS FIFO", "Kinesis", "per-tenant ordering"),
    ("the session cache", "DynamoDB DAX", "ElastiCache Redis", "no VPC needed for the Lambdas"),
    ("PDF rendering", "WeasyPrint", "headless Chromium", "a 40 MB smaller deployment package"),
    ("feature flags", "AWS AppConfig", "LaunchDarkly", "no per-seat pricing"),
    ("search ranking", "BM25 with a fixed average length", "per-shard statistics", "scores stable across shards"),
    ("API tokens", "PASETO v4", "JWT with RS256", "no algorithm confusion attacks"),
    ("the CSV exports", "polars", "pandas", "three times less memory on the big exports"),
    ("frontend state", "Zustand", "Redux Toolkit", "far less boilerplate for three small stores"),
]
_NEXT_STEPS = [
    ("the migration dry run", "run the ledger_entries backfill in batches of 5,000"),
    ("the staging deploy", "flip the dual-write flag for tenant acme-eu"),
    ("the load test", "raise the reserved concurrency of IngestFunction to 40"),
    ("the security review", "rotate the webhook signing secret"),
    ("the schema change", "regenerate the TypeScript client with make generate-client"),
    ("the canary", "delete the v1 export endpoint and its docs page"),
    ("the bug bash", "triage the 14 open crash reports from the iOS beta"),
    ("the sync engine refactor", "write a property test for resolveConflict"),
]
MAX_PROBES_PER_KIND = 8

PlantedProbe = tuple[BlockSpec, str, tuple[str, ...]]


def _fact(rng: random.Random, index: int) -> PlantedProbe:
    variant = index % 4
    if variant == 0:
        env = _ENVIRONMENTS[index]
        address = f"db-{env}-{rng.randrange(16**4):04x}.internal:{rng.choice([5432, 5433, 6432])}"
        text = f"The {env} database is at {address}; connect through the bastion, never from a laptop directly."
        return BlockSpec("note", text), f"What host and port is the {env} database on?", (address,)
    if variant == 1:
        vendor = _VENDORS[index]
        account = f"acct_{rng.randrange(16**10):010x}"
        messages = [
            {"role": "user", "content": f"Which {vendor} account do the integration tests use?"},
            {"role": "assistant", "content": f"The sandbox one, {account}. The live account is never used in CI."},
        ]
        return BlockSpec("conversation", messages), f"What is our {vendor} sandbox account id?", (account,)
    if variant == 2:
        customer = _CUSTOMERS[index]
        seats = f"{rng.randrange(37, 998)} seats"
        messages = [
            {"role": "user", "content": f"Why does {customer} see a different seat limit?"},
            {"role": "assistant", "content": f"{customer} is on the legacy plan with a custom limit of {seats}."},
        ]
        return BlockSpec("conversation", messages), f"How many seats does {customer} have?", (seats,)
    contents = _BUCKET_CONTENTS[index]
    bucket = f"s3://corp-{rng.randrange(16**6):06x}-{contents.split()[-1]}"
    output = f"{bucket}/\n  PRE 2026/\n  PRE latest/\n(holds {contents})"
    block = BlockSpec("tool_result", {"tool": "bash", "input": {"command": f"aws s3 ls {bucket}/"}, "output": output})
    return block, f"Which bucket holds {contents}?", (bucket,)


def _file(rng: random.Random, index: int) -> PlantedProbe:
    if index % 2 == 0:
        bug, path = _BUGS[index]
        diff = (
            f"--- a/{path}\n+++ b/{path}\n@@ -12,4 +12,5 @@\n"
            f"-    return total\n+    # fixes {bug}\n+    return adjusted(total)\n"
        )
        return BlockSpec("diff", {"path": path, "diff": diff}), f"Which file did we change to fix {bug}?", (path,)
    purpose, path = _NEW_FILES[index]
    block = BlockSpec(
        "tool_result",
        {
            "tool": "write_file",
            "input": {"path": path},
            "output": f"wrote {rng.randrange(400, 9000)} bytes ({purpose})",
        },
    )
    return block, f"Which file did we create for {purpose}?", (path,)


def _decision(rng: random.Random, index: int) -> PlantedProbe:
    area, choice, alternative, reason = _DECISIONS[index]
    question = f"What did we choose for {area}, and why?"
    if rng.random() < 0.5:
        note = f"Decision for {area}: {choice}, not {alternative}. Reason: {reason}."
        return BlockSpec("note", note), question, (choice, reason)
    messages = [
        {"role": "user", "content": f"{choice} or {alternative} for {area}?"},
        {"role": "assistant", "content": f"{choice}. The deciding point: {reason}. {alternative} would work too."},
        {"role": "user", "content": "OK, go with that."},
    ]
    return BlockSpec("conversation", messages), question, (choice, reason)


def _next_step(rng: random.Random, index: int) -> PlantedProbe:
    milestone, step = _NEXT_STEPS[index]
    messages = [
        {"role": "user", "content": f"{milestone.capitalize()} went fine. What now?"},
        {"role": "assistant", "content": f"Next step: {step}. I'll start once you confirm."},
    ]
    return BlockSpec("conversation", messages), f"What did we plan to do after {milestone}?", (step,)


_PLANTERS: dict[ProbeKind, Callable[[random.Random, int], PlantedProbe]] = {
    "fact": _fact,
    "file": _file,
    "decision": _decision,
    "next_step": _next_step,
}


def long_session(seed: int, blocks: int = 1000, probes_per_kind: int = 6) -> ProbedSession:
    """A session of `blocks` blocks with `probes_per_kind` probes of each kind spread evenly through it, so
    compaction reaches early probes first and the last ones may stay verbatim.

    - The same seed gives the same session and probes.
    - Each probe's answers occur in its own block and in no background block.
    """
    if not 1 <= probes_per_kind <= MAX_PROBES_PER_KIND:
        raise ValueError(f"probes_per_kind must be 1 to {MAX_PROBES_PER_KIND}, got {probes_per_kind}")
    rng = random.Random(seed)
    project = rng.choice(PROJECTS)
    order = [(kind, index) for index in range(probes_per_kind) for kind in PROBE_KINDS]
    rng.shuffle(order)
    if blocks < len(order):
        raise ValueError(f"a session of {blocks} blocks cannot hold {len(order)} probes")
    stride = blocks / len(order)
    positions = {int(stride * (slot + rng.uniform(0.1, 0.9))): planned for slot, planned in enumerate(order)}
    session_blocks: list[BlockSpec] = []
    probes: list[Probe] = []
    for block_index in range(blocks):
        if block_index in positions:
            kind, index = positions[block_index]
            block, question, answers = _PLANTERS[kind](rng, index)
            session_blocks.append(block)
            probes.append(Probe(kind, question, answers, block_index))
        else:
            session_blocks.append(background_block(rng, project))
    return ProbedSession(
        SessionSpec(f"{project.name}-long-{seed}", [project.name, "compaction-bench"], session_blocks), probes
    )
