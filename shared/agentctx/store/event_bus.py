"""Publishing domain events to the EventBridge bus; the client is botocore's, created on first use."""

import json
from functools import lru_cache
from typing import Any

from botocore.config import Config

from agentctx.store.stream_events import SOURCE, DomainEvent


@lru_cache(maxsize=1)
def events_client() -> Any:
    import botocore.session

    return botocore.session.get_session().create_client(
        "events", config=Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=3, read_timeout=10)
    )


class PublishFailed(Exception):
    pass


class EventBus:
    def __init__(self, bus_name: str) -> None:
        self.bus_name = bus_name

    def publish(self, events: list[DomainEvent]) -> None:
        """PutEvents in groups of 10; raises when any entry was not accepted, so the record is retried."""
        for start in range(0, len(events), 10):
            group = events[start : start + 10]
            response = events_client().put_events(
                Entries=[
                    {
                        "Source": SOURCE,
                        "DetailType": event.detail_type,
                        "Detail": json.dumps(event.detail()),
                        "EventBusName": self.bus_name,
                        "Resources": [],
                    }
                    for event in group
                ]
            )
            if response.get("FailedEntryCount"):
                raise PublishFailed(f"{response['FailedEntryCount']} of {len(group)} events were not accepted")
