import pytest
from botocore.exceptions import ClientError

from agentctx.errors import Busy
from agentctx.store.dynamo import from_item, to_item, with_conflict_retry


def cancelled(*codes: str) -> ClientError:
    return ClientError(
        {
            "Error": {"Code": "TransactionCanceledException", "Message": "cancelled"},
            "CancellationReasons": [{"Code": code} for code in codes],
        },
        "TransactWriteItems",
    )


def test_transaction_conflicts_are_retried_until_it_goes_through():
    outcomes = [cancelled("None", "TransactionConflict"), cancelled("TransactionConflict"), "done"]

    def operation():
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    assert with_conflict_retry(operation) == "done"
    assert outcomes == []


def test_failed_conditions_are_not_retried():
    calls = []

    def operation():
        calls.append(1)
        raise cancelled("ConditionalCheckFailed", "None")

    with pytest.raises(ClientError):
        with_conflict_retry(operation)
    assert len(calls) == 1


def test_items_round_trip_floats_ints_sets_and_drop_none():
    values = {"a": 0.25, "b": 3, "c": {"x", "y"}, "d": None, "e": ["t"], "f": True}

    assert from_item(to_item(values)) == {"a": 0.25, "b": 3, "c": {"x", "y"}, "e": ["t"], "f": True}


def test_items_are_written_as_boto3_would_write_them():
    from boto3.dynamodb.types import TypeSerializer

    from agentctx.store.dynamo import serialize

    values = {"s": "x", "n": 3, "f": 0.5, "b": False, "l": ["a", 1, {"m": True}], "ss": {"b", "a"}, "z": None}
    boto = TypeSerializer()
    from decimal import Decimal

    for key, value in values.items():
        expected = boto.serialize(Decimal(str(value)) if isinstance(value, float) else value)
        ours = serialize(value)
        if key == "ss":
            assert sorted(ours["SS"]) == sorted(expected["SS"])
        else:
            assert ours == expected, key


def test_a_transaction_conflicting_on_every_attempt_is_busy_so_the_caller_tries_again(monkeypatch):
    monkeypatch.setattr("agentctx.store.dynamo.time.sleep", lambda seconds: None)

    def operation():
        raise cancelled("TransactionConflict")

    with pytest.raises(Busy) as raised:
        with_conflict_retry(operation)
    assert raised.value.details == {"retryAfterSeconds": 1}


def test_item_size_counts_names_and_values_in_utf8_as_dynamodb_does():
    from agentctx.store.dynamo import item_size

    # names 1+1+1+1; "漢😀" 3+4; number text 3; map 3 + ("k" 1 + true 1 + 1); list 3 + (null 1 + 1)
    item = {"s": {"S": "漢😀"}, "n": {"N": "123"}, "m": {"M": {"k": {"BOOL": True}}}, "l": {"L": [{"NULL": True}]}}

    assert item_size(item) == 4 + 7 + 3 + 6 + 5
