"""The API's description: the first thing the OpenAPI document and its /docs pages show."""

API_DESCRIPTION = """Sessions of context blocks for LLM agents: store, fork, compact and invoke. One session is
reachable through two surfaces, with the same key (`X-API-Key` or `Authorization: Bearer`). Below,
`K="Authorization: Bearer $KEY"` and `J="Content-Type: application/json"`.

**AIP sessions and blocks** (`/v1/aip/...`, camelCase, `{"data", "meta"}` envelope):

```sh
curl -X POST $API/v1/aip/sessions -H "$K" -H "$J" -d '{"name": "Auth", "defaultAgent": "code-assistant"}'
curl -X POST $API/v1/aip/blocks -H "$K" -H "$J" -d '{"sessionId": "sess_...", "type": "note", "content": "Use JWT"}'
curl -X POST $API/v1/aip/sessions/sess_.../fork -H "$K" -H "$J" -d '{"name": "Deep dive", "includeByTag": ["auth"]}'
curl -N -X POST $API/v1/aip/invoke -H "$K" -H "$J" \\
  -d '{"agent": "code-assistant", "prompt": "Go on", "session": "sess_...", "stream": true}'
```

**Agent-runtime sessions** (`/v1/sessions`, snake_case, the Session object itself): a message starts a durable
turn; its steps are events, read as JSON or streamed as Server-Sent Events.

```sh
curl -X POST $API/v1/sessions -H "$K" -H "$J" -d '{"agent_id": "agent_...", "title": "Refactor"}'
curl -X POST $API/v1/sessions/session_.../messages -H "$K" -H "$J" \\
  -d '{"message": {"content": [{"type": "text", "text": "Hello"}]}}'
curl -N $API/v1/sessions/session_.../sse -H "$K"
curl "$API/v1/sessions/session_.../events?since_id=event_..." -H "$K"
```
"""
