"""The invocation pipeline with in-memory fake providers: a failure after the stream began ends it with an error
event and records the failure; the step limit forces an answer."""

from collections.abc import Iterator

from agentctx.providers.base import Finished, ModelEvent, ModelRequest, ProviderError, TextDelta, ToolUse, Usage
from agentctx.schemas.sessions import SessionCreate
from agentctx.services.agent_loop import AgentLoop, InvokeCommand
from agentctx.services.invocations import InvocationService
from agentctx.wiring import (
    auto_compaction_trigger,
    block_builder,
    catalog_service,
    context_store,
    search_service,
    session_service,
    tool_scope,
)


class FailsMidStream:
    def stream(self, request: ModelRequest) -> Iterator[ModelEvent]:
        yield TextDelta("half an ans")
        raise ProviderError("unavailable", "the model went away", retryable=True)


class AlwaysCallsATool:
    def __init__(self) -> None:
        self.requests: list[ModelRequest] = []

    def stream(self, request: ModelRequest) -> Iterator[ModelEvent]:
        self.requests.append(request)
        if request.tool_choice == "auto":
            yield ToolUse(f"t{len(self.requests)}", "current_time", {})
            yield Usage(10, 1)
            yield Finished("tool_use")
        else:
            yield TextDelta("forced answer")
            yield Usage(10, 2)
            yield Finished("end_turn")


def service_with(provider, max_steps: int = 8, max_tool_calls: int = 48) -> InvocationService:
    from agentctx.services.context import ContextAssembler
    from agentctx.services.invocation_records import InvocationRecorder

    return InvocationService(
        catalog_service(),
        session_service(),
        context_store(),
        ContextAssembler(context_store(), search_service()),
        AgentLoop(lambda model: provider, max_steps, max_tool_calls),
        InvocationRecorder(context_store(), block_builder(), auto_compaction_trigger()),
        tool_scope,
    )


def test_failure_mid_stream_ends_with_an_error_event_and_records_it(api, code_assistant):
    session = session_service().create(api.tenant_id, SessionCreate(name="s")).session
    service = service_with(FailsMidStream())
    prepared = service.prepare(api.tenant_id, InvokeCommand(agent="code-assistant", prompt="go", session_id=session.id))

    events = list(service.run(prepared))

    assert [event.name for event in events] == ["start", "context_assembled", "text_delta", "error"]
    assert events[-1].data["code"] == "unavailable" and events[-1].data["message"] == "the model went away"
    record = api.get(f"/v1/aip/sessions/{session.id}/invocations/{prepared.id}").json()["data"]
    assert record["status"] == "failed" and record["error"]["code"] == "unavailable"
    prompt_block = api.get(f"/v1/aip/blocks/{record['blocksCreated'][0]}").json()["data"]
    assert prompt_block["content"] == [{"role": "user", "content": "go"}]
    metrics = api.get(f"/v1/aip/sessions/{session.id}").json()["data"]["metrics"]
    assert metrics["invocationCount"] == 1 and metrics["blockCount"] == 1


def test_non_streaming_failure_is_a_502_envelope(api, code_assistant, monkeypatch):
    import agentctx.api.routers.invoke as invoke_router

    monkeypatch.setattr(invoke_router, "invocation_service", lambda: service_with(FailsMidStream()))

    response = api.post("/v1/aip/invoke", json={"agent": "code-assistant", "prompt": "go"})

    assert response.status_code == 502
    assert response.json()["error"]["code"] == "model_error"
    assert response.json()["error"]["details"]["code"] == "unavailable"


def test_step_limit_asks_for_an_answer_on_the_last_step_with_the_same_tools(api, code_assistant):
    provider = AlwaysCallsATool()
    service = service_with(provider, max_steps=3)
    prepared = service.prepare(api.tenant_id, InvokeCommand(agent="code-assistant", prompt="loop"))

    result = service.invoke(prepared)

    assert result["output"] == "forced answer"
    assert [request.tool_choice for request in provider.requests] == ["auto", "auto", "none"]
    assert all(request.tools == provider.requests[0].tools != [] for request in provider.requests)  # same prefix
    assert result["usage"]["inputTokens"] == 30 and result["usage"]["outputTokens"] == 4


class CallsManyToolsAtOnce:
    def __init__(self) -> None:
        self.requests: list[ModelRequest] = []
        self.last_messages: list = []

    def stream(self, request: ModelRequest) -> Iterator[ModelEvent]:
        self.requests.append(request)
        self.last_messages = list(request.messages)
        if request.tool_choice == "auto":
            for n in range(10):
                yield ToolUse(f"t{len(self.requests)}-{n}", "current_time", {})
            yield Finished("tool_use")
        else:
            yield TextDelta("done")
            yield Finished("end_turn")


def test_tool_calls_past_the_limit_are_not_run_and_the_model_is_told(api, code_assistant):
    provider = CallsManyToolsAtOnce()
    service = service_with(provider, max_tool_calls=12)
    session = session_service().create(api.tenant_id, SessionCreate(name="s")).session
    prepared = service.prepare(api.tenant_id, InvokeCommand(agent="code-assistant", prompt="go", session_id=session.id))

    events = list(service.run(prepared))

    assert sum(event.name == "tool_call" for event in events) == 12
    assert [request.tool_choice for request in provider.requests] == ["auto", "auto", "none"]
    refused = [part for part in provider.last_messages[-1].parts if part.is_error]
    assert len(refused) == 8 and "limit of 12 tool calls" in refused[0].output
    record = api.get(f"/v1/aip/sessions/{session.id}/invocations/{prepared.id}").json()["data"]
    assert record["status"] == "completed" and len(record["blocksCreated"]) == 1 + 12 + 1
