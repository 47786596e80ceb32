"""`make serve`: the whole API in one process against moto's in-process DynamoDB and SQS, created from
template.yaml, with the compaction, trigger and turn queues' consumers and the table stream's event publisher beside it
(events go to the embedded EventBridge bus).

AIP_API_KEY becomes the local tenant's key and AIP_ADMIN_KEY the operator key; either is generated and printed
when unset. PORT (default 3000) and HOST (default 127.0.0.1) choose where it listens.
"""

import hashlib
import os
import secrets
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

LOCAL_RESOURCES = {
    "ContextTable": "agentctx-context",
    "TenantsTable": "agentctx-tenants",
    "IdempotencyTable": "agentctx-idempotency",
    "EventBus": "agentctx-events",
    "EventsDeadLetterQueue": "agentctx-events-dlq",
    "TriggerQueue": "agentctx-triggers",
    "TriggerDeadLetterQueue": "agentctx-triggers-dlq",
    "CompactionQueue": "agentctx-compaction",
    "CompactionDeadLetterQueue": "agentctx-compaction-dlq",
    "TurnQueue": "agentctx-turns.fifo",
    "TurnDeadLetterQueue": "agentctx-turns-dlq.fifo",
    "SessionJobQueue": "agentctx-session-jobs",
    "SessionJobDeadLetterQueue": "agentctx-session-jobs-dlq",
}
LOCAL_ENVIRONMENT = {
    "CONTEXT_TABLE_NAME": LOCAL_RESOURCES["ContextTable"],
    "TENANTS_TABLE_NAME": LOCAL_RESOURCES["TenantsTable"],
    "IDEMPOTENCY_TABLE_NAME": LOCAL_RESOURCES["IdempotencyTable"],
    "EVENT_BUS_NAME": LOCAL_RESOURCES["EventBus"],
    # moto's queue URLs are fixed by region, account and name
    "COMPACTION_QUEUE_URL": f"https://sqs.us-east-1.amazonaws.com/123456789012/{LOCAL_RESOURCES['CompactionQueue']}",
    "TURN_QUEUE_URL": f"https://sqs.us-east-1.amazonaws.com/123456789012/{LOCAL_RESOURCES['TurnQueue']}",
    "SESSION_JOB_QUEUE_URL": f"https://sqs.us-east-1.amazonaws.com/123456789012/{LOCAL_RESOURCES['SessionJobQueue']}",
}

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


def _prepare_environment() -> tuple[str, str]:
    for name, value in {
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
    }.items():
        os.environ.setdefault(name, value)
    for name, value in LOCAL_ENVIRONMENT.items():
        os.environ.setdefault(name, value)
    api_key = os.environ.get("AIP_API_KEY") or "ctx_" + secrets.token_urlsafe(24)
    admin_key = os.environ.get("AIP_ADMIN_KEY") or "adm_" + secrets.token_urlsafe(24)
    os.environ["ADMIN_KEY_SHA256"] = hashlib.sha256(admin_key.encode()).hexdigest()
    return api_key, admin_key


def main() -> None:
    api_key, admin_key = _prepare_environment()
    import uvicorn

    from agentctx.api.full import full_app
    from agentctx.schemas.catalog import AgentCreate, CapabilityRefIn, ModelCreate
    from agentctx.wiring import catalog_service, tenant_service
    from infra.local_aws import local_aws
    from infra.local_http import HeaderTimeoutH11Protocol
    from infra.local_streams import StreamWorker
    from infra.local_worker import QueueWorker, load_function_handler

    with local_aws(LOCAL_RESOURCES) as queues:
        compaction = load_function_handler(str(ROOT / "functions" / "compaction" / "handler.py"))
        worker = QueueWorker(queues["CompactionQueue"], compaction).start()
        dead_letters = QueueWorker(
            queues["CompactionDeadLetterQueue"],
            load_function_handler(str(ROOT / "functions" / "compaction_dlq" / "handler.py")),
        ).start()
        triggers = QueueWorker(
            queues["TriggerQueue"], load_function_handler(str(ROOT / "functions" / "triggers" / "handler.py"))
        ).start()
        turns = QueueWorker(
            queues["TurnQueue"], load_function_handler(str(ROOT / "functions" / "turns" / "handler.py"))
        ).start()
        session_jobs = QueueWorker(
            queues["SessionJobQueue"], load_function_handler(str(ROOT / "functions" / "session_jobs" / "handler.py"))
        ).start()
        publisher = StreamWorker(
            LOCAL_RESOURCES["ContextTable"], load_function_handler(str(ROOT / "functions" / "events" / "handler.py"))
        ).start()
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
        host, port = os.environ.get("HOST", "127.0.0.1"), int(os.environ.get("PORT", "3000"))
        print(
            f"\nAgent context service on http://{host}:{port}  (docs: http://{host}:{port}/docs)\n"
            f"  tenant     {tenant.id}\n  API key    {api_key}\n  admin key  {admin_key}\n"
            f"  agent      code-assistant ({agent.id}) on the offline model {model.id}\n"
            "  state lives in this process (moto) and is gone when it stops\n",
            flush=True,
        )
        uvicorn.run(full_app(), host=host, port=port, log_level="info", http=HeaderTimeoutH11Protocol)
        worker.stop()
        dead_letters.stop()
        triggers.stop()
        turns.stop()
        session_jobs.stop()
        publisher.stop()


if __name__ == "__main__":
    main()
