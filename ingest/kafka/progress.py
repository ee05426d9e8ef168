"""The consumer's periodic progress line: throughput, last batch, lag, parked coupons (SPEC §6).

    progress: 812.4 records/s (4062 in 5.0s), last batch 500, total 20000,
    dead-lettered 2, lag 1500 (users 0, events 1500, coupons 0), parked 3

(one line; `lag ?` / `parked ?` when the broker or the database could not
be asked).
"""

import logging
import time
from collections.abc import Callable

logger = logging.getLogger("ingest.kafka.consumer")

LOG_INTERVAL = 5.0


class Progress:
    """Counts records and logs one progress line every `interval` seconds."""

    def __init__(self, interval: float = LOG_INTERVAL):
        self.interval = interval
        self.total = 0
        self.dead_lettered = 0
        self.last_batch = 0
        self._since_log = 0
        self._logged_at = time.monotonic()

    def batch_done(self, size: int, dead_lettered: int) -> None:
        self.total += size
        self._since_log += size
        self.last_batch = size
        self.dead_lettered += dead_lettered

    def maybe_log(
        self, lag: Callable[[], dict[str, int] | None], parked: Callable[[], int | None]
    ) -> None:
        """Log the progress line if `interval` has passed; `lag`/`parked` are asked only then."""
        now = time.monotonic()
        elapsed = now - self._logged_at
        if elapsed < self.interval:
            return
        by_topic, parked_count = lag(), parked()
        lag_text = "?"
        if by_topic is not None:
            detail = ", ".join(f"{topic} {value}" for topic, value in sorted(by_topic.items()))
            lag_text = f"{sum(by_topic.values())} ({detail})" if detail else "0"
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
