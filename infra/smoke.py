"""`make smoke URL=... ADMIN_KEY=...`: what a first user does with a new deployment, one line per step, ok or failed.

With the operator key it creates a tenant and an API key (admin API); as that tenant, an agent on the deployment's
default model (no model named), a session with a block, then it invokes the agent on the session streamed as
Server-Sent Events and checks that the answer arrived whole. Then it removes what can be removed: the session, the
agent and the key (the admin API deletes no tenant, so each run leaves one named `smoke <time>`).

The exit status is 0 when every step passed and 1 otherwise; after a failure the later steps are skipped (each
needs what the one before made) and the clean-up of what was made still runs.

In infra/, not tests/: an operator's tool run against any URL, a stack's as well as `make serve`'s (against which
tests/local/test_smoke.py runs it, as the docs give it). The tenant's calls go through the project's client
(clients/python), the operator's and the agent's through httpx, since the client makes neither.
"""

import argparse
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
from agentctx_client import ApiError, Client
from agentctx_client.errors import error_from
from agentctx_client.models import InvokeCompleted, InvokeFailed, TextDelta

NOTE = "The smoke test wrote this note."
PROMPT = "In one short sentence: what does the note in your context say?"


class StepFailed(Exception):
    """A step whose calls were answered, but not with what a working deployment answers."""


def _answer(response: httpx.Response) -> Any:
    """The decoded body of a 2xx answer; otherwise the client's ApiError for the error envelope."""
    body = response.json() if response.content else None
    if not response.is_success:
        raise error_from(response.status_code, body, response.headers.get("X-Request-Id"))
    return body


class Smoke:
    """The steps, each returning what it made or saw in a few words; `made` keeps the ids the later steps use."""

    def __init__(self, url: str, admin_key: str) -> None:
        self.url = url.rstrip("/")
        self.admin = httpx.Client(base_url=self.url, headers={"X-Admin-Key": admin_key}, timeout=30)
        self.made: dict[str, str] = {}
        self._client: Client | None = None
        self._tenant: httpx.Client | None = None

    @property
    def client(self) -> Client:
        """The project's client, as the new tenant."""
        if self._client is None:
            self._client = Client(self.url, self.made["key"], timeout=120)
        return self._client

    @property
    def tenant(self) -> httpx.Client:
        """Plain HTTP as the new tenant, for the agent calls the client does not make."""
        if self._tenant is None:
            self._tenant = httpx.Client(base_url=self.url, headers={"X-API-Key": self.made["key"]}, timeout=30)
        return self._tenant

    def create_tenant(self) -> str:
        name = f"smoke {datetime.now(UTC):%Y-%m-%d %H:%M:%S}"
        self.made["tenant"] = _answer(self.admin.post("/v1/admin/tenants", json={"name": name}))["data"]["id"]
        return f"{self.made['tenant']} ({name})"

    def issue_key(self) -> str:
        issued = _answer(self.admin.post(f"/v1/admin/tenants/{self.made['tenant']}/keys"))["data"]
        self.made["key"], self.made["key_id"] = issued["key"], issued["id"]
        return str(issued["id"])

    def default_model(self) -> str:
        model = _answer(self.tenant.get("/v1/models", params={"limit": 1}))["data"][0]
        return f"{model['provider']} {model['model_id']} ({model['id']})"

    def create_agent(self) -> str:
        agent = _answer(self.tenant.post("/v1/agents", json={"name": "Smoke test", "slug": "smoke"}))
        self.made["agent"], self.made["agent_slug"] = agent["id"], agent["slug"]
        return f"{agent['slug']} ({agent['id']}) on {agent['default_model_id']}"

    def create_session(self) -> str:
        self.made["session"] = self.client.sessions.create("Smoke test", default_agent=self.made["agent_slug"]).id
        return self.made["session"]

    def add_block(self) -> str:
        return self.client.blocks.add(self.made["session"], "note", NOTE, tags=["smoke"], pinned=True).id

    def invoke_streamed(self) -> str:
        events = list(self.client.invoke_stream(self.made["agent_slug"], PROMPT, session=self.made["session"]))
        names = ", ".join(event.event for event in events) or "no events"
        last = events[-1] if events else None
        if isinstance(last, InvokeFailed):
            raise StepFailed(f"the stream ended in error {last.code}: {last.message} ({names})")
        if not isinstance(last, InvokeCompleted) or events[0].event != "start":
            raise StepFailed(f"the stream did not run from start to complete: {names}")
        text = "".join(event.text for event in events if isinstance(event, TextDelta))
        if not text or text != last.result.output:
            raise StepFailed(f"the streamed text {text[:80]!r} is not the answer {last.result.output[:80]!r}")
        return f"{len(events)} events, {last.result.usage.output_tokens} output tokens: {text[:80]!r}"

    def delete_session(self) -> str:
        self.client.sessions.delete(self.made["session"])
        return self.made["session"]

    def delete_agent(self) -> str:
        _answer(self.tenant.delete(f"/v1/agents/{self.made['agent']}"))
        return self.made["agent"]

    def revoke_key(self) -> str:
        _answer(self.admin.delete(f"/v1/admin/tenants/{self.made['tenant']}/keys/{self.made['key_id']}"))
        return self.made["key_id"]

    def close(self) -> None:
        for client in (self._client, self._tenant, self.admin):
            if client is not None:
                client.close()


def _step(name: str, step: Callable[[], str], say: Callable[[str], None]) -> bool:
    try:
        say(f"ok       {name:<15} {step()}")
        return True
    except (ApiError, StepFailed) as error:
        say(f"failed   {name:<15} {error}")
    except httpx.HTTPError as error:  # no answer: the URL is wrong or the service is down
        say(f"failed   {name:<15} {type(error).__name__}: {error}")
    return False


def run(url: str, admin_key: str, say: Callable[[str], None] = print) -> int:
    """Every step, one line each, then the clean-up of what was made; 0 when all passed, 1 otherwise."""
    smoke = Smoke(url, admin_key)
    steps = {
        "create tenant": smoke.create_tenant,
        "issue API key": smoke.issue_key,
        "default model": smoke.default_model,
        "create agent": smoke.create_agent,
        "create session": smoke.create_session,
        "add block": smoke.add_block,
        "invoke (SSE)": smoke.invoke_streamed,
    }
    clean_up = {"delete session": ("session", smoke.delete_session), "delete agent": ("agent", smoke.delete_agent)}
    clean_up["revoke API key"] = ("key_id", smoke.revoke_key)
    passed = True
    try:
        for name, step in steps.items():
            if passed:
                passed = _step(name, step, say)
            else:
                say(f"skipped  {name:<15} (a step above failed)")
        for name, (needs, step) in clean_up.items():
            if needs in smoke.made:
                passed = _step(name, step, say) and passed
    finally:
        smoke.close()
    say(f"smoke test of {url}: {'passed' if passed else 'FAILED'}")
    return 0 if passed else 1


def main() -> None:
    parser = argparse.ArgumentParser(prog="make smoke", description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="", help="the API's base URL (the stack's ApiUrl output)")
    parser.add_argument("--admin-key", default="", help="the operator key (its sha256 is in Parameter Store)")
    options = parser.parse_args()
    if not options.url or not options.admin_key:
        parser.error("give both: make smoke URL=https://... ADMIN_KEY=...")
    sys.exit(run(options.url, options.admin_key))


if __name__ == "__main__":
    main()
