"""A runtime session's messages and event log, as the tests that run turns send and read them."""


def say(text: str) -> dict:
    return {"message": {"content": [{"type": "text", "text": text}]}}


def events_of(api, session_id: str, **params) -> list[dict]:  # type: ignore[no-untyped-def]
    response = api.get(f"/v1/sessions/{session_id}/events", params={"limit": 1000, **params})
    assert response.status_code == 200, response.text
    return response.json()["data"]
