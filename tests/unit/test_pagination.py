import pytest

from agentctx.errors import InvalidRequest
from agentctx.pagination import CursorCodec

codec = CursorCodec(b"secret")


def test_cursor_round_trips_for_the_same_tenant_and_query():
    cursor = codec.encode("org_a", "sessions?tag=", "2026-01-01#abc")

    assert codec.decode("org_a", "sessions?tag=", cursor) == "2026-01-01#abc"


def test_cursor_does_not_show_tenant_or_key_in_clear():
    assert "org_a" not in codec.encode("org_a", "q", "after")


@pytest.mark.parametrize(
    ("tenant", "query", "mutate"),
    [
        ("org_b", "q", lambda c: c),
        ("org_a", "other", lambda c: c),
        ("org_a", "q", lambda c: c[:-1] + ("A" if c[-1] != "A" else "B")),
        ("org_a", "q", lambda c: "x" + c[1:]),
        ("org_a", "q", lambda c: c.split(".")[0]),
        ("org_a", "q", lambda c: ""),
        ("org_a", "q", lambda c: ".\x80"),
        ("org_a", "q", lambda c: c.split(".")[0] + ".é"),
    ],
)
def test_cursor_is_refused_for_another_tenant_query_or_when_altered(tenant, query, mutate):
    cursor = codec.encode("org_a", "q", "after")

    with pytest.raises(InvalidRequest):
        codec.decode(tenant, query, mutate(cursor))


def test_cursor_signed_with_another_secret_is_refused():
    with pytest.raises(InvalidRequest):
        codec.decode("org_a", "q", CursorCodec(b"other").encode("org_a", "q", "after"))
