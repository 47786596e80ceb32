"""Forking a runtime session: refused while a turn runs; at any size the same calls, usable at once, its messages
copied afterwards."""

from tests.integration.turns.helpers import events_of, say


def test_fork_is_refused_while_a_turn_runs_and_copies_everything_after(api, session, run_turns):
    api.post(f"/v1/sessions/{session['id']}/messages", json=say("remember this"))

    refused = api.post(f"/v1/sessions/{session['id']}/fork")
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "conflict"

    run_turns()
    fork = api.post(f"/v1/sessions/{session['id']}/fork")

    assert fork.status_code == 201, fork.text
    forked = fork.json()
    source = api.get(f"/v1/sessions/{session['id']}").json()
    assert forked["id"] != source["id"]
    for field in ("agent_id", "title", "tags", "model_id", "capabilities", "features", "preview", "output_preview"):
        assert forked[field] == source[field], field
    assert forked["status"] == "started"
    assert api.get(f"/v1/sessions/{forked['id']}").json() == forked  # the response and later reads agree
    source_messages = api.get(f"/v1/sessions/{session['id']}/messages").json()["data"]
    fork_messages = api.get(f"/v1/sessions/{forked['id']}/messages").json()["data"]
    assert [m["content"] for m in fork_messages] == [m["content"] for m in source_messages]
    assert {m["session_id"] for m in fork_messages} == {forked["id"]}
    assert events_of(api, forked["id"]) == []
    aip_blocks = api.get(f"/v1/aip/sessions/sess_{forked['id'][8:]}/blocks").json()["data"]
    assert len(aip_blocks) == 2


def all_messages(api, session_id: str) -> list[dict]:  # type: ignore[no-untyped-def]
    messages, cursor = [], None
    while True:
        params = {"limit": 100} | ({"cursor": cursor} if cursor else {})
        page = api.get(f"/v1/sessions/{session_id}/messages", params=params).json()
        messages += page["data"]
        if not page["has_more"]:
            return messages
        cursor = page["next_cursor"]


def test_a_runtime_fork_costs_the_same_at_any_size_and_is_usable_at_once(api, session, run_turns, aws):
    """The fork request copies no messages itself (the session job does, after it answers): the same calls for a
    source of 2 messages and one of 352, and the fork lists, takes messages and runs turns at once."""
    from agentctx import ids
    from agentctx.store.dynamo import batch_write
    from agentctx.store.items import message_item
    from agentctx.store.keys import session_pk
    from tests.integration.bounded_requests.helpers import calls_of, partition_items, run_session_jobs

    small = session
    large = api.post("/v1/sessions", json={"agent_id": session["agent_id"], "title": "large"}).json()
    for source in (small, large):
        api.post(f"/v1/sessions/{source['id']}/messages", json=say("remember this"))
        run_turns()
    large_hex = large["id"].removeprefix(ids.RUNTIME_SESSION_PREFIX)
    (first, _) = api.get(f"/v1/sessions/{large['id']}/messages").json()["data"]
    earlier = []
    for number in range(350):  # older messages, written straight to the store
        key = ids.new_order_key()
        earlier.append(first | {"id": f"message_{number:032x}", "order_key": key, "content": [{"text": f"m{number}"}]})
    pk = session_pk(api.tenant_id, large_hex)
    batch_write("test-context", [{"PutRequest": {"Item": message_item(pk, m)}} for m in earlier])
    before = all_messages(api, large["id"])
    assert len(before) == 352

    on_small = calls_of(lambda: api.post(f"/v1/sessions/{small['id']}/fork"))
    on_large = calls_of(lambda: api.post(f"/v1/sessions/{large['id']}/fork"))

    assert on_small["detail"] == on_large["detail"]
    fork = on_large["response"].json()
    assert on_large["response"].status_code == 201 and fork["title"] == "large"
    fork_hex = fork["id"].removeprefix(ids.RUNTIME_SESSION_PREFIX)
    assert sum(sk.startswith("M#") for sk in partition_items(api.tenant_id, fork_hex)) < 100  # a page at most
    # Before the copy: the messages read through the source, shown as the fork's; a message and its turn work.
    listed = all_messages(api, fork["id"])
    assert [m["content"] for m in listed] == [m["content"] for m in before]
    assert {m["session_id"] for m in listed} == {fork["id"]}
    posted = api.post(f"/v1/sessions/{fork['id']}/messages", json=say("and now this"))
    assert posted.status_code == 201, posted.text
    run_turns()
    after_turn = all_messages(api, fork["id"])
    assert after_turn[:352] == listed and [m["role"] for m in after_turn[352:]] == ["user", "agent"]
    assert events_of(api, fork["id"])[-1]["type"] == "session.idled"

    run_session_jobs(aws)

    assert all_messages(api, fork["id"]) == after_turn  # the same once copied
    assert sum(sk.startswith("M#") for sk in partition_items(api.tenant_id, fork_hex)) == 354
    assert all_messages(api, large["id"]) == before  # the source is untouched
