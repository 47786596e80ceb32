"""QueryVectors for the embedded S3 Vectors: moto stores vector buckets, indexes and vectors but has no query (its
request would go to AWS). Here the query is an exact search over what moto stored.

- Cosine distance (1 - cosine similarity), nearest first, `topK` of 1 to 100, `returnMetadata` and `returnDistance`.
- The metadata filter as S3 Vectors documents it: a field's condition is a value (`$eq`) or an object of operators
  ($eq $ne $gt $gte $lt $lte $in $nin $exists), several fields or operators all hold, `$and` / `$or` take non-empty
  lists of filters. An array value (tags) matches $eq, $in and the comparisons when any element does, and $ne and
  $nin when no element does (the any-element rule is the user guide's for $eq; the rest follow MongoDB's filter
  language, which S3 Vectors' follows). A missing field matches only $ne, $nin and `$exists: false`.
- Fast at 100,000 vectors: each index keeps a float32 matrix of its unit vectors, brought up to date with the keys
  written or deleted since the last query (not rebuilt), and, for each metadata key and value, the rows that have
  it; a filter's top-level equalities (the tenant, always, for ours) pick the candidate rows before any arithmetic.
"""

import math
import threading
from collections.abc import Callable
from functools import cache
from typing import Any

import numpy as np

Predicate = Callable[[dict[str, Any]], bool]
_COMPARISONS: dict[str, Callable[[float, float], bool]] = {
    "$gt": lambda value, operand: value > operand,
    "$gte": lambda value, operand: value >= operand,
    "$lt": lambda value, operand: value < operand,
    "$lte": lambda value, operand: value <= operand,
}
MAX_TOP_K = 100


class FilterError(ValueError):
    """A filter S3 Vectors would refuse (400 ValidationException)."""


def _primitive(value: Any) -> bool:
    return isinstance(value, str | bool | int | float)


def _same(value: Any, operand: Any) -> bool:
    """Equal and of one kind: `true` is not `1` in a metadata filter."""
    return isinstance(value, bool) == isinstance(operand, bool) and value == operand


def _elements(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _operator(name: str, operand: Any) -> Callable[[Any, bool], bool]:
    """The test of one operator on a field: given the field's value and whether the field is there."""
    if name in ("$eq", "$ne"):
        if not _primitive(operand):
            raise FilterError(f"{name} takes a string, number or boolean")
        if name == "$eq":
            return lambda value, present: present and any(_same(v, operand) for v in _elements(value))
        return lambda value, present: not present or not any(_same(v, operand) for v in _elements(value))
    if name in _COMPARISONS:
        if not isinstance(operand, int | float) or isinstance(operand, bool):
            raise FilterError(f"{name} takes a number")
        compare = _COMPARISONS[name]

        def compares(value: Any, present: bool) -> bool:
            numbers = [v for v in _elements(value) if isinstance(v, int | float) and not isinstance(v, bool)]
            return present and any(compare(v, operand) for v in numbers)

        return compares
    if name in ("$in", "$nin"):
        if not isinstance(operand, list) or not operand or not all(_primitive(o) for o in operand):
            raise FilterError(f"{name} takes a non-empty array of strings, numbers or booleans")
        if name == "$in":
            return lambda value, present: present and any(_same(v, o) for v in _elements(value) for o in operand)
        return lambda value, present: not present or not any(_same(v, o) for v in _elements(value) for o in operand)
    if name == "$exists":
        if not isinstance(operand, bool):
            raise FilterError("$exists takes a boolean")
        return lambda value, present: present == operand
    raise FilterError(f"unknown filter operator {name}")


def compile_filter(query_filter: Any) -> Predicate:
    """A filter document as a test of a vector's metadata; raises FilterError where S3 Vectors answers 400."""
    if not isinstance(query_filter, dict) or not query_filter:
        raise FilterError("a filter is a non-empty object")
    tests: list[Predicate] = []
    for name, condition in query_filter.items():
        if name in ("$and", "$or"):
            if not isinstance(condition, list) or not condition:
                raise FilterError(f"{name} takes a non-empty array of filters")
            tests.append(_logical([compile_filter(part) for part in condition], every=name == "$and"))
        elif name.startswith("$"):
            raise FilterError(f"{name} is not a logical operator")
        else:
            operators = condition if isinstance(condition, dict) else {"$eq": condition}
            if not operators:
                raise FilterError(f"the condition on {name} is empty")
            tests.append(_field(name, [_operator(operator, operand) for operator, operand in operators.items()]))
    return _logical(tests, every=True)


def _logical(parts: list[Predicate], every: bool) -> Predicate:
    if every:
        return lambda metadata: all(part(metadata) for part in parts)
    return lambda metadata: any(part(metadata) for part in parts)


def _field(name: str, checks: list[Callable[[Any, bool], bool]]) -> Predicate:
    return lambda metadata: all(check(metadata.get(name), name in metadata) for check in checks)


def required_values(query_filter: dict[str, Any]) -> list[tuple[str, list[Any]]]:
    """The (field, values) a matching vector must hold one of, read from the filter's top-level conjunction
    ($eq or a plain value: one value; $in: any of its values): where the candidate rows come from."""
    conjuncts = [query_filter]
    required: list[tuple[str, list[Any]]] = []
    while conjuncts:
        current = conjuncts.pop()
        for name, condition in current.items():
            if name == "$and":
                conjuncts.extend(condition)
            elif not name.startswith("$"):
                operators = condition if isinstance(condition, dict) else {"$eq": condition}
                if "$eq" in operators:
                    required.append((name, [operators["$eq"]]))
                elif "$in" in operators:
                    required.append((name, list(operators["$in"])))
    return required


def _posting(name: str, value: Any) -> tuple[str, str, Any]:
    return (name, type(value).__name__ if isinstance(value, bool) else "value", value)


class IndexMatrix:
    """One index's vectors as rows of a matrix, with the rows holding each metadata value; kept up to date from the
    keys written or deleted since it was last used."""

    def __init__(self, dimension: int) -> None:
        self.matrix = np.zeros((0, dimension), dtype=np.float32)
        self.keys: list[str | None] = []
        self.metadata: list[dict[str, Any]] = []
        self.row_of: dict[str, int] = {}
        self.free: list[int] = []
        self.postings: dict[tuple[str, str, Any], set[int]] = {}

    def refresh(self, vectors: "_TrackedVectors") -> None:
        """Take in the keys written or deleted since the last refresh (the new vectors converted all at once: one
        by one, 100,000 took 5 s)."""
        self._reserve(len(vectors.changed))
        placed = []
        for key in vectors.changed:
            if key in self.row_of:
                self._clear(self.row_of.pop(key))
            if key in vectors:
                placed.append((self._row(), key, vectors[key]))
        vectors.changed.clear()
        if not placed:
            return
        data = np.array([vector.data["float32"] for _, _, vector in placed], dtype=np.float32)
        norms = np.linalg.norm(data, axis=1, keepdims=True)
        rows = np.fromiter((row for row, _, _ in placed), dtype=np.int64, count=len(placed))
        self.matrix[rows] = np.divide(data, norms, out=np.zeros_like(data), where=norms > 0)
        for row, key, vector in placed:
            self.keys[row], self.metadata[row], self.row_of[key] = key, vector.metadata or {}, row
            for posting in self._postings_of(self.metadata[row]):
                self.postings.setdefault(posting, set()).add(row)

    def _clear(self, row: int) -> None:
        for posting in self._postings_of(self.metadata[row]):
            self.postings[posting].discard(row)
        self.keys[row], self.metadata[row] = None, {}
        self.matrix[row] = 0.0
        self.free.append(row)

    def _reserve(self, count: int) -> None:
        """Room for `count` more rows, the matrix grown at once (by half again at least, so appends stay cheap)."""
        needed = len(self.keys) + max(0, count - len(self.free))
        if needed > len(self.matrix):
            grown = np.zeros((max(64, needed, len(self.matrix) * 3 // 2), self.matrix.shape[1]), dtype=np.float32)
            grown[: len(self.keys)] = self.matrix[: len(self.keys)]
            self.matrix = grown

    def _row(self) -> int:
        """A free row for a vector: one a deleted vector left, or the next new one (reserved beforehand)."""
        if self.free:
            return self.free.pop()
        self.keys.append(None)
        self.metadata.append({})
        return len(self.keys) - 1

    @staticmethod
    def _postings_of(metadata: dict[str, Any]) -> list[tuple[str, str, Any]]:
        return [
            _posting(name, element)
            for name, value in metadata.items()
            for element in _elements(value)
            if _primitive(element)
        ]

    def nearest(
        self, query: np.ndarray, top_k: int, query_filter: dict[str, Any] | None
    ) -> list[tuple[str, float, dict[str, Any]]]:
        """The top_k nearest rows that pass the filter: (key, cosine distance, metadata), nearest first."""
        matches = compile_filter(query_filter) if query_filter is not None else None
        rows = self._candidates(query_filter)
        if rows is not None and not len(rows):
            return []
        similarities = (self.matrix[rows] if rows is not None else self.matrix[: len(self.keys)]) @ query
        order = np.argsort(-similarities, kind="stable")
        found: list[tuple[str, float, dict[str, Any]]] = []
        for position in order:
            row = int(rows[position]) if rows is not None else int(position)
            key = self.keys[row]
            if key is None or (matches is not None and not matches(self.metadata[row])):
                continue
            found.append((key, 1.0 - float(similarities[position]), self.metadata[row]))
            if len(found) == top_k:
                break
        return found

    def _candidates(self, query_filter: dict[str, Any] | None) -> np.ndarray | None:
        """The rows holding the filter's most selective required value (None: every row); the filter itself judges
        the rest, in similarity order, only until it has found top_k (intersecting every required value's rows cost
        more than it saved: 50 ms for a tenant, two sessions and a tag at 100,000 vectors)."""
        if query_filter is None:
            return None
        empty: set[int] = set()
        choices = [
            [self.postings.get(_posting(name, value), empty) if _primitive(value) else empty for value in values]
            for name, values in required_values(query_filter)
        ]
        if not choices:
            return None
        fewest = min(choices, key=lambda postings: sum(len(rows) for rows in postings))
        chosen = set().union(*fewest)
        return np.fromiter(sorted(chosen), dtype=np.int64, count=len(chosen))


class _TrackedVectors(dict):  # type: ignore[type-arg]
    """An index's vectors by key (moto's own dict), noting each key written or deleted for the index's matrix."""

    def __init__(self) -> None:
        super().__init__()
        self.changed: set[str] = set()

    def __setitem__(self, key: str, vector: Any) -> None:
        super().__setitem__(key, vector)
        self.changed.add(key)

    def __delitem__(self, key: str) -> None:
        super().__delitem__(key)
        self.changed.add(key)

    def pop(self, key: str, *default: Any) -> Any:
        self.changed.add(key)
        return super().pop(key, *default)


_lock = threading.Lock()


@cache
def answer_query_vectors() -> None:
    """Teach the embedded S3 Vectors QueryVectors (`POST /QueryVectors`, as botocore's model routes it), keep each
    index's vectors tracked for it, and run one S3 Vectors request at a time (moto's backend does not lock; the
    local server's workers write while its requests query)."""
    from moto.s3vectors import urls
    from moto.s3vectors.exceptions import ValidationError
    from moto.s3vectors.models import Index, S3VectorsBackend
    from moto.s3vectors.responses import S3VectorsResponse

    original_init, original_call = Index.__init__, S3VectorsResponse.call_action

    def call_action(self: Any) -> Any:
        with _lock:
            return original_call(self)

    def get_vectors(self: Any, vector_bucket_name: str, index_name: str, index_arn: str, keys: list[str]) -> Any:
        """By key, not by a scan of the whole index for each key asked (moto's: seconds at 100,000 vectors)."""
        index = self.get_index(vector_bucket_name, index_name=index_name, index_arn=index_arn)
        return [index.vectors[key] for key in dict.fromkeys(keys) if key in index.vectors]

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        self.vectors = _TrackedVectors()
        self.matrix = IndexMatrix(self.dimension)

    def query_vectors(self: Any) -> Any:
        from moto.core.responses import ActionResult

        index_arn, index_name = self._get_param("indexArn"), self._get_param("indexName")
        bucket_name = self._get_param("vectorBucketName")
        self._validate_index_params(index_arn, index_name, bucket_name)
        index = self.s3vectors_backend.get_index(bucket_name, index_name=index_name, index_arn=index_arn)
        top_k = self._get_param("topK")
        query = (self._get_param("queryVector") or {}).get("float32")
        query_filter = self._get_param("filter")
        if not isinstance(top_k, int) or not 1 <= top_k <= MAX_TOP_K:
            raise ValidationError(f"topK must be between 1 and {MAX_TOP_K}")
        if index.distance_metric != "cosine":
            raise ValidationError("the embedded S3 Vectors answers queries of cosine indexes only")
        if not isinstance(query, list) or len(query) != index.dimension:
            raise ValidationError(f"queryVector must have {index.dimension} float32 values")
        vector = np.asarray(query, dtype=np.float32)
        norm = float(np.linalg.norm(vector))
        if not norm or not math.isfinite(norm):
            raise ValidationError("queryVector must be finite and not all zeros for a cosine index")
        try:
            index.matrix.refresh(index.vectors)
            nearest = index.matrix.nearest(vector / norm, top_k, query_filter)
        except FilterError as refused:
            raise ValidationError(f"Invalid filter: {refused}") from refused
        with_metadata = self._get_bool_param("returnMetadata", False)
        with_distance = self._get_bool_param("returnDistance", False)
        found = [
            {
                "key": key,
                "distance": distance if with_distance else None,
                "metadata": metadata if with_metadata else None,
            }
            for key, distance, metadata in nearest
        ]
        return ActionResult({"vectors": found, "distanceMetric": index.distance_metric})

    Index.__init__ = init  # type: ignore[method-assign]
    S3VectorsResponse.call_action = call_action  # type: ignore[method-assign]
    S3VectorsBackend.get_vectors = get_vectors  # type: ignore[method-assign]
    S3VectorsResponse.query_vectors = query_vectors  # type: ignore[attr-defined]
    urls.url_paths["{0}/QueryVectors$"] = S3VectorsResponse.dispatch
