"""Block vectors in an Amazon S3 Vectors index: one per block, keyed `{tenant}#{session_hex}#{order_key}`, with its
tenant, session, type and tags as filterable metadata.

Every query filters on the tenant (and the key says whose a vector is, checked again on the way out), so one index
serves all tenants. Failures are botocore's ClientError or BotoCoreError: the stream consumer retries its batch, a
search answers from the lexical index alone.
"""

from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, TypeVar

from botocore.config import Config

# The API's limits per call (S3 Vectors "Limitations and restrictions").
PUT_BATCH = 500
DELETE_BATCH = 500
GET_BATCH = 100
MAX_TOP_K = 100

T = TypeVar("T")


@lru_cache(maxsize=1)
def s3vectors_client() -> Any:
    import botocore.session

    return botocore.session.get_session().create_client(
        "s3vectors", config=Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=3, read_timeout=10)
    )


def vector_key(tenant: str, session_hex: str, order_key: str) -> str:
    return f"{tenant}#{session_hex}#{order_key}"


@dataclass(frozen=True)
class VectorItem:
    """One block's vector and the metadata a query filters on."""

    tenant: str
    session_hex: str
    order_key: str
    type: str
    vector: list[float]
    tags: list[str] = field(default_factory=list)

    @property
    def key(self) -> str:
        return vector_key(self.tenant, self.session_hex, self.order_key)

    def as_vector(self) -> dict[str, Any]:
        metadata: dict[str, Any] = {"tenant": self.tenant, "session": self.session_hex, "type": self.type}
        if self.tags:  # an empty list is no tag; left out, as the lexical index leaves `tg` out
            metadata["tags"] = list(self.tags)
        return {"key": self.key, "data": {"float32": self.vector}, "metadata": metadata}


def _chunks(values: list[T], size: int) -> Iterator[list[T]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _any_of(field_name: str, values: list[str]) -> dict[str, Any]:
    # S3 Vectors' metadata filtering: `$eq` on an array value (tags) matches when any element equals the operand (the
    # user guide's own example: {"category": {"$eq": "documentary"}} matches ["documentary", "romance"]); `$in`
    # takes a non-empty array of primitives and matches a value equal to any of them, and an array value when any
    # of its elements is among them (the guide states the any-element rule for $eq only; $in follows it, as in
    # MongoDB's filter language that S3 Vectors' follows). A missing key matches neither.
    return {field_name: {"$eq": values[0]}} if len(values) == 1 else {field_name: {"$in": list(values)}}


def query_filter(
    tenant: str, sessions: list[str] | None, types: list[str] | None, tags: list[str] | None
) -> dict[str, Any]:
    """The metadata filter of a query: the tenant always; each other list given narrows to any of its values (a
    block matches `tags` when any of its tags is listed)."""
    conditions = [{"tenant": {"$eq": tenant}}]
    for name, values in (("session", sessions), ("type", types), ("tags", tags)):
        if values is not None:
            conditions.append(_any_of(name, values))
    return conditions[0] if len(conditions) == 1 else {"$and": conditions}


class VectorStore:
    """The block vectors of one S3 Vectors index (IAM: s3vectors:PutVectors, DeleteVectors, GetVectors, and
    QueryVectors; a query that filters or returns metadata needs GetVectors as well)."""

    def __init__(self, client: Any, index_arn: str) -> None:
        self.client = client
        self.index_arn = index_arn

    def put(self, items: list[VectorItem]) -> None:
        """Write (or overwrite, by key) the items' vectors, 500 per call."""
        for chunk in _chunks(items, PUT_BATCH):
            self.client.put_vectors(indexArn=self.index_arn, vectors=[item.as_vector() for item in chunk])

    def remove(self, keys: list[str]) -> None:
        """Delete these keys' vectors, 500 per call; a key with no vector is no error."""
        for chunk in _chunks(keys, DELETE_BATCH):
            self.client.delete_vectors(indexArn=self.index_arn, keys=chunk)

    def get(self, keys: list[str]) -> dict[str, list[float]]:
        """The vectors stored under these keys (a key with none is left out), 100 per call."""
        found: dict[str, list[float]] = {}
        for chunk in _chunks(keys, GET_BATCH):
            answer = self.client.get_vectors(indexArn=self.index_arn, keys=chunk, returnData=True)
            found.update({vector["key"]: vector["data"]["float32"] for vector in answer["vectors"]})
        return found

    def query(
        self,
        vector: list[float],
        top_k: int,
        tenant: str,
        sessions: list[str] | None = None,
        types: list[str] | None = None,
        tags: list[str] | None = None,
    ) -> list[tuple[str, str, str, float]]:
        """The tenant's `top_k` (at most 100) nearest blocks to `vector` among those the filters let through, nearest
        first, as (tenant, session_hex, order_key, cosine similarity). An empty filter list matches nothing."""
        if top_k < 1:
            raise ValueError("top_k must be at least 1")
        if any(values is not None and not values for values in (sessions, types, tags)):
            return []  # S3 Vectors refuses an empty $in; nothing could match it
        answer = self.client.query_vectors(
            indexArn=self.index_arn,
            queryVector={"float32": vector},
            topK=min(top_k, MAX_TOP_K),
            filter=query_filter(tenant, sessions, types, tags),
            returnMetadata=False,  # the key says whose block it is; metadata would only lengthen the answer
            returnDistance=True,
        )
        found = []
        for match in answer["vectors"]:
            owner, session_hex, order_key = match["key"].split("#", 2)
            if owner == tenant:
                found.append((owner, session_hex, order_key, 1.0 - match["distance"]))  # cosine distance = 1 - cos
        return found
