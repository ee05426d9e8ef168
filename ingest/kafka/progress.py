"""The consumer's progress line (docs/consumers.md): throughput, last batch, lag, parked coupons.

    progress: 812.4 records/s (4062 in 5.0s), last batch 500, total 20000,
    dead-lettered 2, lag 1500 (users 0, events 1500, coupons 0), parked 3

(one line; `lag ?` / `parked ?` when the broker or the database could not
be asked, `lag - (no partitions)` while the group gives this consumer
none). Logged every `interval` seconds while something happens (records
consumed, dead letters written), and every `idle_interval` seconds (a
minute by default) while nothing does.
"""

import logging
import time
from collections.abc import Callable

logger = logging.getLogger(__name__)

LOG_INTERVAL = 5.0
IDLE_LOG_INTERVAL = 60.0


class Progress:
    """Counts records and logs a progress line every `interval` s, or `idle_interval` s if idle."""

    def __init__(self, interval: float = LOG_INTERVAL, idle_interval: float = IDLE_LOG_INTERVAL):
        self.interval = interval
        self.idle_interval = max(idle_interval, interval)
        self.total = 0
        self.dead_lettered = 0
        self.last_batch = 0
        self._since_log = 0
        self._dead_lettered_at_log = 0
        self._logged_at = time.monotonic()

    def batch_done(self, size: int, dead_lettered: int) -> None:
        self.total += size
        self._since_log += size
        self.last_batch = size
        self.dead_lettered += dead_lettered

    def due(self) -> bool:
        busy = self._since_log or self.dead_lettered != self._dead_lettered_at_log
        elapsed = time.monotonic() - self._logged_at
        return elapsed >= (self.interval if busy else self.idle_interval)

    def maybe_log(
        self, lag: Callable[[], dict[str, int] | None], parked: Callable[[], int | None]
    ) -> None:
        """Log the progress line if it is due; `lag`/`parked` are asked only then."""
        if not self.due():
            return
        now = time.monotonic()
        elapsed = now - self._logged_at
        by_topic, parked_count = lag(), parked()
        lag_text = "?"
        if by_topic is not None:
            detail = ", ".join(f"{topic} {value}" for topic, value in sorted(by_topic.items()))
            # Without partitions a consumer cannot tell the group's lag: "0" would mislead.
            lag_text = f"{sum(by_topic.values())} ({detail})" if detail else "- (no partitions)"
        logger.info(
            "progress: %.1f records/s (%d in %.1fs), last batch %d, total %d, "
            "dead-lettered %d, lag %s, parked %s",
            self._since_log / elapsed,
            self._since_log,
            elapsed,
            self.last_batch,
            self.total,
            self.dead_lettered,
            lag_text,
            "?" if parked_count is None else parked_count,
        )
        self._since_log, self._logged_at = 0, now
        self._dead_lettered_at_log = self.dead_lettered
