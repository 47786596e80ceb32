"""The embedded DynamoDB refuses a transaction with an item over the size limit whole, as DynamoDB does: moto
checks sizes only while writing, after the transaction's earlier actions were applied."""

import pytest
from botocore.exceptions import ClientError


def test_a_transaction_with_an_oversized_item_is_refused_whole(aws):
    import botocore.session

    client = botocore.session.get_session().create_client("dynamodb")  # not the service's, which checks sizes first
    small = {"pk": {"S": "p"}, "sk": {"S": "small"}}
    large = {"pk": {"S": "p"}, "sk": {"S": "large"}, "body": {"S": "漢" * 140_000}}  # 420,000 bytes in UTF-8
    actions = [{"Put": {"TableName": "test-context", "Item": item}} for item in (small, large)]

    with pytest.raises(ClientError) as refused:
        client.transact_write_items(TransactItems=actions)

    assert refused.value.response["Error"]["Code"] == "ValidationException"
    assert "Item size has exceeded the maximum allowed size" in refused.value.response["Error"]["Message"]
    assert "Item" not in client.get_item(TableName="test-context", Key=small)
