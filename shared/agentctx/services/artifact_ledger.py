"""The artifact ledger that compaction carries: the files and paths a session touched, the decisions it stated and
the next steps it named, collected without a model from the blocks a compaction covers, so that a summary's loss of
detail never loses them.

- Extraction is deterministic and cheap: file and diff blocks' paths, tool results' path-like arguments, path-like
  words in conversation and note text (URLs, e-mail addresses and version numbers are not paths), and sentences
  of conversation and note blocks that state a decision ("we decided", "decision:", "we'll go with", "chose",
  "let's use", ...; the reason after "because"/"since") or a next step ("next step", "next:", "TODO").
- Bounded: the newest MAX_PATHS paths, MAX_DECISIONS decisions and MAX_NEXT_STEPS next steps are kept, each
  naming the newest block that stated it.
- The ledger is one pinned `note` block per session at a fixed order key (before every block), its
  content markdown that `parse` reads back, so each compaction merges into the same block.
"""

import re
from collections.abc import Callable
from typing import Any

from agentctx import ids
from agentctx.domain import Block, BlockType

LEDGER_TAG = "artifact-ledger"
# The ledger's place, the same in every session (a fork's copy of its source's ledger is its own ledger): one
# ledger a session, found with one read, sorted before every block (millisecond 0).
LEDGER_ORDER_KEY = ids.order_key_at_seeded("0" * 10, LEDGER_TAG)
LEDGER_TITLE = "# Artifact ledger"
MAX_PATHS = 200
MAX_DECISIONS = 50
MAX_NEXT_STEPS = 20
# The ledger's room: a fifth of the compaction's target, at most 4,000 tokens. Planning leaves it free; the oldest
# entries give way when the ledger would not fit.
LEDGER_SHARE = 0.2
LEDGER_MAX_TOKENS = 4_000
MAX_SENTENCE_CHARS = 300
MAX_PATH_CHARS = 512
ACTIONS = ("wrote", "edited", "read", "mentioned")  # rendered in this order

# Bare file names (no directory) count only with one of these extensions (so "e.g." and "example.com" are not files).
_FILE_EXTENSIONS = frozenset(
    "py pyi ipynb ts tsx js jsx mjs cjs json yaml yml toml ini cfg conf env md rst txt csv tsv sql sh bash zsh ps1 "  # noqa: SIM905
    "go rs java kt kts scala c h cc cpp hpp cs rb php html htm css scss less vue svelte swift m mm tf tfvars hcl "
    "proto graphql gql xml lock gradle dockerfile mk log pem patch diff".split()
)
_KNOWN_NAMES = frozenset({"Makefile", "Dockerfile", "Procfile", "Gemfile", "Rakefile", "Jenkinsfile", "Vagrantfile"})
_PATH_SHAPE = re.compile(r"(?:~/|\.{1,2}/|/)?(?:[\w.+-]+/)*[\w.+-]+/?")
_URL = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://\S+|\bwww\.\S+")
_EXTENSION = re.compile(r"[A-Za-z][A-Za-z0-9]{0,9}")
_STRIP = "\"'`()[]{}<>,;:!?*"
_PATH_ARGUMENTS = ("path", "file", "filename", "file_path", "filepath", "paths", "files", "target", "source")
_WRITE_TOOL = re.compile(r"write|create|save|put|new", re.IGNORECASE)
_EDIT_TOOL = re.compile(r"edit|patch|replace|update|apply|insert|append|delete|remove|move|rename", re.IGNORECASE)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")
_DECISION = re.compile(
    r"\b(?:decided|chose|choose to|opted for|settled on|let'?s use|let us use|let'?s go with|going with|"
    r"we(?:'ll| will| shall)? go with|we(?:'ll| will) use)\b|\bdecision\b[^:.]{0,80}:",
    re.IGNORECASE,
)
_REASON = re.compile(r",?\s*\b(?:because|since)\b\s*", re.IGNORECASE)
# A reason given in the sentence after the decision ("Reason: ...", "The deciding point: ...").
_REASON_LEAD = re.compile(r"^(?:the\s+)?(?:reason|deciding point|rationale|why)\s*:\s*|^because\s+", re.IGNORECASE)
# A user's approval of the answer to an "X or Y?" question: the answer is then a decision.
_APPROVAL = re.compile(
    r"\b(?:go with (?:that|it|this)|sounds good|agreed|let'?s do (?:that|it)|do it|ship it)\b", re.IGNORECASE
)
_NEXT_STEP = re.compile(r"\bnext steps?\b\s*(?:is|are)?\s*[:-]?|\bnext\s*:|\bTODO\b\s*:?", re.IGNORECASE)


def empty_ledger() -> dict[str, Any]:
    return {"files": {}, "decisions": [], "nextSteps": []}


def is_empty(ledger: dict[str, Any]) -> bool:
    return not (ledger["files"] or ledger["decisions"] or ledger["nextSteps"])


def extract(blocks: list[Block]) -> dict[str, Any]:
    """The artifacts of these blocks (in session order), as a ledger to merge (JSON-ready)."""
    ledger = empty_ledger()
    for block in blocks:
        for path, action in _paths_of(block):
            _touch(ledger, path, action, block.id)
        if block.type in (BlockType.CONVERSATION, BlockType.NOTE):
            for text in _texts_of(block):
                sentences = _sentences(text)
                for index, sentence in enumerate(sentences):
                    following = sentences[index + 1] if index + 1 < len(sentences) else ""
                    _add_statement(ledger, sentence, block.id, following)
        if block.type is BlockType.CONVERSATION:
            for decision in _approved_answers(block):
                _add_unique(ledger["decisions"], decision)
    return bounded(ledger)


def _approved_answers(block: Block) -> list[dict[str, Any]]:
    """Decisions made in conversation: a user asks "X or Y ...?", the assistant answers, and a later user message
    approves ("go with that", "sounds good"); the decision is the question and the answer's first sentence, its
    reason the answer's sentence that gives one."""
    messages: list[tuple[str, str]] = [
        (str(message.get("role")), message["content"])
        for message in block.content
        if isinstance(message, dict) and isinstance(message.get("content"), str)
    ]
    found = []
    for index, (role, text) in enumerate(messages[:-2]):
        answer_role, answer = messages[index + 1]
        approved = any(later == "user" and _APPROVAL.search(said) for later, said in messages[index + 2 :])
        if role != "user" or answer_role != "assistant" or " or " not in text or "?" not in text or not approved:
            continue
        sentences = _sentences(answer)
        reasons = [_REASON_LEAD.sub("", s).rstrip(".") for s in sentences[1:] if _REASON_LEAD.search(s)]
        decision = f"{' '.join(text.split())} {sentences[0]}"[:MAX_SENTENCE_CHARS] if sentences else ""
        if decision:
            found.append({"text": decision, "reason": reasons[0] if reasons else None, "block": block.id})
    return found


def merge(older: dict[str, Any], newer: dict[str, Any]) -> dict[str, Any]:
    """Both ledgers' entries, a path's actions joined and its newest block kept, then bounded."""
    merged = empty_ledger()
    for ledger in (older, newer):
        for path, entry in ledger["files"].items():
            for action in entry["actions"]:
                _touch(merged, path, action, entry["block"])
        for key in ("decisions", "nextSteps"):
            for item in ledger[key]:
                _add_unique(merged[key], item)
    return bounded(merged)


def bounded(ledger: dict[str, Any]) -> dict[str, Any]:
    """The newest entries within the bounds (by the block that last touched or stated them)."""
    newest_files = sorted(ledger["files"].items(), key=lambda item: _age(item[1]["block"]))[-MAX_PATHS:]
    return {
        "files": dict(sorted(newest_files)),
        "decisions": sorted(ledger["decisions"], key=lambda item: _age(item["block"]))[-MAX_DECISIONS:],
        "nextSteps": sorted(ledger["nextSteps"], key=lambda item: _age(item["block"]))[-MAX_NEXT_STEPS:],
    }


def _age(block_id: str) -> str:
    """A block's place in time: its order key (a fork's ledger names blocks of its source session too)."""
    return block_id[-26:]


def ledger_budget(target_tokens: int) -> int:
    """The tokens a compaction to `target_tokens` leaves for the ledger."""
    return min(LEDGER_MAX_TOKENS, int(target_tokens * LEDGER_SHARE))


def render_within(ledger: dict[str, Any], budget: int, count_tokens: Callable[[str], int]) -> str | None:
    """The ledger rendered with as many of its newest entries as fit `budget` tokens (a bisection over how many:
    O(log n) renderings); None when not even one fits."""
    ages = sorted(
        [_age(entry["block"]) for entry in ledger["files"].values()]
        + [_age(item["block"]) for key in ("decisions", "nextSteps") for item in ledger[key]]
    )

    def newest(kept: int) -> dict[str, Any]:
        oldest_kept = ages[len(ages) - kept] if kept else "~"  # "~" sorts after every order key
        return {
            "files": {path: entry for path, entry in ledger["files"].items() if _age(entry["block"]) >= oldest_kept},
            "decisions": [item for item in ledger["decisions"] if _age(item["block"]) >= oldest_kept],
            "nextSteps": [item for item in ledger["nextSteps"] if _age(item["block"]) >= oldest_kept],
        }

    low, high = 0, len(ages)  # `low` entries fit (none do, trivially); find the most that do
    while low < high:
        middle = (low + high + 1) // 2
        if count_tokens(render(newest(middle))) <= budget:
            low = middle
        else:
            high = middle - 1
    return render(newest(low)) if low else None


def render(ledger: dict[str, Any]) -> str:
    """The ledger as the markdown a model reads (and `parse` reads back)."""
    lines = [LEDGER_TITLE, "Kept by compaction from the blocks it summarised; each entry names its newest block."]
    lines += ["", "## Files"]
    lines += [
        f"- `{path}`: {', '.join(entry['actions'])} [{entry['block']}]" for path, entry in ledger["files"].items()
    ]
    lines += ["", "## Decisions"]
    lines += [
        f"- {item['text']}" + (f" (because: {item['reason']})" if item["reason"] else "") + f" [{item['block']}]"
        for item in ledger["decisions"]
    ]
    lines += ["", "## Next steps"]
    lines += [f"- {item['text']} [{item['block']}]" for item in ledger["nextSteps"]]
    return "\n".join(lines) + "\n"


_FILE_LINE = re.compile(r"^- `(?P<path>[^`]+)`: (?P<actions>[a-z, ]+) \[(?P<block>blk_[0-9a-z]+)\]$")
_DECISION_LINE = re.compile(r"^- (?P<text>.+?)(?: \(because: (?P<reason>.+)\))? \[(?P<block>blk_[0-9a-z]+)\]$")
_NEXT_LINE = re.compile(r"^- (?P<text>.+) \[(?P<block>blk_[0-9a-z]+)\]$")


def parse(text: str) -> dict[str, Any]:
    """A ledger back from its rendered text; lines not in the ledger's shape are skipped."""
    ledger = empty_ledger()
    section = ""
    for line in text.splitlines():
        if line.startswith("## "):
            section = line[3:].strip()
        elif section == "Files" and (match := _FILE_LINE.match(line)):
            actions = [action for action in match["actions"].split(", ") if action in ACTIONS]
            ledger["files"][match["path"]] = {"actions": actions, "block": match["block"]}
        elif section == "Decisions" and (match := _DECISION_LINE.match(line)):
            ledger["decisions"].append({"text": match["text"], "reason": match["reason"], "block": match["block"]})
        elif section == "Next steps" and (match := _NEXT_LINE.match(line)):
            ledger["nextSteps"].append({"text": match["text"], "block": match["block"]})
    return ledger


def is_path(word: str) -> bool:
    """Whether a word of text names a file or directory: `src/app/main.py`, `./x/y.ts`, `docs/`, `README.md`;
    not a URL, an e-mail address, a version (`v1.2.3`, `3.11`), a fraction or `and/or`."""
    if len(word) > MAX_PATH_CHARS or "://" in word or word.startswith("www.") or "@" in word or "//" in word:
        return False
    if not _PATH_SHAPE.fullmatch(word):
        return False
    last = word.rstrip("/").rsplit("/", 1)[-1]
    stem, dot, extension = last.rpartition(".")
    has_extension = bool(dot) and bool(_EXTENSION.fullmatch(extension))
    if "/" in word.rstrip("/"):
        anchored = word.startswith(("./", "../", "~/", "/")) or word.endswith("/")
        return has_extension or (anchored and any(char.isalpha() for char in word))
    if word.endswith("/"):
        return any(char.isalpha() for char in word)  # a directory: `docs/`
    return last in _KNOWN_NAMES or (has_extension and extension.lower() in _FILE_EXTENSIONS and bool(stem or dot))


def paths_in_text(text: str) -> list[str]:
    """The path-like words of a text, in order, each once."""
    found: dict[str, None] = {}
    for raw in _URL.sub(" ", text).split():
        word = raw.strip(_STRIP).rstrip(".").strip(_STRIP)
        if is_path(word):
            found[word] = None
    return list(found)


def _paths_of(block: Block) -> list[tuple[str, str]]:
    content = block.content
    if block.type is BlockType.FILE and isinstance(content, dict) and content.get("path"):
        return [(str(content["path"]), "read")]
    if block.type is BlockType.DIFF and isinstance(content, dict) and content.get("path"):
        return [(str(content["path"]), "edited")]
    if block.type is BlockType.TOOL_RESULT and isinstance(content, dict):
        tool = str(content.get("tool", ""))
        action = "wrote" if _WRITE_TOOL.search(tool) else "edited" if _EDIT_TOOL.search(tool) else "read"
        return [(path, action) for path in _argument_paths(content.get("input"))]
    if block.type in (BlockType.CONVERSATION, BlockType.NOTE):
        return [(path, "mentioned") for text in _texts_of(block) for path in paths_in_text(text)]
    return []


def _argument_paths(tool_input: Any) -> list[str]:
    """Path-like arguments of a tool call (`path`, `file`, `filename`, ...: a string or a list of strings)."""
    if not isinstance(tool_input, dict):
        return []
    paths = []
    for name in _PATH_ARGUMENTS:
        value = tool_input.get(name)
        values = value if isinstance(value, list) else [value]
        paths += [item.strip() for item in values if isinstance(item, str) and item.strip() and "://" not in item]
    return paths


def _texts_of(block: Block) -> list[str]:
    """The text of a note, or of a conversation's user and assistant messages (tool output is not prose)."""
    if isinstance(block.content, str):
        return [block.content]
    if isinstance(block.content, list):
        return [
            message["content"]
            for message in block.content
            if isinstance(message, dict)
            and message.get("role") in ("user", "assistant")
            and isinstance(message.get("content"), str)
        ]
    return []


def _sentences(text: str) -> list[str]:
    return [" ".join(part.split()) for part in _SENTENCE_END.split(text) if part and part.strip()]


def _add_statement(ledger: dict[str, Any], sentence: str, block_id: str, following: str = "") -> None:
    sentence = sentence.lstrip("-*# ").strip()[:MAX_SENTENCE_CHARS]
    next_step = _NEXT_STEP.search(sentence)
    if next_step:
        text = sentence[next_step.end() :].strip() or sentence
        _add_unique(ledger["nextSteps"], {"text": text, "block": block_id})
    elif _DECISION.search(sentence):
        reason = _REASON.search(sentence)
        text = sentence[: reason.start()].strip() if reason and reason.start() > 0 else sentence
        because = sentence[reason.end() :].strip().rstrip(".") if reason and reason.start() > 0 else None
        if because is None and _REASON_LEAD.search(following):
            because = _REASON_LEAD.sub("", following).strip().rstrip(".")[:MAX_SENTENCE_CHARS] or None
        _add_unique(ledger["decisions"], {"text": text, "reason": because or None, "block": block_id})


def _add_unique(items: list[dict[str, Any]], item: dict[str, Any]) -> None:
    """Add a statement; one said before (the same words) keeps only its newest block."""
    for index, existing in enumerate(items):
        if existing["text"].casefold() == item["text"].casefold():
            items[index] = max(existing, item, key=lambda entry: _age(entry["block"]))
            return
    items.append(item)


def _touch(ledger: dict[str, Any], path: str, action: str, block_id: str) -> None:
    if len(path) > MAX_PATH_CHARS or "`" in path or "\n" in path:
        return  # it would not read back from the rendered ledger
    entry = ledger["files"].setdefault(path, {"actions": [], "block": block_id})
    if action not in entry["actions"]:
        entry["actions"] = [known for known in ACTIONS if known in entry["actions"] or known == action]
    entry["block"] = max(entry["block"], block_id, key=_age)
