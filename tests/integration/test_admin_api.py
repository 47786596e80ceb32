"""The operator's API: tenants and keys; keys are stored as hashes and revocation takes effect."""

import boto3

from tests.conftest import ADMIN_KEY, new_caller


def test_admin_api_refuses_without_the_operator_key(http):
    assert http.post("/v1/admin/tenants", json={"name": "x"}).status_code == 401
    assert http.post("/v1/admin/tenants", json={"name": "x"}, headers={"X-Admin-Key": "nope"}).status_code == 401


def test_issued_key_is_shown_once_and_stored_only_as_a_hash(http):
    caller = new_caller(http)

    items = boto3.client("dynamodb").query(
        TableName="test-tenants",
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": f"TENANT#{caller.tenant_id}"}},
    )["Items"]

    assert caller.key not in str(items)
    assert any(item["sk"]["S"].startswith("KEY#") for item in items)
    assert caller.get("/v1/aip/sessions").status_code == 200


def test_revoked_key_is_refused(http):
    tenant_id = http.post("/v1/admin/tenants", json={"name": "acme"}, headers={"X-Admin-Key": ADMIN_KEY}).json()[
        "data"
    ]["id"]
    issued = http.post(f"/v1/admin/tenants/{tenant_id}/keys", headers={"X-Admin-Key": ADMIN_KEY}).json()["data"]
    assert http.get("/v1/aip/sessions", headers={"X-API-Key": issued["key"]}).status_code == 200

    revoked = http.delete(f"/v1/admin/tenants/{tenant_id}/keys/{issued['id']}", headers={"X-Admin-Key": ADMIN_KEY})

    assert revoked.json()["data"] == {"revoked": True}
    assert http.get("/v1/aip/sessions", headers={"X-API-Key": issued["key"]}).status_code == 401


def test_key_for_unknown_tenant_or_revoking_unknown_key_is_404(http):
    headers = {"X-Admin-Key": ADMIN_KEY}
    assert http.post("/v1/admin/tenants/org_missing/keys", headers=headers).status_code == 404
    caller = new_caller(http)
    assert http.delete(f"/v1/admin/tenants/{caller.tenant_id}/keys/key_missing", headers=headers).status_code == 404
