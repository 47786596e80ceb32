"""The context table's stores, composed over one table: what services are given to read and write sessions, their
blocks, records and event logs.

Each store holds one job and is built on first use, with the stores it needs passed in (no store inherits another),
so a function imports only the stores it uses: the blocks function never loads the purge, the fork copy, the event
log or compaction's stores. Keys: keys.py; items: items.py.
"""

from functools import cached_property
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from agentctx.store.block_listing import BlockListing
    from agentctx.store.block_writes import BlockWrites
    from agentctx.store.compaction_jobs import CompactionJobs
    from agentctx.store.compaction_plans import CompactionPlans
    from agentctx.store.event_log import EventLog
    from agentctx.store.fork_copy import ForkCopier
    from agentctx.store.pacing import Pacer
    from agentctx.store.purge import SessionPurge
    from agentctx.store.records import RecordStore
    from agentctx.store.sessions import SessionStore
    from agentctx.store.transactions import Transactions
    from agentctx.store.usage_store import UsageStore


class ContextStore:
    """The stores of the context table `table`.

    - `retention_days`: event-log entries, turn items and job records expire after this many days (the table's TTL
      attribute `expiresAt`); 0 keeps them. Blocks, messages and sessions never expire.
    - `pacer`: the clock and waits of the paced background jobs (the purge, the fork copy).
    - `usage`: the tenants' stored-token counter, which a block append moves in its own transaction when the tenant
      has a storage quota.
    """

    def __init__(self, table: str, retention_days: int, pacer: "Pacer", usage: "UsageStore") -> None:
        self.table = table
        self.retention_days = retention_days
        self.pacer = pacer
        self.usage = usage

    @cached_property
    def transactions(self) -> "Transactions":
        from agentctx.store.transactions import Transactions

        return Transactions(self.table, self.retention_days, self.usage)

    @cached_property
    def sessions(self) -> "SessionStore":
        from agentctx.store.sessions import SessionStore

        return SessionStore(self.table, self.transactions)

    @cached_property
    def blocks(self) -> "BlockListing":
        """Reading blocks: by id, listed through filters, the newest first."""
        from agentctx.store.block_listing import BlockListing

        return BlockListing(self.table)

    @cached_property
    def block_writes(self) -> "BlockWrites":
        from agentctx.store.block_writes import BlockWrites

        return BlockWrites(self.table, self.transactions, self.sessions, self.usage)

    @cached_property
    def records(self) -> "RecordStore":
        """Invocations, compaction jobs and messages as JSON records."""
        from agentctx.store.records import RecordStore

        return RecordStore(self.table)

    @cached_property
    def purge(self) -> "SessionPurge":
        from agentctx.store.purge import SessionPurge

        return SessionPurge(self.table, self.pacer)

    @cached_property
    def fork_copy(self) -> "ForkCopier":
        from agentctx.store.fork_copy import ForkCopier

        return ForkCopier(self.table, self.sessions, self.blocks, self.transactions, self.pacer)

    @cached_property
    def events(self) -> "EventLog":
        """A runtime session's event log and turn items."""
        from agentctx.store.event_log import EventLog

        return EventLog(self.table, self.transactions, self.retention_days)

    @cached_property
    def compaction_jobs(self) -> "CompactionJobs":
        from agentctx.store.compaction_jobs import CompactionJobs

        return CompactionJobs(self.table, self.sessions, self.transactions, self.retention_days)

    @cached_property
    def compaction_plans(self) -> "CompactionPlans":
        from agentctx.store.compaction_plans import CompactionPlans

        return CompactionPlans(self.table)
