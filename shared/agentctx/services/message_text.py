"""A runtime message's text, preview and public form: shared by posting a message and by the turn that answers it,
kept free of request models so that the turn function does not load them."""

from typing import Any

PREVIEW_CHARS = 200


def text_of(content: list[dict[str, Any]]) -> str:
    return "\n".join(part["text"] for part in content if part.get("type") == "text")


def preview(text: str) -> str:
    return text if len(text) <= PREVIEW_CHARS else text[: PREVIEW_CHARS - 1] + "…"


def public_message(message: dict[str, Any]) -> dict[str, Any]:
    """A stored message without its storage keys."""
    return {key: value for key, value in message.items() if key not in ("order_key", "block_id")}
