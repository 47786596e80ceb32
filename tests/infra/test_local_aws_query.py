"""The embedded store's sorted views answer every Query exactly as moto's own Query does: the same items, order,
pages and LastEvaluatedKey, on the table and on both kinds of index, after puts, in-place updates (an index key
added, changed or removed), deletes and transactions."""

import random
from typing import Any

import pytest


def _pages(client: Any, **params: Any) -> list[dict[str, Any]]:
    pages = []
    while True:
        page = client.query(**params)
        pages.append({key: page.get(key) for key in ("Items", "Count", "ScannedCount", "LastEvaluatedKey")})
        if "LastEvaluatedKey" not in page:
            return pages
        params["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _queries(rng: random.Random) -> list[dict[str, Any]]:
    table = "test-context"
    queries: list[dict[str, Any]] = []
    for _ in range(60):
        partition = f"p{rng.randrange(3)}"
        common: dict[str, Any] = {"TableName": table, "ScanIndexForward": rng.random() < 0.5}
        if rng.random() < 0.7:
            common["Limit"] = rng.choice([1, 2, 5, 17])
        kind = rng.randrange(3)
        if kind == 0:
            condition, values = "pk = :h", {":h": {"S": partition}}
            attr = "sk"
        elif kind == 1:
            common["IndexName"] = "BlockMeta"
            condition, values = "pk = :h", {":h": {"S": partition}}
            attr = "bsk"
        else:
            common["IndexName"] = "BlockType"
            condition, values = "tpk = :h", {":h": {"S": f"{partition}#t{rng.randrange(2)}"}}
            attr = "bsk"
        operator = rng.choice(["", "=", "<", "<=", ">", ">=", "between", "begins_with"])
        low, high = sorted(f"{rng.randrange(40):02d}" for _ in range(2))
        if operator == "between":
            condition += f" AND {attr} BETWEEN :a AND :b"
            values |= {":a": {"S": f"k{low}"}, ":b": {"S": f"k{high}"}}
        elif operator == "begins_with":
            condition += f" AND begins_with({attr}, :a)"
            values |= {":a": {"S": f"k{low[0]}"}}
        elif operator:
            condition += f" AND {attr} {operator} :a"
            values |= {":a": {"S": f"k{low}"}}
        if rng.random() < 0.3:
            common["FilterExpression"] = "attribute_exists(flag)"
        if rng.random() < 0.3 and kind != 2:
            common["ProjectionExpression"] = "pk, sk, bsk"
        queries.append(common | {"KeyConditionExpression": condition, "ExpressionAttributeValues": values})
    return queries


def _write_randomly(client: Any, rng: random.Random) -> None:
    table = "test-context"
    for _ in range(120):
        partition, sort = f"p{rng.randrange(3)}", f"k{rng.randrange(40):02d}"
        action = rng.randrange(5)
        if action == 0:
            item = {"pk": {"S": partition}, "sk": {"S": sort}, "body": {"S": "x" * rng.randrange(50)}}
            if rng.random() < 0.7:
                item["bsk"] = {"S": f"k{rng.randrange(40):02d}"}
                if rng.random() < 0.6:
                    item["tpk"] = {"S": f"{partition}#t{rng.randrange(2)}"}
            if rng.random() < 0.5:
                item["flag"] = {"BOOL": True}
            client.put_item(TableName=table, Item=item)
        elif action == 1:
            client.update_item(
                TableName=table,
                Key={"pk": {"S": partition}, "sk": {"S": sort}},
                UpdateExpression="SET bsk = :b, tpk = :t",
                ExpressionAttributeValues={":b": {"S": f"k{rng.randrange(40):02d}"}, ":t": {"S": f"{partition}#t1"}},
            )
        elif action == 2:
            client.update_item(
                TableName=table, Key={"pk": {"S": partition}, "sk": {"S": sort}}, UpdateExpression="REMOVE bsk"
            )
        elif action == 3:
            client.delete_item(TableName=table, Key={"pk": {"S": partition}, "sk": {"S": sort}})
        else:
            other = f"k{rng.randrange(40):02d}"
            actions = [
                {"Put": {"TableName": table, "Item": {"pk": {"S": partition}, "sk": {"S": sort}, "bsk": {"S": other}}}}
            ]
            if other != sort:
                actions.append({"Delete": {"TableName": table, "Key": {"pk": {"S": partition}, "sk": {"S": other}}}})
            client.transact_write_items(TransactItems=actions)


@pytest.mark.parametrize("seed", range(4))
def test_sorted_views_answer_as_motos_own_query(aws, seed):
    import boto3
    from moto.dynamodb.models import dynamodb_backends

    client = boto3.client("dynamodb")
    table = dynamodb_backends["123456789012"]["us-east-1"].get_table("test-context")
    views = table.sorted_views
    assert views is not None
    rng = random.Random(seed)
    for _ in range(4):
        _write_randomly(client, rng)
        for query in _queries(rng):
            fast = _pages(client, **query)
            table.sorted_views = None  # moto's own Query, on the same table
            try:
                reference = _pages(client, **query)
            finally:
                table.sorted_views = views
            assert fast == reference, query
    assert views.partitions and views.indexes  # the views did answer


def test_pages_cut_at_one_megabyte_as_motos(aws):
    import boto3
    from moto.dynamodb.models import dynamodb_backends

    client = boto3.client("dynamodb")
    table = dynamodb_backends["123456789012"]["us-east-1"].get_table("test-context")
    for number in range(90):
        item = {"pk": {"S": "big"}, "sk": {"S": f"k{number:03d}"}, "bsk": {"S": f"b{number % 7}"}}
        client.put_item(TableName="test-context", Item=item | {"body": {"S": "x" * 30_000}})
    views = table.sorted_views
    for query in (
        {"KeyConditionExpression": "pk = :h"},
        {"KeyConditionExpression": "pk = :h AND sk > :a", "ScanIndexForward": False},
        {"KeyConditionExpression": "pk = :h", "IndexName": "BlockMeta"},
    ):
        values = {":h": {"S": "big"}} | ({":a": {"S": "k010"}} if ":a" in query["KeyConditionExpression"] else {})
        params = {"TableName": "test-context", "ExpressionAttributeValues": values} | query
        fast = _pages(client, **params)
        table.sorted_views = None
        try:
            reference = _pages(client, **params)
        finally:
            table.sorted_views = views
        assert len(fast) > 1 and fast == reference
