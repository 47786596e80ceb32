"""Opaque pagination cursors, signed and bound to the tenant and the query they came from.

A cursor carries only the sort key of the last item shown; the HMAC covers the tenant and a description of the
query, so a cursor altered, taken from another tenant, or replayed against another query is refused.
"""

import base64
import hashlib
import hmac
import json

from agentctx.errors import InvalidRequest


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class CursorCodec:
    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def _mac(self, tenant_id: str, query: str, body: str) -> str:
        message = "\n".join((tenant_id, query, body)).encode()
        return _b64(hmac.new(self._secret, message, hashlib.sha256).digest()[:18])

    def encode(self, tenant_id: str, query: str, after: str) -> str:
        body = _b64(json.dumps({"a": after}, separators=(",", ":")).encode())
        return f"{body}.{self._mac(tenant_id, query, body)}"

    def decode(self, tenant_id: str, query: str, cursor: str) -> str:
        body, _, mac = cursor.partition(".")
        expected = self._mac(tenant_id, query, body)
        if not mac or not hmac.compare_digest(mac.encode(), expected.encode()):
            raise InvalidRequest("cursor is not valid for this query; start again without a cursor")
        try:
            after = json.loads(_unb64(body))["a"]
        except (ValueError, KeyError, TypeError) as error:
            raise InvalidRequest("cursor is not valid for this query; start again without a cursor") from error
        if not isinstance(after, str):
            raise InvalidRequest("cursor is not valid for this query; start again without a cursor")
        return after
