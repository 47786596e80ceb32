"""Every key of the context table: partition keys, sort keys and their prefixes, and the block indexes.

Every partition key starts with the tenant, so no request can reach another tenant's items.

A session's partition, pk `T#{tenant}#S#{hex}`:
- session:        sk `SESSION`; metrics kept on it (with the counts of its pinned blocks and summaries), updated in
                  the same transaction as every block write. It holds no block ids, so its size does not grow with
                  the session.
- block:          sk `B#{order key}`. Active blocks also carry `bsk` (a copy of sk), the sort key of the sparse
                  local secondary index `BlockMeta`, which projects everything but the content: listings, the
                  session's block ids and selections read only that index, and only active blocks. Active blocks
                  also carry `tpk` (`{pk}#{type}`), the partition key of the global index `BlockType` (sort key
                  `bsk`): a listing by type reads only blocks of that type.
- filter entry:   sk `X#pin#{order key}` (a pinned block), `X#sum#{order key}` (a summary) and
                  `X#tag#{length}#{tag}#{order key}` (one per tag): written and removed in the same transaction as
                  the block they index, and only while it is active, so a filter Queries its entries and reads only
                  matching blocks. The tag's length keeps tag `a` from matching the entries of tag `a#b`.
- purge marker:   sk `PURGE`: a deleted session whose items are still being removed in the background.
- copy mark:      sk `COPY#{fork hex}`, in a fork's source: the fork still reads this session's blocks.
- invocation:     sk `I#{order key}`: the record of one invocation on the session (JSON text).
- compaction job: sk `C#{order key}` (JSON text), newest first by sort key.
- compaction plan: sk `CP#{job order key}#{chunk}`: the job's steps (JSON text).
- scan pages:     sk `CS#{job order key}#{page}`: what compaction's planning read of the active blocks.
- event:          sk `E#{sequence as 16 hex}`: one envelope of the session's event log (JSON text).
- message:        sk `M#{order key}`: an input or output message (JSON text), in session order.
- turn:           sk `TQ#{turn number as 16 hex}`: the input of turn n.
- file:           sk `F#{path}`: a file of the session_file_system capability.

Listings and the catalog:
- session lists:  pk `T#{tenant}#SESSIONS` or `T#{tenant}#TAG#{tag}`, sk `{createdAt}#{hex}`: a Query lists a
                  tenant's sessions, or those with a tag, newest first.
- model:          pk `T#{tenant}#MODELS`, sk `M#{hex}`.
- agent:          pk `T#{tenant}#AGENTS`, sk `A#{hex}`; its slug claim: same pk, sk `SLUG#{slug}`.
"""

SESSION_SK = "SESSION"
PURGE_SK = "PURGE"
BLOCK_SK_PREFIX = "B#"
ENTRY_SK_PREFIX = "X#"
PINNED_ENTRY_SK_PREFIX = ENTRY_SK_PREFIX + "pin#"
SUMMARY_ENTRY_SK_PREFIX = ENTRY_SK_PREFIX + "sum#"
COPY_SK_PREFIX = "COPY#"
INVOCATION_SK_PREFIX = "I#"
JOB_SK_PREFIX = "C#"
PLAN_SK_PREFIX = "CP#"
SCAN_SK_PREFIX = "CS#"
EVENT_SK_PREFIX = "E#"
MESSAGE_SK_PREFIX = "M#"
TURN_SK_PREFIX = "TQ#"
FILE_SK_PREFIX = "F#"
MODEL_SK_PREFIX = "M#"
AGENT_SK_PREFIX = "A#"
SLUG_SK_PREFIX = "SLUG#"

BLOCK_META_INDEX = "BlockMeta"
BLOCK_TYPE_INDEX = "BlockType"


def session_pk(tenant_id: str, session_hex: str) -> str:
    return f"T#{tenant_id}#S#{session_hex}"


def parse_session_pk(pk: str) -> tuple[str, str] | None:
    """The tenant id and session hex a session's partition key names; None for any other partition."""
    parts = pk.split("#")
    return (parts[1], parts[3]) if len(parts) == 4 and parts[0] == "T" and parts[2] == "S" else None


def listing_pk(tenant_id: str, tag: str | None) -> str:
    """The listing of a tenant's sessions, or of those with `tag`."""
    return f"T#{tenant_id}#TAG#{tag}" if tag else f"T#{tenant_id}#SESSIONS"


def listing_pks(tenant_id: str, tags: list[str]) -> list[str]:
    """Every listing a session with these tags is in: the tenant's, then one per tag."""
    return [listing_pk(tenant_id, None)] + [listing_pk(tenant_id, tag) for tag in tags]


def listing_sk(created_at: str, session_hex: str) -> str:
    return f"{created_at}#{session_hex}"


def block_sk(order_key: str) -> str:
    return BLOCK_SK_PREFIX + order_key


def block_type_pk(pk: str, block_type: str) -> str:
    """The `BlockType` index's partition key of an active block of this type in partition `pk`."""
    return f"{pk}#{block_type}"


def tag_entry_sk_prefix(tag: str) -> str:
    return f"{ENTRY_SK_PREFIX}tag#{len(tag)}#{tag}#"


def copy_sk(fork_hex: str) -> str:
    return COPY_SK_PREFIX + fork_hex


def event_sk(sequence: int) -> str:
    return f"{EVENT_SK_PREFIX}{sequence:016x}"


# After every event's sort key: sequences are hex digits.
EVENTS_END_SK = EVENT_SK_PREFIX + "g"


def turn_sk(turn_seq: int) -> str:
    return f"{TURN_SK_PREFIX}{turn_seq:016x}"


def plan_sk(job_key: str, chunk: int) -> str:
    return f"{PLAN_SK_PREFIX}{job_key}#{chunk:06d}"


def scan_sk_prefix(job_key: str) -> str:
    return f"{SCAN_SK_PREFIX}{job_key}#"


def scan_sk(job_key: str, page: int) -> str:
    return f"{scan_sk_prefix(job_key)}{page:06d}"


def models_pk(tenant_id: str) -> str:
    return f"T#{tenant_id}#MODELS"


def agents_pk(tenant_id: str) -> str:
    return f"T#{tenant_id}#AGENTS"
