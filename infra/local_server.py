"""`make serve`: the whole API in one process against moto's in-process DynamoDB and SQS, created from
template.yaml, with the consumers of its queues and of the table's stream beside it: the event publisher (events go to
the embedded EventBridge bus) and the search indexer.

Environment (the README lists the same):
- PORT (default 3000) and HOST (default 127.0.0.1): where it listens; a busy port is reported before anything else.
- AIP_API_KEY: the local tenant's key, AIP_ADMIN_KEY: the operator key; generated when unset, then kept with the state.
- AGENTCTX_STATE_DIR (default .local/ in the project): where the state is saved and restored (infra/local_state.py).
- AGENTCTX_CLEAN=1 (or --clean): start empty, discarding the saved state.
- AGENTCTX_BEDROCK=1: Bedrock models' calls go to Bedrock (in BEDROCK_REGION, else AWS_DEFAULT_REGION, else
  us-east-1) with the AWS credentials botocore finds (environment, profile, SSO); otherwise they fail at once, saying
  so.
- LOG_LEVEL (default INFO): one line per request and per queue job at INFO.
- AGENTCTX_HEADER_TIMEOUT_SECONDS (default 10) and AGENTCTX_BODY_TIMEOUT_SECONDS (default 30): a connection whose
  request's headers, or whose body after its headers, take longer is closed (infra/local_http.py).
"""

import argparse
import hashlib
import os
import secrets
import signal
import socket
import sys
from pathlib import Path
from typing import Any

from infra.template import consumers, load_template, local_names, logical_ids, resource_environment

ROOT = Path(__file__).resolve().parent.parent

# Every name comes from template.yaml: the local stack's tables, queues and bus, the variables that name them, and the
# functions that consume the queues and the table's stream.
TEMPLATE = load_template()
LOCAL_RESOURCES = local_names("agentctx", TEMPLATE)
LOCAL_ENVIRONMENT = resource_environment(LOCAL_RESOURCES, TEMPLATE)
TABLES = logical_ids("AWS::DynamoDB::Table", TEMPLATE)
QUEUE_CONSUMERS = consumers("SQS", TEMPLATE)
STREAM_CONSUMERS = consumers("DynamoDB", TEMPLATE)

# So the seed's curl examples work on a fresh machine with no account anywhere.
DEMO_MODEL = {
    "name": "Offline demo model",
    "provider": "offline",
    "provider_model_id": "offline-1",
    "context_window": 200_000,
    "max_output_tokens": 4_096,
}
DEMO_AGENT = {
    "name": "Code assistant",
    "slug": "code-assistant",
    "description": "Demo agent on the offline model; names current_time or web_fetch in a prompt to see a tool call.",
    "system_prompt": "You are a careful coding assistant.",
}


def unhandled_by_any(stream_workers: list[Any]) -> list[dict[str, Any]]:
    """The stream's records some consumer has not yet handled: every consumer reads the same stream, so what each
    has left is a tail of it, and the longest holds the others. At the next start each consumer is handed it all;
    what one of them had handled already it handles again, which each tolerates (events carry their stream record's
    id, indexing a block again changes nothing)."""
    return max((worker.unhandled() for worker in stream_workers), key=len, default=[])


def _listen(host: str, port: int) -> socket.socket:
    """The listening socket, bound before anything is created or printed, so a busy port is the first thing said."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        sys.exit(f"cannot listen on {host}:{port}: {error.strerror}; stop what uses it or choose another PORT")
    sock.listen(2048)
    return sock


def _prepare_environment(saved_local: dict[str, Any], bedrock: bool) -> tuple[str, str]:
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    if bedrock:
        import boto3

        if boto3.Session().get_credentials() is None:
            sys.exit("AGENTCTX_BEDROCK=1 calls Bedrock with your AWS credentials, and none were found")
    else:  # the embedded AWS takes any; these keep a profile's real ones out of it
        os.environ.setdefault("AWS_ACCESS_KEY_ID", "local")
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "local")
    for name, value in LOCAL_ENVIRONMENT.items():
        os.environ.setdefault(name, value)
    api_key = os.environ.get("AIP_API_KEY") or saved_local.get("api_key") or "ctx_" + secrets.token_urlsafe(24)
    admin_key = os.environ.get("AIP_ADMIN_KEY") or saved_local.get("admin_key") or "adm_" + secrets.token_urlsafe(24)
    os.environ["ADMIN_KEY_SHA256"] = hashlib.sha256(admin_key.encode()).hexdigest()
    return api_key, admin_key


def _local_tenant(saved_local: dict[str, Any], api_key: str) -> dict[str, Any]:
    """The local tenant with its demo model and agent: the saved one (given the key if it is a new one), or new."""
    from agentctx.errors import Unauthorized
    from agentctx.schemas.catalog import AgentCreate, CapabilityRefIn, ModelCreate
    from agentctx.wiring import catalog_service, tenant_service

    if saved_local.get("tenant_id"):
        try:
            tenant_service().authenticate(api_key)
        except Unauthorized:
            tenant_service().issue_key(saved_local["tenant_id"], api_key)
        return {**saved_local, "api_key": api_key}
    tenant = tenant_service().create_tenant("local")
    tenant_service().issue_key(tenant.id, api_key)
    model = catalog_service().create_model(tenant.id, ModelCreate(**DEMO_MODEL))
    agent = catalog_service().create_agent(
        tenant.id,
        AgentCreate(
            **DEMO_AGENT,
            default_model_id=model.id,
            capabilities=[
                CapabilityRefIn(ref="current_time"),
                CapabilityRefIn(ref="web_fetch"),
                CapabilityRefIn(ref="session_file_system"),
            ],
        ),
    )
    return {"tenant_id": tenant.id, "api_key": api_key, "model_id": model.id, "agent_id": agent.id}


def _options() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m infra.local_server", description=__doc__.splitlines()[0])
    parser.add_argument("--clean", action="store_true", help="start empty, discarding the saved state")
    parser.add_argument(
        "--print-key", action="store_true", help="print the local tenant's API key, as the state keeps it, and exit"
    )
    options = parser.parse_args()
    options.clean = options.clean or os.environ.get("AGENTCTX_CLEAN", "").lower() in {"1", "true", "yes"}
    options.bedrock = os.environ.get("AGENTCTX_BEDROCK", "").lower() in {"1", "true", "yes"}
    options.state_dir = Path(os.environ.get("AGENTCTX_STATE_DIR") or ROOT / ".local")
    options.host, options.port = os.environ.get("HOST", "127.0.0.1"), int(os.environ.get("PORT", "3000"))
    return options


def _print_key(state_dir: Path) -> None:
    """The key a running server uses (it saves its state before it answers), or the one the next start keeps."""
    from infra import local_state

    try:
        saved = local_state.load(state_dir, TABLES)
    except local_state.UnreadableState as error:
        sys.exit(str(error))
    if saved is None:
        sys.exit(f"no state in {state_dir} yet: start `make serve` first")
    print(saved["local"]["api_key"])


def main() -> None:
    options = _options()
    if options.print_key:
        return _print_key(options.state_dir)
    listener = _listen(options.host, options.port)

    from infra import local_journal, local_state

    options.state_dir.mkdir(parents=True, exist_ok=True)
    if options.clean:
        for segment in local_journal.segments(options.state_dir):
            segment.unlink()
    try:
        saved = None if options.clean else local_state.load(options.state_dir, TABLES)
        logged, last_lsn = local_journal.read(options.state_dir, after=saved["lsn"] if saved else 0)
    except (local_state.UnreadableState, local_journal.UnreadableJournal) as error:
        sys.exit(f"{error}; move it away, or start with AGENTCTX_CLEAN=1 to discard it")
    api_key, admin_key = _prepare_environment(saved["local"] if saved else {}, options.bedrock)

    import uvicorn

    from agentctx.api.full import full_app
    from infra.local_aws import local_aws, log_writes_to
    from infra.local_http import request_timeouts
    from infra.local_streams import StreamWorker
    from infra.local_worker import QueueWorker, load_function_handler

    protocol = request_timeouts(os.environ)  # a bad value exits before anything starts
    tables = {logical_id: LOCAL_RESOURCES[logical_id] for logical_id in TABLES}
    with local_aws(LOCAL_RESOURCES, bedrock=options.bedrock) as queues:
        # From the stream's end: each stream consumer is handed what the last run had not handled (the snapshot's
        # outbox), then reads the records of the logged writes replayed after the snapshot.
        try:
            if saved:
                local_state.restore(saved, tables, queues)
            stream_workers = [
                StreamWorker(
                    LOCAL_RESOURCES[consumer.source],
                    load_function_handler(str(consumer.handler_file), consumer.handler_name),
                    start="LATEST",
                )
                for consumer in STREAM_CONSUMERS
            ]
            for stream_worker in stream_workers:
                stream_worker.replay(saved["stream"] if saved else [])
            local_journal.replay(logged)
        except (local_state.UnreadableState, local_journal.UnreadableJournal) as error:
            sys.exit(f"{error}; move it away, or start with AGENTCTX_CLEAN=1 to discard it")
        journal = local_journal.Journal(options.state_dir, last_lsn)
        log_writes_to(journal)
        workers = [
            QueueWorker(
                queues[queue.source],
                load_function_handler(str(queue.handler_file), queue.handler_name),
                batch_size=queue.batch_size,
            )
            for queue in QUEUE_CONSUMERS
        ]
        for worker in [*workers, *stream_workers]:
            worker.start()
        local = _local_tenant(saved["local"] if saved else {}, api_key)
        local["admin_key"] = admin_key
        snapshots = local_state.Snapshotter(
            options.state_dir, tables, queues, local, journal, lambda: unhandled_by_any(stream_workers)
        ).start()
        host, port = options.host, options.port
        bedrock = "on, with your AWS credentials" if options.bedrock else "off (AGENTCTX_BEDROCK=1 turns it on)"
        print(
            f"\nAgent context service on http://{host}:{port}  (docs: http://{host}:{port}/docs)\n"
            f"  tenant     {local['tenant_id']}\n  API key    {api_key}\n  admin key  {admin_key}\n"
            f"  agent      code-assistant ({local['agent_id']}) on the offline model {local['model_id']}\n"
            f"  bedrock    {bedrock}\n"
            f"  state      {'restored from' if saved else 'new, saved to'} {options.state_dir} "
            f"(each write logged before it is answered; AGENTCTX_CLEAN=1 starts empty)\n",
            flush=True,
        )
        config = uvicorn.Config(
            full_app(),
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=3,
            lifespan="off",
            http=protocol,
        )
        # uvicorn stops on SIGINT/SIGTERM and then raises the signal again for the handler it found: let that be a
        # no-op, so the workers stop and the last snapshot is written; a second Ctrl-C then interrupts that.
        for stop_signal in (signal.SIGINT, signal.SIGTERM):
            signal.signal(stop_signal, lambda number, frame: None)
        uvicorn.Server(config).run(sockets=[listener])
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        for worker in [*workers, *stream_workers]:
            worker.stop_soon()
        for worker in [*workers, *stream_workers]:
            worker.stop()
        snapshots.stop()
        log_writes_to(None)
        print(f"stopped; state saved to {options.state_dir}", flush=True)


if __name__ == "__main__":
    main()
