"""Sorted views of each partition and index of the embedded DynamoDB, so a Query reads its page from a slice.

moto answers a Query by collecting the whole table's items and sorting them: at 100,000 blocks a page cost seconds.
tests/infra/test_local_aws_query.py compares every page with moto's own Query after random writes.
"""

import bisect
import copy
from collections import defaultdict
from typing import Any


def keep_sorted_views_of_each_partition() -> None:
    """moto answers a Query by collecting the whole table's items, sorting the partition (or the index) and walking
    past the earlier pages: every page of a 100,000-block session cost seconds, and seeding or reading one took
    hours. Here each table with a range key keeps, once a Query has asked for it, each partition and each secondary
    index sorted (as moto sorts them), updated on every write, and a Query reads its page from
    the key condition's slice of that order. What a Query answers is unchanged (same items, order, pages, limits and
    LastEvaluatedKey); anything beyond the plain key conditions (the legacy KeyConditions, multi-attribute keys)
    goes to moto's own Query."""
    from moto.dynamodb import models
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.models.table import Table

    original_init, original_query = Table.__init__, Table.query
    original_update_item = models.DynamoDBBackend.update_item

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        self.sorted_views = _SortedViews(self) if self.range_key_attr else None
        if self.sorted_views is not None:
            self.items = _Partitions(self.sorted_views)

    def query(self: Any, *args: Any, **kwargs: Any) -> Any:
        views = getattr(self, "sorted_views", None)
        tracked = views is not None and isinstance(self.items, _Partitions) and self.items.views is views
        answer = self.sorted_views.query(*args, **kwargs) if tracked else None
        return original_query(self, *args, **kwargs) if answer is None else answer

    def update_item(self: Any, table_name: str, key: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        """An update changes its item in place (an index key among its attributes, maybe): the views look again."""
        try:
            return original_update_item(self, table_name, key, *args, **kwargs)
        finally:
            table = self.tables.get(table_name)
            views = getattr(table, "sorted_views", None)
            if views is not None and table.hash_key_attr in key and table.range_key_attr in key:
                views.changed(DynamoType(key[table.hash_key_attr]), DynamoType(key[table.range_key_attr]))

    Table.__init__ = init  # type: ignore[method-assign]
    Table.query = query  # type: ignore[method-assign]
    models.DynamoDBBackend.update_item = update_item  # type: ignore[method-assign]


class _Unsupported(Exception):
    """A key of a type the views do not order (sets, maps...): moto's own Query answers."""


def _native(value: Any) -> Any:
    if value is None or value.type not in ("S", "N", "B"):
        raise _Unsupported
    return value.cast_value


class _Partition(dict):  # type: ignore[type-arg]
    """One partition's items by range key, telling its table's views of every item put or removed."""

    def __init__(self, views: "_SortedViews", hash_key: Any) -> None:
        super().__init__()
        self.views, self.hash_key = views, hash_key

    def __setitem__(self, range_key: Any, item: Any) -> None:
        super().__setitem__(range_key, item)
        self.views.changed(self.hash_key, range_key)

    def __delitem__(self, range_key: Any) -> None:
        super().__delitem__(range_key)
        self.views.changed(self.hash_key, range_key)

    def pop(self, range_key: Any, *default: Any) -> Any:
        present = range_key in self
        item = super().pop(range_key, *default)
        if present:
            self.views.changed(self.hash_key, range_key)
        return item

    def __deepcopy__(self, memo: dict[int, Any]) -> dict[Any, Any]:
        return copy.deepcopy(dict(self), memo)


class _Partitions(defaultdict):  # type: ignore[type-arg]
    """A table's partitions (moto's defaultdict of dicts), each a _Partition; a copy (a backup) is plain again."""

    def __init__(self, views: "_SortedViews") -> None:
        super().__init__()
        self.views = views

    def __missing__(self, hash_key: Any) -> _Partition:
        partition = self[hash_key] = _Partition(self.views, hash_key)
        return partition

    def __deepcopy__(self, memo: dict[int, Any]) -> defaultdict[Any, Any]:
        return defaultdict(dict, {key: copy.deepcopy(dict(value), memo) for key, value in self.items()})


class _SortedViews:
    """One table's partitions and secondary indexes in moto's Query order, each built when first queried and kept
    up to date by every write after. A view is a sorted list of (sort key, hash key, range key): the sort key is the
    range key for a partition, and (index range key, table hash key, table range key) for an index, as moto orders
    them."""

    def __init__(self, table: Any) -> None:
        self.table = table
        self.partitions: dict[Any, list[tuple[Any, Any, Any]]] = {}
        # index name -> (index hash value -> view, (hash key, range key) -> (index hash value, sort key))
        self.indexes: dict[str, tuple[dict[Any, list[tuple[Any, Any, Any]]], dict[Any, tuple[Any, Any]]]] = {}

    def _index_key(self, index: Any, item: Any) -> tuple[Any, Any] | None:
        hash_attrs = [key["AttributeName"] for key in index.schema if key["KeyType"] == "HASH"]
        range_attrs = [key["AttributeName"] for key in index.schema if key["KeyType"] == "RANGE"]
        if len(hash_attrs) != 1 or len(range_attrs) != 1:
            raise _Unsupported
        attrs = item.attrs
        if hash_attrs[0] not in attrs or range_attrs[0] not in attrs:
            return None
        sort_key = (_native(attrs[range_attrs[0]]), _native(item.hash_key), _native(item.range_key))
        return _native(attrs[hash_attrs[0]]), sort_key

    def changed(self, hash_key: Any, range_key: Any) -> None:
        """The item at this key was put, updated or removed."""
        if not self.partitions and not self.indexes:
            return
        try:
            self._change(hash_key, range_key)
        except (_Unsupported, TypeError):  # a key these views cannot order: built again (or left to moto) next Query
            self.partitions.clear()
            self.indexes.clear()

    def _change(self, hash_key: Any, range_key: Any) -> None:
        item = dict.get(self.table.items.get(hash_key) or {}, range_key)
        view = self.partitions.get(hash_key)
        if view is not None:
            entry = ((_native(range_key),), hash_key, range_key)
            at = bisect.bisect_left(view, entry[0], key=_sort_key)
            present = at < len(view) and view[at][0] == entry[0]
            if present and item is None:
                del view[at]
            elif not present and item is not None:
                view.insert(at, entry)
        for name, (views, members) in self.indexes.items():
            old = members.pop((hash_key, range_key), None)
            if old is not None:
                index_view = views[old[0]]
                del index_view[bisect.bisect_left(index_view, old[1], key=_sort_key)]
            new = self._index_key(self.table.get_index(name), item) if item is not None else None
            if new is not None:
                members[(hash_key, range_key)] = new
                bisect.insort(views.setdefault(new[0], []), (new[1], hash_key, range_key), key=_sort_key)

    def _partition_view(self, hash_key: Any) -> list[tuple[Any, Any, Any]]:
        view = self.partitions.get(hash_key)
        if view is None:
            partition = dict.get(self.table.items, hash_key) or {}
            view = sorted((((_native(key),), hash_key, key) for key in partition), key=_sort_key)
            self.partitions[hash_key] = view
        return view

    def _index_views(self, name: str) -> dict[Any, list[tuple[Any, Any, Any]]]:
        if name not in self.indexes:
            index = self.table.get_index(name)
            views: dict[Any, list[tuple[Any, Any, Any]]] = {}
            members: dict[Any, tuple[Any, Any]] = {}
            for partition in self.table.items.values():
                for item in partition.values():
                    new = self._index_key(index, item)
                    if new is not None:
                        members[(item.hash_key, item.range_key)] = new
                        views.setdefault(new[0], []).append((new[1], item.hash_key, item.range_key))
            for view in views.values():
                view.sort(key=_sort_key)
            self.indexes[name] = (views, members)
        return self.indexes[name][0]

    def query(self, *args: Any, **kwargs: Any) -> tuple[list[Any], int, dict[str, Any] | None] | None:
        """moto's Query (same arguments) for the plain key conditions, or None for moto to answer."""
        try:
            return self._query(*args, **kwargs)
        except (_Unsupported, TypeError):  # TypeError: a key condition of another type than the keys
            return None

    def _query(
        self,
        hash_key: Any,
        range_comparison: str | None,
        range_objs: list[Any],
        limit: int | None,
        exclusive_start_key: dict[str, Any] | None,
        scan_index_forward: bool,
        projection_expressions: list[list[str]] | None,
        index_name: str | None = None,
        consistent_read: bool = False,
        filter_expression: Any = None,
        hash_key_conditions: list[tuple[str, Any]] | None = None,
        range_key_conditions: list[tuple[str, str, list[Any]]] | None = None,
        **filter_kwargs: Any,
    ) -> tuple[list[Any], int, dict[str, Any] | None]:
        from moto.dynamodb.models.dynamo_type import DynamoType
        from moto.dynamodb.models.table import RESULT_SIZE_LIMIT, GlobalSecondaryIndex

        table = self.table
        hash_key_conditions = hash_key_conditions or []
        range_key_conditions = range_key_conditions or []
        if filter_kwargs or len(range_key_conditions) > 1:
            raise _Unsupported
        if index_name is None:
            if hash_key is None:
                raise _Unsupported
            view = self._partition_view(hash_key)
            range_attr = table.range_key_attr
            sort_attrs = [range_attr]
        else:
            index: Any = {index.name: index for index in table.all_indexes()}.get(index_name)
            if index is None or (consistent_read and isinstance(index, GlobalSecondaryIndex)):
                raise _Unsupported  # moto's Query gives the error
            hash_attrs = [key["AttributeName"] for key in index.schema if key["KeyType"] == "HASH"]
            range_attrs = [key["AttributeName"] for key in index.schema if key["KeyType"] == "RANGE"]
            if len(hash_attrs) != 1 or len(range_attrs) != 1 or len(hash_key_conditions) != 1:
                raise _Unsupported
            condition_attr, condition_value = hash_key_conditions[0]
            if condition_attr != hash_attrs[0]:
                raise _Unsupported
            view = self._index_views(index_name).get(_native(condition_value), [])
            range_attr = range_attrs[0]
            sort_attrs = [range_attr, table.hash_key_attr, table.range_key_attr]
        if range_key_conditions and range_key_conditions[0][0] != range_attr:
            raise _Unsupported

        low, high = _key_condition_slice(view, range_comparison, range_objs)
        if exclusive_start_key:
            if any(attr not in exclusive_start_key for attr in sort_attrs):
                raise _Unsupported
            start = tuple(_native(DynamoType(exclusive_start_key[attr])) for attr in sort_attrs)
            if scan_index_forward:
                low = max(low, bisect.bisect_right(view, start, key=_sort_key))
            else:
                high = min(high, bisect.bisect_left(view, start, key=_sort_key))
        positions = range(low, high) if scan_index_forward else range(high - 1, low - 1, -1)

        results: list[Any] = []
        result_size = 0
        last_evaluated_key = None
        for position in positions:
            _, item_hash, item_range = view[position]
            item: Any = table.items[item_hash][item_range]
            if len(results) == limit or result_size + item.size() > RESULT_SIZE_LIMIT:
                last_evaluated_key = table._get_last_evaluated_key(results[-1], index_name)
                break
            if range_comparison and not item.attrs[range_attr].compare(range_comparison, range_objs):
                continue  # not reached: the slice holds the matching keys only
            results.append(item)
            result_size += item.size()
        else:  # moto looks at the partition's next key, matching or not, and answers a page that filled up as cut
            following = high if scan_index_forward else low - 1
            if results and 0 <= following < len(view):
                _, item_hash, item_range = view[following]
                next_size = table.items[item_hash][item_range].size()
                if len(results) == limit or result_size + next_size > RESULT_SIZE_LIMIT:
                    last_evaluated_key = table._get_last_evaluated_key(results[-1], index_name)
        scanned_count = len(results)
        results = copy.deepcopy(results)
        if index_name is not None:
            results = [index.project(result) for result in results]
        if filter_expression is not None:
            results = [result for result in results if filter_expression.expr(result)]
        if projection_expressions:
            results = [result.project(projection_expressions) for result in results]
        return results, scanned_count, last_evaluated_key


def _sort_key(entry: tuple[Any, Any, Any]) -> Any:
    return entry[0]


def _key_condition_slice(
    view: list[tuple[Any, Any, Any]], comparison: str | None, values: list[Any]
) -> tuple[int, int]:
    """The positions [low, high) of the view's entries whose range key meets the key condition (one contiguous run
    in key order, whatever the operator)."""
    if not comparison:
        return 0, len(view)
    bounds = [_native(value) for value in values]

    def left(value: Any) -> int:
        return bisect.bisect_left(view, value, key=_first)

    def right(value: Any) -> int:
        return bisect.bisect_right(view, value, key=_first)

    if comparison == "EQ":
        return left(bounds[0]), right(bounds[0])
    if comparison == "LT":
        return 0, left(bounds[0])
    if comparison == "LE":
        return 0, right(bounds[0])
    if comparison == "GT":
        return right(bounds[0]), len(view)
    if comparison == "GE":
        return left(bounds[0]), len(view)
    if comparison == "BETWEEN":
        return left(bounds[0]), right(bounds[1])
    if comparison == "BEGINS_WITH" and isinstance(bounds[0], str) and bounds[0] and bounds[0][-1] != chr(0x10FFFF):
        prefix = bounds[0]
        return left(prefix), left(prefix[:-1] + chr(ord(prefix[-1]) + 1))
    raise _Unsupported


def _first(entry: tuple[Any, Any, Any]) -> Any:
    return entry[0][0]
