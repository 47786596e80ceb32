"""The lexical side of search: a block's terms, their impacts, and the postings, block records and counts of the
search table (SearchTable), with the one read a search makes.

Items (every partition key starts with the tenant, so no read can reach another tenant's postings):
- posting:      pk `T#{tenant}#W#{term}`, sk `{session}#{imp6}#{order key}`, isk `{imp6}#{session}#{order key}`,
                `ty` (the block's type), `tg` (its tags; left out when none). `imp6` sorts the most impactful first,
                so a session's top postings of a term are one Query on sk, the tenant's one Query on the index
                ByImpact (pk, isk).
- block record: pk `T#{tenant}#S#{session}`, sk `B#{order key}`: `terms` (`{term}#{imp6}` of each posting, so
                they can be replaced or deleted without the block's text) and `dl` (its term count).
- counts:       sk `N` with `docs`, the blocks indexed: pk `T#{tenant}#N` for the tenant, and the session's
                block-record pk for the session. Changed only in the transaction that creates or deletes a block
                record, so a record indexed or removed twice counts once.
"""

import re
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from botocore.exceptions import ClientError

from agentctx.store.dynamo import (
    batch_get,
    batch_write,
    cancellation_codes,
    dynamodb_client,
    from_item,
    to_item,
    with_conflict_retry,
)

BY_IMPACT_INDEX = "ByImpact"
COUNT_SK = "N"
BLOCK_RECORD_SK_PREFIX = "B#"

MAX_TERM_LENGTH = 64
MAX_BLOCK_TERMS = 300
MAX_QUERY_TERMS = 12
# The postings a search reads of each term: its most impactful. A rare term (an identifier, an error code) has
# fewer; a common one is cut here, which bounds the read and costs little, since common terms weigh little.
POSTINGS_PER_TERM = 50
# With more sessions named than this, one read of the tenant's postings filtered on them is cheaper than one each.
MAX_SESSION_READS = 3
READ_THREADS = 8
# BM25's term-frequency part with a fixed average block length: an impact depends on the block alone, so it is
# computed once, when the block is indexed.
K1, B, AVERAGE_LENGTH = 1.2, 0.75, 120
IMPACT_SCALE = 999_999

TOKEN = re.compile(r"[A-Za-z0-9]+(?:[_.\-/:][A-Za-z0-9]+)*")
SEPARATOR = re.compile(r"[_.\-/:]")
CAMEL_PART = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z0-9]+|[A-Z0-9]+")
# English words too common to tell blocks apart.
STOPWORD_TEXT = """
    a about above after again against all am an and any are as at be because been before being below between both
    but by can could did do does doing down during each few for from further had has have having he her here hers
    herself him himself his how if in into is it its itself just me more most my myself no nor not now of off on
    once only or other our ours ourselves out over own same she should so some such than that the their theirs them
    themselves then there these they this those through to too under until up very was we were what when where which
    while who whom why will with would you your yours yourself yourselves also may might must shall us i via per etc
"""
STOPWORDS = frozenset(STOPWORD_TEXT.split())


@lru_cache(maxsize=1)
def _english_stemmer() -> Any:
    """Made on first use: its import costs ~18 ms, paid by a search or an indexing, not by every function."""
    from snowballstemmer.english_stemmer import EnglishStemmer

    return EnglishStemmer()


_STEMMER_LOCK = threading.Lock()


@lru_cache(maxsize=65_536)
def stem(word: str) -> str:
    """The English Snowball stem of a plain word (`retries`, `retried`: `retri`), so a query finds the other forms
    of its words. Cached, since the stemmer is pure Python (~90 us a word) and a session's vocabulary repeats; one
    call at a time, since the stemmer keeps the word it works on."""
    with _STEMMER_LOCK:
        return str(_english_stemmer().stemWord(word))


def terms(text: str) -> Counter[str]:
    """The lowercased terms of `text`, with how often each occurs; queries and blocks both go through it.

    - A compound token (`ERR_CONN_RESET`, `src/auth.ts`) counts whole and as each of its parts; a camelCase part
      whole and as its words (`parseConfig`: `parseconfig`, `parse`, `config`).
    - Stopwords and one-character terms are left out; a term is cut at 64 characters; a plain word (letters only)
      is stemmed.
    - In order of first occurrence (MAX_BLOCK_TERMS keeps the first of equally frequent terms).
    """
    found: Counter[str] = Counter()
    for match in TOKEN.finditer(text):
        token = match.group(0)
        parts = SEPARATOR.split(token)
        candidates = [token] if len(parts) > 1 else []
        for part in parts:
            words = CAMEL_PART.findall(part)
            candidates += [part, *words] if len(words) > 1 else [part]
        for candidate in candidates:
            term = candidate.lower()[:MAX_TERM_LENGTH]
            if len(term) > 1 and term not in STOPWORDS:
                found[stem(term) if term.isalpha() else term] += 1
    return found


def impact(tf: int, dl: int) -> float:
    """BM25's term-frequency weight of a term occurring `tf` times in a block of `dl` terms, divided by its bound
    (k1 + 1): in (0, 1)."""
    weight = tf * (K1 + 1) / (tf + K1 * (1 - B + B * dl / AVERAGE_LENGTH))
    return weight / (K1 + 1)


def imp6(value: float) -> str:
    """An impact as six digits that sort ascending from the most impactful."""
    return f"{IMPACT_SCALE - round(value * IMPACT_SCALE):06d}"


def impact_of(key: str) -> float:
    return (IMPACT_SCALE - int(key)) / IMPACT_SCALE


def term_pk(tenant: str, term: str) -> str:
    return f"T#{tenant}#W#{term}"


def session_pk(tenant: str, session_hex: str) -> str:
    return f"T#{tenant}#S#{session_hex}"


def tenant_count_pk(tenant: str) -> str:
    return f"T#{tenant}#N"


@dataclass
class LexicalResult:
    """What a search read: `docs` blocks in its scope, and per query term how many of its postings were read (`df`),
    whether more were left unread (`truncated`), and each block's impacts (`postings`, by (session, order key))."""

    docs: int
    df: dict[str, int] = field(default_factory=dict)
    truncated: set[str] = field(default_factory=set)
    postings: dict[tuple[str, str], dict[str, float]] = field(default_factory=dict)


class LexicalIndex:
    """The postings of a tenant's blocks by term, in the search table `table`."""

    def __init__(self, table: str) -> None:
        self.table = table

    def put(self, tenant: str, session_hex: str, order_key: str, block_type: str, tags: list[str], text: str) -> None:
        """Index a block under its MAX_BLOCK_TERMS most frequent terms, replacing what it was indexed under before.

        - Postings are written and stale ones deleted before the block record names the new terms: a put cut short
          leaves nothing the next put or remove of the block cannot find.
        """
        counts = terms(text)
        dl = sum(counts.values())
        kept = sorted(counts.items(), key=lambda pair: -pair[1])[:MAX_BLOCK_TERMS]  # stable: first occurrence wins
        new = {term: imp6(impact(tf, dl)) for term, tf in kept}
        record = self._record(tenant, session_hex, order_key)
        old = _record_terms(record) if record else {}
        postings = [
            {"PutRequest": {"Item": self._posting(tenant, session_hex, order_key, term, key, block_type, tags)}}
            for term, key in new.items()
        ]
        stale = [
            {"DeleteRequest": {"Key": self._posting_key(tenant, session_hex, order_key, term, key)}}
            for term, key in old.items()
            if new.get(term) != key
        ]
        if postings or stale:
            batch_write(self.table, postings + stale)
        item = to_item(
            {
                "pk": session_pk(tenant, session_hex),
                "sk": BLOCK_RECORD_SK_PREFIX + order_key,
                "terms": [f"{term}#{key}" for term, key in new.items()],
                "dl": dl,
            }
        )
        if record:
            dynamodb_client().put_item(TableName=self.table, Item=item)
        elif not self._transact(
            {"Put": {"TableName": self.table, "Item": item, "ConditionExpression": "attribute_not_exists(pk)"}},
            tenant,
            session_hex,
            1,
        ):
            dynamodb_client().put_item(TableName=self.table, Item=item)  # created meanwhile, and counted then

    def remove(self, tenant: str, session_hex: str, order_key: str) -> bool:
        """Delete a block's postings and record; False when it was not indexed (or another remove got there first)."""
        record = self._record(tenant, session_hex, order_key)
        if record is None:
            return False
        stale = [
            {"DeleteRequest": {"Key": self._posting_key(tenant, session_hex, order_key, term, key)}}
            for term, key in _record_terms(record).items()
        ]
        batch_write(self.table, stale)
        key = to_item({"pk": session_pk(tenant, session_hex), "sk": BLOCK_RECORD_SK_PREFIX + order_key})
        delete = {"Delete": {"TableName": self.table, "Key": key, "ConditionExpression": "attribute_exists(pk)"}}
        return self._transact(delete, tenant, session_hex, -1)

    def search(
        self,
        tenant: str,
        query_terms: list[str],
        sessions: list[str] | None,
        types: list[str] | None,
        tags: list[str] | None,
        per_term: int = POSTINGS_PER_TERM,
    ) -> LexicalResult:
        """The top `per_term` postings of each of the first MAX_QUERY_TERMS terms in the tenant, or in `sessions`,
        of a block with one of `types` and one of `tags` (None or empty: any), and the scope's block count.

        - One Query per term and session (with up to MAX_SESSION_READS sessions named) or per term (the tenant's
          ByImpact index, filtered on the sessions when more are named), run concurrently, plus one BatchGetItem
          of the counts.
        """
        wanted = list(dict.fromkeys(query_terms))[:MAX_QUERY_TERMS]
        sessions = list(dict.fromkeys(sessions)) if sessions else None
        per_session = sessions is not None and len(sessions) <= MAX_SESSION_READS
        scopes: list[str | None] = list(sessions) if sessions and per_session else [None]
        reads = [(term, scope) for term in wanted for scope in scopes]
        filters = _Filters(types or None, tags or None, None if per_session else sessions)
        with ThreadPoolExecutor(max_workers=READ_THREADS) as pool:
            docs = pool.submit(self._docs, tenant, sessions)
            pages = list(pool.map(lambda read: self._read(tenant, read[0], read[1], filters, per_term), reads))
        result = LexicalResult(docs=docs.result(), df=dict.fromkeys(wanted, 0))
        for (term, _), (items, more) in zip(reads, pages, strict=True):
            result.df[term] += len(items)
            if more:
                result.truncated.add(term)
            for item in items:
                session_hex, key, order_key = item["sk"]["S"].split("#", 2)
                result.postings.setdefault((session_hex, order_key), {})[term] = impact_of(key)
        return result

    def _read(
        self, tenant: str, term: str, session_hex: str | None, filters: "_Filters", limit: int
    ) -> tuple[list[dict[str, Any]], bool]:
        """One Query: a term's top postings in a session, or in the tenant; and whether more were left unread."""
        values: dict[str, Any] = {":pk": {"S": term_pk(tenant, term)}}
        request: dict[str, Any] = {"TableName": self.table, "Limit": limit, "ProjectionExpression": "sk"}
        if session_hex is None:
            request |= {"IndexName": BY_IMPACT_INDEX, "KeyConditionExpression": "pk = :pk"}
        else:
            request["KeyConditionExpression"] = "pk = :pk AND begins_with(sk, :session)"
            values[":session"] = {"S": f"{session_hex}#"}
        condition, filter_values = filters.expression()
        if condition:
            request["FilterExpression"] = condition
        response = dynamodb_client().query(**request, ExpressionAttributeValues=values | filter_values)
        return response["Items"], "LastEvaluatedKey" in response

    def _docs(self, tenant: str, sessions: list[str] | None) -> int:
        pks = [tenant_count_pk(tenant)] if sessions is None else [session_pk(tenant, s) for s in sessions]
        found = batch_get(self.table, [to_item({"pk": pk, "sk": COUNT_SK}) for pk in pks])
        return sum(from_item(item).get("docs", 0) for item in found)

    def _record(self, tenant: str, session_hex: str, order_key: str) -> dict[str, Any] | None:
        key = to_item({"pk": session_pk(tenant, session_hex), "sk": BLOCK_RECORD_SK_PREFIX + order_key})
        response = dynamodb_client().get_item(TableName=self.table, Key=key, ConsistentRead=True)
        return from_item(response["Item"]) if "Item" in response else None

    def _posting_key(self, tenant: str, session_hex: str, order_key: str, term: str, key: str) -> dict[str, Any]:
        return to_item({"pk": term_pk(tenant, term), "sk": f"{session_hex}#{key}#{order_key}"})

    def _posting(
        self, tenant: str, session_hex: str, order_key: str, term: str, key: str, block_type: str, tags: list[str]
    ) -> dict[str, Any]:
        return self._posting_key(tenant, session_hex, order_key, term, key) | to_item(
            {"isk": f"{key}#{session_hex}#{order_key}", "ty": block_type, "tg": tags or None}
        )

    def _transact(self, write: dict[str, Any], tenant: str, session_hex: str, change: int) -> bool:
        """Create or delete a block record and change the tenant's and the session's counts with it, in one
        transaction; False when the record's condition failed (nothing written)."""
        counts = [
            {
                "Update": {
                    "TableName": self.table,
                    "Key": to_item({"pk": pk, "sk": COUNT_SK}),
                    "UpdateExpression": "ADD docs :change",
                    "ExpressionAttributeValues": {":change": {"N": str(change)}},
                }
            }
            for pk in (tenant_count_pk(tenant), session_pk(tenant, session_hex))
        ]
        try:
            with_conflict_retry(lambda: dynamodb_client().transact_write_items(TransactItems=[write, *counts]))
        except ClientError as error:
            if "ConditionalCheckFailed" not in cancellation_codes(error):
                raise
            return False
        return True


def _record_terms(record: dict[str, Any]) -> dict[str, str]:
    """A block record's terms, each with the imp6 of its posting."""
    return dict(entry.rsplit("#", 1) for entry in record.get("terms", []))


@dataclass
class _Filters:
    """A search's filters as one FilterExpression: any of the types, any of the tags, any of the sessions."""

    types: list[str] | None
    tags: list[str] | None
    sessions: list[str] | None

    def expression(self) -> tuple[str, dict[str, Any]]:
        clauses: list[str] = []
        values: dict[str, Any] = {}
        if self.types:
            values |= {f":ty{i}": {"S": value} for i, value in enumerate(self.types)}
            clauses.append(f"ty IN ({', '.join(f':ty{i}' for i in range(len(self.types)))})")
        if self.tags:
            values |= {f":tg{i}": {"S": value} for i, value in enumerate(self.tags)}
            clauses.append("(" + " OR ".join(f"contains(tg, :tg{i})" for i in range(len(self.tags))) + ")")
        if self.sessions:
            values |= {f":s{i}": {"S": f"{value}#"} for i, value in enumerate(self.sessions)}
            clauses.append("(" + " OR ".join(f"begins_with(sk, :s{i})" for i in range(len(self.sessions))) + ")")
        return " AND ".join(clauses), values
