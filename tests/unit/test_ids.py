from agentctx import ids


def test_session_ids_are_prefix_and_32_hex():
    session_id = ids.new_session_id()

    assert ids.parse_session_id(session_id) == session_id[5:]
    assert len(session_id) == 37


def test_order_keys_increase_strictly_within_a_process():
    keys = [ids.new_order_key() for _ in range(10_000)]

    assert keys == sorted(keys) and len(set(keys)) == len(keys)
    assert all(len(key) == 26 for key in keys)


def test_block_id_round_trips_to_session_and_order_key():
    session_hex, order_key = ids.new_hex(), ids.new_order_key()

    assert ids.parse_block_id(ids.block_id(session_hex, order_key)) == (session_hex, order_key)


def test_malformed_ids_do_not_parse():
    for value in ["", "sess_", "sess_" + "g" * 32, "sess_" + "a" * 31, "SESS_" + "a" * 32, "sess_" + "a" * 32 + "x"]:
        assert ids.parse_session_id(value) is None
    for value in ["blk_", "blk_" + "a" * 57, "blk_" + "a" * 32 + "u" * 26, "blk_" + "a" * 59]:
        assert ids.parse_block_id(value) is None
