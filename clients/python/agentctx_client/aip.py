"""AIP sessions and their blocks (`/v1/aip`): create, read, list, fork, compact."""

import time
from collections.abc import Iterator
from typing import Any

from agentctx_client.models import Block, BlockList, CompactionJob, Dicts, Invocation, Session, SessionSummary, Strings
from agentctx_client.transport import Http

FINISHED = {"completed", "failed"}


class Sessions:
    """AIP sessions (`/v1/aip/sessions`)."""

    def __init__(self, http: Http) -> None:
        self._http = http

    def create(self, name: str, *, default_agent: str | None = None, tags: Strings | None = None) -> Session:
        body = {"name": name, "defaultAgent": default_agent, "tags": tags or []}
        return Session.model_validate(self._http.request("POST", "/v1/aip/sessions", json_body=body)["data"])

    def get(self, session_id: str) -> Session:
        return Session.model_validate(self._http.request("GET", f"/v1/aip/sessions/{session_id}")["data"])

    def list(self, *, tag: str | None = None, page_size: int = 100) -> Iterator[SessionSummary]:
        return self._http.pages("/v1/aip/sessions", {"tag": tag, "limit": page_size}, SessionSummary)

    def delete(self, session_id: str) -> None:
        self._http.request("DELETE", f"/v1/aip/sessions/{session_id}")

    def fork(
        self,
        session_id: str,
        name: str,
        *,
        include_by_tag: Strings | None = None,
        exclude_by_tag: Strings | None = None,
        include_pinned: bool = True,
    ) -> Session:
        body = {
            "name": name,
            "includeByTag": include_by_tag,
            "excludeByTag": exclude_by_tag,
            "includePinned": include_pinned,
        }
        body = {key: value for key, value in body.items() if value is not None}
        response = self._http.request("POST", f"/v1/aip/sessions/{session_id}/fork", json_body=body)
        return Session.model_validate(response["data"])

    def compact(
        self,
        session_id: str,
        *,
        target_tokens: int | None = None,
        preserve_pinned: bool = True,
        preserve_recent: int | None = None,
        wait: bool = True,
        timeout: float = 120,
    ) -> CompactionJob:
        """Queue a compaction. With wait (the default) return it finished, polling past the service's own wait;
        without, return the queued job at once (`Prefer: respond-async`)."""
        body = {"targetTokens": target_tokens, "preservePinned": preserve_pinned, "preserveRecent": preserve_recent}
        body = {key: value for key, value in body.items() if value is not None}
        headers = {} if wait else {"Prefer": "respond-async"}
        response = self._http.request("POST", f"/v1/aip/sessions/{session_id}/compact", json_body=body, headers=headers)
        job = CompactionJob.model_validate(response["data"])
        return self.wait_for_compaction(session_id, job.id, timeout) if wait and job.status not in FINISHED else job

    def compaction(self, session_id: str, compaction_id: str) -> CompactionJob:
        response = self._http.request("GET", f"/v1/aip/sessions/{session_id}/compactions/{compaction_id}")
        return CompactionJob.model_validate(response["data"])

    def wait_for_compaction(self, session_id: str, compaction_id: str, timeout: float = 120) -> CompactionJob:
        deadline = time.monotonic() + timeout
        while (job := self.compaction(session_id, compaction_id)).status not in FINISHED:
            if time.monotonic() > deadline:
                raise TimeoutError(f"compaction {compaction_id} still {job.status} after {timeout} s")
            time.sleep(0.5)
        return job

    def compactions(self, session_id: str) -> Iterator[CompactionJob]:
        return self._http.pages(f"/v1/aip/sessions/{session_id}/compactions", {}, CompactionJob)

    def invocations(self, session_id: str) -> Iterator[Invocation]:
        return self._http.pages(f"/v1/aip/sessions/{session_id}/invocations", {}, Invocation)


class Blocks:
    """Context blocks of AIP sessions."""

    def __init__(self, http: Http) -> None:
        self._http = http

    def add(
        self,
        session_id: str,
        type: str,
        content: Any,
        *,
        tags: Strings | None = None,
        pinned: bool = False,
        importance: float | None = None,
    ) -> Block:
        body = {"sessionId": session_id, "type": type, "content": content, "tags": tags or [], "pinned": pinned}
        if importance is not None:
            body["importance"] = importance
        return Block.model_validate(self._http.request("POST", "/v1/aip/blocks", json_body=body)["data"])

    def add_many(self, session_id: str, blocks: Dicts) -> BlockList:
        """A batch, stored all or nothing; each dict as the API takes it (`type`, `content`, `tags`, `pinned`)."""
        response = self._http.request("POST", f"/v1/aip/sessions/{session_id}/blocks", json_body={"blocks": blocks})
        return [Block.model_validate(item) for item in response["data"]]

    def get(self, block_id: str) -> Block:
        return Block.model_validate(self._http.request("GET", f"/v1/aip/blocks/{block_id}")["data"])

    def list(
        self,
        session_id: str,
        *,
        type: str | None = None,
        tag: str | None = None,
        pinned: bool | None = None,
        content: bool = True,
        include_compacted: bool = False,
        page_size: int = 200,
    ) -> Iterator[Block]:
        params = {
            "type": type,
            "tag": tag,
            "pinned": None if pinned is None else str(pinned).lower(),
            "include": "content" if content else None,
            "includeCompacted": "true" if include_compacted else None,
            "limit": page_size,
        }
        return self._http.pages(f"/v1/aip/sessions/{session_id}/blocks", params, Block)

    def delete(self, block_id: str) -> None:
        self._http.request("DELETE", f"/v1/aip/blocks/{block_id}")
