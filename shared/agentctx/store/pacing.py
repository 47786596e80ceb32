"""Time for the background jobs that pace their writes (the purge, the fork copy): their clock and their waits.

Wiring gives the stores a Pacer, which reads time.monotonic() and really sleeps. A test that wants those jobs
without the waits gives one whose `sleep` moves its own clock on instead. A job is given its time in seconds and
sets its deadline on `now()`, so with either pacer its run ends where its time would have run out.
"""

import time


class Pacer:
    """The clock of a paced job's deadline, and the wait that keeps its writes to a rate."""

    def now(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)

    def pace(self, started: float, units: float, units_per_second: int) -> None:
        """Wait out what remains of the time `units` written since `started` (a `now()`) take at that rate."""
        self.sleep(max(0.0, units / units_per_second - (self.now() - started)))
