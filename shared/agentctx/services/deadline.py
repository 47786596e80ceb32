"""The deadline of a leg of queued work: the invocation's remaining time, with a margin kept back for committing
progress and queueing the next leg."""

from collections.abc import Callable
from dataclasses import dataclass

# Seconds left in this invocation (Lambda's context.get_remaining_time_in_millis() / 1000); None: no deadline.
Remaining = Callable[[], float] | None


@dataclass(frozen=True)
class Deadline:
    remaining: Remaining
    margin: float

    def near(self, needed: float = 0.0) -> bool:
        """Less than the margin (and `needed`, what the next piece of work took last time) is left."""
        return self.remaining is not None and self.remaining() < self.margin + needed

    def left(self) -> float:
        """Seconds left, 0 without a deadline: two readings time a piece of work on the invocation's own clock."""
        return self.remaining() if self.remaining is not None else 0.0
