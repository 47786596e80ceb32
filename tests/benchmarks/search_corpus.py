"""The labelled corpus for the search benchmark: ~20 agent sessions of a few hundred blocks, with facts planted in
them and two queries per fact (the exact string a user pastes, and the same need paraphrased).

Why it is built this way:
- Every (template, subject) pair of search_facts.py is planted once, so a paraphrase names one fact in the corpus;
  siblings of the same template in other sessions (and the near misses) are the hard negatives.
- A near miss per fact shares its words and shape but not its answer, so lexical-only ranking meets traps as well
  as the semantic side.
- About a third of the facts sit inside a longer block (after a test run, an extra message, code), since a user
  hunts for a line in a long output as often as for a whole block.
- An exact query is kept only when its text occurs in its block and in no other block of the corpus (compared
  lowercased, whitespace collapsed): the label is then right whether a search is scoped to the session or to the
  whole tenant. `Corpus.dropped_exact` counts what that check removed.
"""

import random
import re
from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import accumulate
from typing import Any, Literal

from tests.benchmarks.agent_sessions import PROJECTS, BlockSpec, Project, SessionSpec, background_block, code_snippet
from tests.benchmarks.search_facts import TEMPLATES, FactTemplate

QueryKind = Literal["exact", "paraphrase"]


@dataclass(frozen=True)
class LabelledQuery:
    """A query and the one block that answers it (by its place in the corpus, since ids exist only once written)."""

    text: str
    kind: QueryKind
    session_index: int
    block_index: int
    fact_id: str


@dataclass(frozen=True)
class PlantedFact:
    fact_id: str
    template_id: str
    kind: str
    session_index: int
    block_index: int


@dataclass(frozen=True)
class Corpus:
    seed: int
    sessions: list[SessionSpec]
    queries: list[LabelledQuery]
    facts: list[PlantedFact]
    dropped_exact: int

    def block(self, session_index: int, block_index: int) -> BlockSpec:
        return self.sessions[session_index].blocks[block_index]


def normalise(text: str) -> str:
    """Lowercased with runs of whitespace made one space: how queries are matched against block text."""
    return re.sub(r"\s+", " ", text).strip().lower()


@dataclass
class _Draft:
    fact_id: str
    template: FactTemplate
    block: BlockSpec
    exact: str
    paraphrase: str


def _fill(text: str, subject: tuple[str, ...], values: dict[str, str]) -> str:
    return text.format(s=subject, **values)


def _draw_values(rng: random.Random, template: FactTemplate) -> dict[str, str]:
    return {name: rng.choice(options) for name, options in template.values.items()}


def _render(
    template: FactTemplate,
    body: str | tuple[str, ...],
    head: str,
    subject: tuple[str, ...],
    values: dict[str, str],
    tags: list[str],
) -> BlockSpec:
    """A block of the template's type from a body (the fact or its near miss)."""
    if template.type == "conversation":
        assert isinstance(body, tuple)
        messages = [
            {"role": ("user", "assistant")[i % 2], "content": _fill(text, subject, values)}
            for i, text in enumerate(body)
        ]
        return BlockSpec("conversation", messages, tags)
    assert isinstance(body, str)
    text = _fill(body, subject, values)
    head = _fill(head, subject, values)
    if template.type == "tool_result":
        return BlockSpec("tool_result", {"tool": template.tool, "input": {"command": head}, "output": text}, tags)
    if template.type == "file":
        return BlockSpec("file", {"path": head, "content": text}, tags)
    if template.type == "diff":
        return BlockSpec("diff", {"path": head, "diff": f"--- a/{head}\n+++ b/{head}\n{text}"}, tags)
    return BlockSpec(template.type, text, tags)


def _bury(rng: random.Random, project: Project, block: BlockSpec) -> BlockSpec:
    """The same fact inside a longer block: ordinary output, another message or more code around it."""
    filler_text = background_block(rng, project).text()
    content: Any = block.content
    if block.type == "conversation":
        content = [*content, {"role": "user", "content": filler_text}]
    elif block.type == "tool_result":
        content = {**content, "output": f"{filler_text}\n{content['output']}"}
    elif block.type == "file":
        code, _ = code_snippet(rng, project)
        content = {**content, "content": f"{content['content']}\n\n{code}"}
    elif block.type == "diff":
        code, _ = code_snippet(rng, project)
        added = "\n".join(f"+{line}" for line in code.splitlines()[:4])
        content = {**content, "diff": f"{content['diff']}@@ -90,2 +91,6 @@\n{added}\n"}
    else:
        content = f"{filler_text}\n\n{content}"
    return BlockSpec(block.type, content, block.tags, block.pinned)


def _plant(
    rng: random.Random, project: Project, template: FactTemplate, subject_index: int
) -> tuple[_Draft, BlockSpec]:
    """A fact block with its queries, and its near miss about a sibling subject."""
    subject = template.subjects[subject_index]
    values = _draw_values(rng, template)
    tags = [project.name] if rng.random() < 0.4 else []
    block = _render(template, template.body, template.head, subject, values, tags)
    block = BlockSpec(block.type, block.content, block.tags, pinned=template.pinned)
    if rng.random() < 0.35:
        block = _bury(rng, project, block)
    sibling = rng.choice([other for i, other in enumerate(template.subjects) if i != subject_index])
    near_head = template.head if template.near_head is None else template.near_head
    near_miss = _render(template, template.near_miss, near_head, sibling, _draw_values(rng, template), tags)
    draft = _Draft(
        fact_id=f"{template.id}/{subject_index}",
        template=template,
        block=block,
        exact=_fill(template.exact, subject, values),
        paraphrase=_fill(template.paraphrase, subject, values),
    )
    return draft, near_miss


def _session_plan(rng: random.Random, session_count: int) -> list[list[tuple[FactTemplate, int]]]:
    """Every (template, subject) pair once, dealt round-robin over the sessions after a seeded shuffle."""
    pairs = [(template, index) for template in TEMPLATES for index in range(len(template.subjects))]
    rng.shuffle(pairs)
    return [pairs[i::session_count] for i in range(session_count)]


def build_corpus(seed: int = 1, session_count: int = 20, blocks_per_session: int = 250) -> Corpus:
    """The corpus for a seed: the same seed gives the same sessions, blocks and queries."""
    rng = random.Random(seed)
    sessions: list[SessionSpec] = []
    placed: list[tuple[_Draft, int, int]] = []
    for session_index, planned in enumerate(_session_plan(rng, session_count)):
        project = PROJECTS[session_index % len(PROJECTS)]
        planted = [_plant(rng, project, template, subject) for template, subject in planned]
        background = max(blocks_per_session - 2 * len(planted), 0)
        blocks: list[BlockSpec | _Draft] = [background_block(rng, project) for _ in range(background)]
        for draft, near_miss in planted:
            blocks.insert(rng.randrange(len(blocks) + 1), draft)
            blocks.insert(rng.randrange(len(blocks) + 1), near_miss)
        specs = []
        for block_index, item in enumerate(blocks):
            if isinstance(item, _Draft):
                placed.append((item, session_index, block_index))
                specs.append(item.block)
            else:
                specs.append(item)
        sessions.append(SessionSpec(f"{project.name}-{session_index:02d}", [project.name, "search-bench"], specs))
    return _label(seed, sessions, placed)


def occurrences(phrase: str, text: str) -> list[int]:
    """Where a phrase occurs in a normalised text as whole words (so `ENOTFOUND` is not found in
    `ModuleNotFoundError`)."""
    needle = normalise(phrase)
    found = []
    position = text.find(needle)
    while position >= 0:
        end = position + len(needle)
        before = text[position - 1 : position] if position else ""
        after = text[end : end + 1]
        # a phrase that starts or ends in punctuation needs no boundary there
        starts_clean = not (before.isalnum() and needle[0].isalnum())
        ends_clean = not (after.isalnum() and needle[-1].isalnum())
        if starts_clean and ends_clean:
            found.append(position)
        position = text.find(needle, position + 1)
    return found


def _label(seed: int, sessions: list[SessionSpec], placed: list[tuple[_Draft, int, int]]) -> Corpus:
    # One text for the corpus, blocks apart by a separator no phrase contains; a match's block by bisection.
    texts = [normalise(block.text()) for session in sessions for block in session.blocks]
    starts = list(accumulate((len(text) + 3 for text in texts[:-1]), initial=0))
    everything = " \x00 ".join(texts)
    first_block = list(accumulate((len(session.blocks) for session in sessions[:-1]), initial=0))
    queries: list[LabelledQuery] = []
    facts: list[PlantedFact] = []
    dropped = 0
    for draft, session_index, block_index in placed:
        facts.append(PlantedFact(draft.fact_id, draft.template.id, draft.template.kind, session_index, block_index))
        blocks_with_it = {bisect_right(starts, position) - 1 for position in occurrences(draft.exact, everything)}
        if blocks_with_it == {first_block[session_index] + block_index}:
            queries.append(LabelledQuery(draft.exact, "exact", session_index, block_index, draft.fact_id))
        else:
            dropped += 1
        queries.append(LabelledQuery(draft.paraphrase, "paraphrase", session_index, block_index, draft.fact_id))
    return Corpus(seed, sessions, queries, facts, dropped)


def iter_blocks(corpus: Corpus) -> Iterator[tuple[int, int, BlockSpec]]:
    """(session_index, block_index, block) for every block, in session order: what a loader writes."""
    for session_index, session in enumerate(corpus.sessions):
        for block_index, block in enumerate(session.blocks):
            yield session_index, block_index, block
