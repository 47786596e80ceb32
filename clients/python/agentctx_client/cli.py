"""`agentctx`: the client on the command line. AGENTCTX_URL and AGENTCTX_API_KEY (or --url, --api-key) say where and
as whom. Commands that create print the new id alone (for `ID=$(agentctx ...)`); --json prints the API's objects
as JSON instead (one per line when streaming); `context` prints the request body ready to send. An API error exits
1 with its code and request id on stderr (and, for invalid input, each field's problem on a line of its own), a
service that cannot be reached exits 1 with one line saying so."""

import argparse
import json
import sys
from collections.abc import Iterable
from typing import Any

import httpx
from pydantic import BaseModel

from agentctx_client.client import Client
from agentctx_client.errors import ApiError
from agentctx_client.models import (
    AgentSession,
    Block,
    InvokeCompleted,
    InvokeFailed,
    RenderedContext,
    SessionSummary,
    TextDelta,
)


def _json(value: Any) -> str:
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json", by_alias=True, exclude_none=True)
    elif isinstance(value, list):
        value = [item.model_dump(mode="json", by_alias=True, exclude_none=True) for item in value]
    return json.dumps(value, ensure_ascii=False)


def _session_line(session: SessionSummary) -> str:
    metrics = session.metrics
    tags = ",".join(session.tags)
    return f"{session.id}\t{session.name}\t{metrics.block_count} blocks\t{metrics.total_tokens} tokens\t{tags}"


def _block_line(block: Block) -> str:
    content = block.content if isinstance(block.content, str) else json.dumps(block.content, ensure_ascii=False)
    preview = (content or "").replace("\n", " ")[:80]
    return f"{block.id}\t{block.type}\t{block.metadata.token_count} tokens\t{preview}"


def _agent_session_line(session: AgentSession) -> str:
    return f"{session.id}\t{session.status}\t{session.title or ''}\t{session.output_preview or ''}"


def _context_summary(rendered: RenderedContext) -> list[str]:
    first = f"{len(rendered.block_ids)} blocks\t{rendered.token_count} tokens\t{rendered.cache_points} cache points"
    sections = [f"{name}\t{tokens} tokens" for name, tokens in rendered.sections.model_dump().items()]
    return [f"{first}\t{rendered.format}\t{rendered.model}", *sections]


def _emit(args: argparse.Namespace, value: Any, plain: str | Iterable[str]) -> None:
    if args.json:
        print(_json(value))
    else:
        print(plain if isinstance(plain, str) else "\n".join(plain))


def _content(args: argparse.Namespace) -> Any:
    return json.loads(args.content) if args.json_content else args.content


def _agent_id(client: Client, name: str) -> str:
    """An agent id, or the id of the agent with this slug."""
    if name.startswith("agent_"):
        return name
    for agent in client.agents():
        if agent.slug == name:
            return agent.id
    raise SystemExit(f"error: no agent with the slug {name!r}")


def run(args: argparse.Namespace, client: Client) -> None:  # noqa: C901 - one branch per command
    command = (args.group, getattr(args, "action", None))
    if command == ("sessions", "create"):
        session = client.sessions.create(args.name, default_agent=args.agent, tags=args.tag)
        _emit(args, session, session.id)
    elif command == ("sessions", "list"):
        sessions = list(client.sessions.list(tag=args.tag))
        _emit(args, sessions, map(_session_line, sessions))
    elif command == ("sessions", "get"):
        session = client.sessions.get(args.session_id)
        _emit(args, session, _session_line(session))
    elif command == ("sessions", "fork"):
        fork = client.sessions.fork(
            args.session_id,
            args.name,
            include_by_tag=args.include_tag,
            exclude_by_tag=args.exclude_tag,
            include_pinned=not args.no_pinned,
        )
        _emit(args, fork, fork.id)
    elif command == ("sessions", "delete"):
        client.sessions.delete(args.session_id)
        _emit(args, {"id": args.session_id, "deleted": True}, f"deleted {args.session_id}")
    elif command == ("blocks", "add"):
        block = client.blocks.add(args.session_id, args.type, _content(args), tags=args.tag, pinned=args.pinned)
        _emit(args, block, block.id)
    elif command == ("blocks", "list"):
        blocks = list(
            client.blocks.list(args.session_id, type=args.type, tag=args.tag, include_compacted=args.include_compacted)
        )
        _emit(args, blocks, map(_block_line, blocks))
    elif args.group == "invoke":
        _invoke(args, client)
    elif args.group == "context":
        _context(args, client)
    elif args.group == "compact":
        job = client.sessions.compact(args.session_id, target_tokens=args.target_tokens, wait=not args.no_wait)
        plain = f"{job.id}\t{job.status}\t{job.previous_tokens} -> {job.new_tokens} tokens"
        if job.reason:
            plain += f"\ttarget not reached: {job.reason}"
        _emit(args, job, plain if job.status == "completed" else f"{job.id}\t{job.status}")
    elif command == ("events", "tail"):
        until = set(args.until or [])
        for event in client.agent_sessions.stream(
            args.session_id, last_event_id=args.since, until=(lambda e: e.type in until) if until else None
        ):
            print(_json(event) if args.json else f"{event.id}\t{event.type}\t{_json(event.data)}", flush=True)
    elif command == ("agent-sessions", "create"):
        created = client.agent_sessions.create(_agent_id(client, args.agent), title=args.title, tags=args.tag)
        _emit(args, created, created.id)
    elif command == ("agent-sessions", "send"):
        message = client.agent_sessions.send(args.session_id, args.text)
        _emit(args, message, message.id)
    elif command == ("agent-sessions", "get"):
        runtime_session = client.agent_sessions.get(args.session_id)
        _emit(args, runtime_session, _agent_session_line(runtime_session))
    elif command == ("agent-sessions", "list"):
        runtime_sessions = list(client.agent_sessions.list(tags=args.tag))
        _emit(args, runtime_sessions, map(_agent_session_line, runtime_sessions))
    elif command == ("agent-sessions", "delete"):
        client.agent_sessions.delete(args.session_id)
        _emit(args, {"id": args.session_id, "deleted": True}, f"deleted {args.session_id}")


def _invoke(args: argparse.Namespace, client: Client) -> None:
    options = {"session": args.session, "include_by_tag": args.tag, "max_tokens": args.max_tokens}
    if not args.stream:
        result = client.invoke(args.agent, args.prompt, **options)
        _emit(args, result, result.output)
        return
    for event in client.invoke_stream(args.agent, args.prompt, **options):
        if args.json:
            print(_json({"event": event.event, "data": event.data}), flush=True)
        elif isinstance(event, TextDelta):
            print(event.text, end="", flush=True)
        elif isinstance(event, InvokeCompleted):
            print(flush=True)
        elif isinstance(event, InvokeFailed):
            raise ApiError(502, event.code, event.message, None)


def _context(args: argparse.Namespace, client: Client) -> None:
    rendered = client.context(
        args.prompt,
        session=args.session_id,
        agent=args.agent,
        system_prompt=args.system_prompt,
        format=args.format,
        include_by_tag=args.tag,
        exclude_by_tag=args.exclude_tag,
        max_tokens=args.max_tokens,
    )
    if args.summary:
        plain: str | list[str] = _context_summary(rendered)
    elif rendered.format == "text":
        plain = str(rendered.payload.get("text", ""))
    else:
        plain = json.dumps(rendered.payload, ensure_ascii=False)
    _emit(args, rendered, plain)


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="agentctx", description=__doc__)
    root.add_argument("--url", help="the service's base URL (default: $AGENTCTX_URL, else http://127.0.0.1:3000)")
    root.add_argument("--api-key", help="the tenant's API key (default: $AGENTCTX_API_KEY)")
    root.add_argument("--json", action="store_true", help="print the API's objects as JSON")
    groups = root.add_subparsers(dest="group", required=True)

    sessions = groups.add_parser("sessions", help="AIP sessions").add_subparsers(dest="action", required=True)
    create = sessions.add_parser("create", help="a new session; prints its id")
    create.add_argument("name")
    create.add_argument("--agent", help="its default agent (slug)")
    create.add_argument("--tag", action="append", help="a tag (repeatable)")
    listing = sessions.add_parser("list", help="every session, newest first")
    listing.add_argument("--tag", help="only sessions with this tag")
    sessions.add_parser("get", help="a session with its metrics").add_argument("session_id")
    fork = sessions.add_parser("fork", help="a new session from some of this one's blocks; prints its id")
    fork.add_argument("session_id")
    fork.add_argument("name")
    fork.add_argument("--include-tag", action="append", help="copy blocks with this tag (repeatable)")
    fork.add_argument("--exclude-tag", action="append", help="leave out blocks with this tag (repeatable)")
    fork.add_argument("--no-pinned", action="store_true", help="do not copy pinned blocks regardless of tags")
    sessions.add_parser("delete", help="delete a session and its blocks").add_argument("session_id")

    blocks = groups.add_parser("blocks", help="context blocks").add_subparsers(dest="action", required=True)
    add = blocks.add_parser("add", help="add a block; prints its id")
    add.add_argument("session_id")
    add.add_argument("content", help="the text (or JSON with --json-content)")
    add.add_argument("--type", default="note", help="note (default), conversation, file, diff, tool_result, ...")
    add.add_argument("--json-content", action="store_true", help="the content is JSON (for structured types)")
    add.add_argument("--tag", action="append", help="a tag (repeatable)")
    add.add_argument("--pinned", action="store_true", help="always kept in context and in forks")
    listing = blocks.add_parser("list", help="a session's blocks, in order")
    listing.add_argument("session_id")
    listing.add_argument("--type")
    listing.add_argument("--tag")
    listing.add_argument("--include-compacted", action="store_true", help="also the blocks summaries replaced")

    invoke = groups.add_parser("invoke", help="invoke an agent with a session as context")
    invoke.add_argument("agent", help="the agent's slug")
    invoke.add_argument("prompt")
    invoke.add_argument("--session", help="the session whose blocks are the context (and that keeps the answer)")
    invoke.add_argument("--tag", action="append", help="only blocks with this tag in the context (repeatable)")
    invoke.add_argument("--max-tokens", type=int, help="the context's token budget")
    invoke.add_argument("--stream", action="store_true", help="print the answer as it arrives")

    context = groups.add_parser(
        "context", help="the context assembled for a prompt, as the request body your own loop sends; writes nothing"
    )
    context.add_argument("session_id", help="the session whose blocks are the context")
    context.add_argument("prompt")
    context.add_argument("--format", help="text, openai, anthropic or bedrock (default: the model's own)")
    context.add_argument("--agent", help="the agent (slug): exactly what invoking it would send")
    context.add_argument("--system-prompt", help="without --agent: the system prompt your loop sends")
    context.add_argument("--tag", action="append", help="only blocks with this tag (repeatable)")
    context.add_argument("--exclude-tag", action="append", help="leave out blocks with this tag (repeatable)")
    context.add_argument("--max-tokens", type=int, help="the context's token budget")
    context.add_argument(
        "--summary", action="store_true", help="block count, tokens and cache points, tokens per section"
    )

    compact = groups.add_parser("compact", help="compact a session; waits for the job unless --no-wait")
    compact.add_argument("session_id")
    compact.add_argument("--target-tokens", type=int)
    compact.add_argument("--no-wait", action="store_true", help="return the queued job at once")

    events = groups.add_parser("events", help="an agent session's event log").add_subparsers(
        dest="action", required=True
    )
    tail = events.add_parser("tail", help="follow the event log live (resumes by itself); Ctrl-C stops")
    tail.add_argument("session_id")
    tail.add_argument("--since", help="start after this event id")
    tail.add_argument("--until", action="append", help="stop after an event of this type, e.g. session.idled")

    runtime = groups.add_parser("agent-sessions", help="agent-runtime sessions (/v1/sessions)")
    actions = runtime.add_subparsers(dest="action", required=True)
    create = actions.add_parser("create", help="a session run by an agent; prints its id")
    create.add_argument("agent", help="the agent's id or slug")
    create.add_argument("--title")
    create.add_argument("--tag", action="append")
    send = actions.add_parser("send", help="a user message; its turn runs on the service's queue")
    send.add_argument("session_id")
    send.add_argument("text")
    actions.add_parser("get").add_argument("session_id")
    actions.add_parser("list").add_argument("--tag", action="append")
    actions.add_parser("delete").add_argument("session_id")
    return root


def _problems(details: Any) -> list[str]:
    """The fields a validation error names, one line each, since its message alone does not say which."""
    if not isinstance(details, list):
        return []
    return [
        f"  {d['location']}: {d['message']}"
        for d in details
        if isinstance(d, dict) and {"location", "message"} <= d.keys()
    ]


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        with Client(args.url, args.api_key) as client:
            run(args, client)
    except ApiError as error:
        print(f"error: {error}", *_problems(error.details), sep="\n", file=sys.stderr)
        return 1
    except httpx.TransportError as error:  # after the transport's retries
        where = f"{error.request.url.scheme}://{error.request.url.netloc.decode()}"
        print(
            f"error: cannot reach the service at {where} ({error}); is it running? (AGENTCTX_URL or --url says where)",
            file=sys.stderr,
        )
        return 1
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
