"""Realistic background for the search and compaction benchmarks: the blocks a coding agent's session piles up
(asks, answers, shell output, files read, diffs, notes) around the planted facts.

The background matters as much as the facts: it shares the facts' vocabulary (the same project's modules,
identifiers and topics), so a search that only counts words, or only compares meanings, meets near misses.
Everything is drawn from a `random.Random` the caller seeds, so a seed names one corpus.
"""

import random
from dataclasses import dataclass, field
from typing import Any

from agentctx.domain import BlockType, render_block_text


@dataclass(frozen=True)
class BlockSpec:
    """One block as `POST /v1/aip/sessions/{id}/blocks` takes it (content shaped per type, as docs/api.md says)."""

    type: str
    content: Any
    tags: list[str] = field(default_factory=list)
    pinned: bool = False

    def as_block_in(self) -> dict[str, Any]:
        """The request body item for this block."""
        return {"type": self.type, "content": self.content, "tags": list(self.tags), "pinned": self.pinned}

    def text(self) -> str:
        """The text the service indexes and a model sees (the service's own rendering, so they cannot differ)."""
        return render_block_text(BlockType(self.type), self.content)


@dataclass(frozen=True)
class SessionSpec:
    name: str
    tags: list[str]
    blocks: list[BlockSpec]


@dataclass(frozen=True)
class Project:
    """What a session works on: the words its background and its facts share."""

    name: str
    language: str
    paths: list[str]
    identifiers: list[str]
    topics: list[str]
    test_command: str


PROJECTS = [
    Project(
        "billing-api",
        "python",
        ["billing/invoices.py", "billing/ledger.py", "billing/credits.py", "billing/tax.py", "tests/test_invoices.py"],
        ["InvoiceService", "ledger_entries", "apply_credit", "tenant_id", "issue_invoice", "TaxRate", "close_period"],
        ["invoice totals", "credit notes", "tax rounding", "period close", "refunds"],
        "pytest -q tests/",
    ),
    Project(
        "web-dashboard",
        "typescript",
        ["src/components/UsageChart.tsx", "src/hooks/useSession.ts", "src/api/client.ts", "src/pages/Billing.tsx"],
        ["fetchUsage", "SessionProvider", "useSession", "UsageChart", "apiClient", "formatBytes", "refreshToken"],
        ["usage chart", "session refresh", "dark mode", "loading states", "table pagination"],
        "npm test -- --watchAll=false",
    ),
    Project(
        "ingest-pipeline",
        "python",
        ["ingest/upload_worker.py", "ingest/manifest.py", "ingest/s3_client.py", "ingest/queue.py", "ingest/dedupe.py"],
        ["UploadWorker", "MAX_RETRIES", "put_object", "ManifestEntry", "receive_messages", "chunk_size", "dedupe_key"],
        ["multipart uploads", "manifest parsing", "queue backpressure", "duplicate files", "S3 throttling"],
        "pytest -q ingest/tests",
    ),
    Project(
        "auth-service",
        "python",
        ["auth/tokens.py", "auth/jwks.py", "auth/sessions.py", "auth/middleware.py", "auth/password.py"],
        ["issue_token", "verify_jwt", "JWKSCache", "refresh_token", "SessionStore", "hash_password", "audience"],
        ["token refresh", "key rotation", "session expiry", "password hashing", "login throttling"],
        "pytest -q auth/tests",
    ),
    Project(
        "mobile-sync",
        "typescript",
        [
            "src/sync/engine.ts",
            "src/sync/conflicts.ts",
            "src/db/schema.ts",
            "src/net/backoff.ts",
            "src/store/outbox.ts",
        ],
        ["SyncEngine", "resolveConflict", "Outbox", "lastSyncedAt", "backoffDelay", "applyPatch", "deviceId"],
        ["offline edits", "conflict resolution", "sync backoff", "schema migrations", "outbox flushing"],
        "npx jest src/sync",
    ),
    Project(
        "search-indexer",
        "python",
        ["indexer/tokenize.py", "indexer/postings.py", "indexer/ranker.py", "indexer/consumer.py", "indexer/embed.py"],
        ["tokenize", "PostingList", "bm25_score", "StreamConsumer", "embed_batch", "shard_for", "merge_segments"],
        ["tokenizer rules", "posting lists", "ranking weights", "stream lag", "embedding batches"],
        "pytest -q indexer/tests",
    ),
    Project(
        "notifications",
        "typescript",
        ["src/email/send.ts", "src/queue/consumer.ts", "src/templates/render.ts", "src/webhooks/retry.ts"],
        ["sendEmail", "QueueConsumer", "renderTemplate", "webhookRetry", "unsubscribeToken", "SesClient", "digestJob"],
        ["email bounces", "webhook retries", "template rendering", "daily digest", "unsubscribe links"],
        "npm run test:unit",
    ),
    Project(
        "deploy-pipeline",
        "yaml",
        [".github/workflows/deploy.yml", "infra/template.yaml", "infra/samconfig.toml", "scripts/release.sh"],
        ["DeployRole", "StackName", "MemorySize", "ReservedConcurrency", "canary10Percent5Minutes", "artifactBucket"],
        ["canary deploys", "rollback alarms", "build caching", "release tags", "stack parameters"],
        "make test",
    ),
    Project(
        "feature-store",
        "python",
        ["features/registry.py", "features/materialize.py", "features/online_store.py", "features/backfill.py"],
        [
            "FeatureView",
            "materialize_range",
            "OnlineStore",
            "entity_key",
            "ttl_seconds",
            "backfill_job",
            "point_in_time",
        ],
        ["point-in-time joins", "materialization jobs", "online store latency", "feature TTLs", "backfills"],
        "pytest -q features/tests",
    ),
    Project(
        "agentctl",
        "python",
        ["agentctl/cli.py", "agentctl/config.py", "agentctl/client.py", "agentctl/output.py", "agentctl/auth.py"],
        ["main", "load_config", "ApiClient", "render_table", "--profile", "AGENTCTL_HOME", "login_command"],
        ["config profiles", "table output", "login flow", "shell completion", "error messages"],
        "pytest -q tests/cli",
    ),
]

_ASKS = [
    "Can you look at {path}? The {topic} part seems off since yesterday's change.",
    "Please add a test for {ident} covering the {topic} case.",
    "Why is {ident} called twice when we handle {topic}?",
    "Let's refactor {path} so {ident} is easier to test.",
    "Run the tests again and tell me what still fails.",
    "What does {ident} do with {topic}? I don't remember writing it.",
    "Can we make the {topic} code path log less? It floods the console.",
    "Rename {ident} to something clearer, it's confusing next to the {topic} code.",
    "Check whether anything else imports {path} before we move it.",
    "OK, commit that and move on to {topic}.",
]
_ANSWERS = [
    "I read {path}. {ident} handles {topic} in two places; I'll merge them into one helper and keep the behaviour.",
    "The failing case was an ordering assumption in {ident}. I changed the test to sort before comparing.",
    "{ident} is only used by {path}. Moving it is safe; I'll update the import and run the tests.",
    "Done: {ident} now takes the {topic} settings as an argument instead of reading globals. All tests pass.",
    "I couldn't reproduce the {topic} problem locally. Could you paste the exact command you ran?",
    "There are three callers of {ident}. Two pass the same defaults, so I'll make those the defaults.",
    "I added logging around {ident} at debug level so the {topic} path stays quiet by default.",
    "The change touches {path} only. I kept the public signature of {ident} unchanged.",
]
_NOTES = [
    "TODO: revisit {topic} once {ident} has tests.",
    "Reminder: {path} has no type hints yet.",
    "{ident} is slow on large inputs; measure before optimising.",
    "Ask the team whether {topic} needs a feature flag.",
    "Naming: keep {ident} as is, the docs refer to it.",
]


def _slots(rng: random.Random, project: Project) -> dict[str, str]:
    return {
        "path": rng.choice(project.paths),
        "ident": rng.choice(project.identifiers),
        "topic": rng.choice(project.topics),
    }


def _test_output(rng: random.Random, project: Project) -> str:
    passed = rng.randint(12, 240)
    if project.language == "typescript":
        return (
            f"PASS {rng.choice(project.paths)}\nTests:       {passed} passed, {passed} total\n"
            f"Time:        {rng.uniform(1, 9):.2f} s"
        )
    return f"{'.' * min(passed, 60)}\n{passed} passed in {rng.uniform(0.5, 20):.2f}s"


def _grep_output(rng: random.Random, project: Project) -> tuple[dict[str, Any], str]:
    ident = rng.choice(project.identifiers)
    lines = [f"{rng.choice(project.paths)}:{rng.randint(3, 400)}:    {ident}({rng.choice(project.topics).split()[0]})"]
    lines += [
        f"{rng.choice(project.paths)}:{rng.randint(3, 400)}:from . import {ident}" for _ in range(rng.randint(0, 3))
    ]
    return {"command": f"grep -rn {ident} ."}, "\n".join(lines)


def code_snippet(rng: random.Random, project: Project) -> tuple[str, str]:
    """A short source file in the project's language, and the language's name."""
    ident, other = rng.sample(project.identifiers, 2)
    topic = rng.choice(project.topics)
    if project.language == "typescript":
        name = ident.strip("-").replace("_", "")
        return (
            f"// {topic}\nexport async function {name}(input: Request): Promise<Response> {{\n"
            f"  const result = await {other.strip('-')}(input);\n  if (!result.ok) {{\n"
            f"    throw new Error(`{name} failed: ${{result.status}}`);\n  }}\n  return result;\n}}\n"
        ), "typescript"
    if project.language == "yaml":
        return (
            f"# {topic}\n{ident}:\n  Type: AWS::Serverless::Function\n  Properties:\n"
            f"    MemorySize: {rng.choice([256, 512, 1024])}\n    Timeout: {rng.choice([10, 30, 60])}\n"
            f"    Environment:\n      Variables:\n        LOG_LEVEL: INFO\n"
        ), "yaml"
    name = ident.strip("-").lower()
    return (
        f'"""{topic.capitalize()}."""\n\n\ndef {name}(payload: dict) -> dict:\n'
        f"    result = {other.strip('-').lower()}(payload)\n    if not result:\n"
        f'        raise ValueError("{name}: empty result")\n    return result\n'
    ), "python"


def background_block(rng: random.Random, project: Project) -> BlockSpec:
    """One block of ordinary session traffic: not worth finding again, but worded like the things that are."""
    roll = rng.random()
    slots = _slots(rng, project)
    tags = [project.name] if rng.random() < 0.3 else []
    if roll < 0.25:
        return BlockSpec("conversation", [{"role": "user", "content": rng.choice(_ASKS).format(**slots)}], tags)
    if roll < 0.5:
        return BlockSpec("conversation", [{"role": "assistant", "content": rng.choice(_ANSWERS).format(**slots)}], tags)
    if roll < 0.62:
        return BlockSpec(
            "tool_result",
            {"tool": "bash", "input": {"command": project.test_command}, "output": _test_output(rng, project)},
            tags,
        )
    if roll < 0.72:
        tool_input, output = _grep_output(rng, project)
        return BlockSpec("tool_result", {"tool": "bash", "input": tool_input, "output": output}, tags)
    if roll < 0.84:
        code, language = code_snippet(rng, project)
        return BlockSpec("file", {"path": slots["path"], "content": code, "language": language}, tags)
    if roll < 0.92:
        code, _ = code_snippet(rng, project)
        body = "\n".join(f"+{line}" for line in code.splitlines()[:5])
        diff = f"--- a/{slots['path']}\n+++ b/{slots['path']}\n@@ -1,3 +1,5 @@\n{body}"
        return BlockSpec("diff", {"path": slots["path"], "diff": diff}, tags)
    return BlockSpec("note", rng.choice(_NOTES).format(**slots), tags)
