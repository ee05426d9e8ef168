"""Recommendation staleness: how long the oldest refresh the outbox owes has waited,
sampled while a phase writes."""

import sqlite3
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

SAMPLE_INTERVAL_S = 0.05  # the sampler's period
REFRESHED_DEADLINE_S = 60.0  # after the last row is stored, wait this long for an empty outbox


def parse_db_datetime(text: str) -> datetime:
    """A datetime Django stored on SQLite: UTC as text, '2026-11-26 21:03:04.123456'."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


class OutboxSampler(threading.Thread):
    """Every SAMPLE_INTERVAL_S: how long the oldest refresh the recommendations owe has waited.

    Reads the run's SQLite file on a read-only connection of its own (WAL: never in a
    writer's way); each query outside a transaction sees the latest commit.
    """

    def __init__(self, db_path: Path):
        super().__init__(name="outbox-sampler", daemon=True)
        self.db_path = db_path
        self.ages: list[float] = []  # seconds; 0 when the outbox was empty
        self.rows: list[int] = []
        self.last_empty = 0.0  # perf_counter of the latest sample that found the outbox empty
        self.error: BaseException | None = None
        self.halt = threading.Event()

    def run(self) -> None:
        try:
            db = sqlite3.connect(
                f"file:{self.db_path}?mode=ro", uri=True, timeout=5, isolation_level=None
            )
            try:
                while not self.halt.is_set():
                    oldest, rows = db.execute(
                        "SELECT MIN(created_at), COUNT(*) FROM recommendations_pendingrefresh"
                    ).fetchone()
                    now = datetime.now(UTC)
                    if oldest is None:
                        self.ages.append(0.0)
                        self.last_empty = time.perf_counter()
                    else:
                        age = (now - parse_db_datetime(oldest)).total_seconds()
                        self.ages.append(max(age, 0.0))
                    self.rows.append(rows)
                    self.halt.wait(SAMPLE_INTERVAL_S)
            finally:
                db.close()
        except BaseException as error:  # reported by stop()
            self.error = error

    def wait_empty(self, since: float, deadline_s: float) -> float | None:
        """Until a sample taken after `since` (perf_counter) found the outbox empty."""
        deadline = time.perf_counter() + deadline_s
        while self.last_empty <= since:
            if time.perf_counter() > deadline or not self.is_alive():
                return None
            time.sleep(SAMPLE_INTERVAL_S / 2)
        return self.last_empty

    def stop(self) -> dict:
        self.halt.set()
        self.join(10)
        if self.error is not None:
            raise RuntimeError(f"the outbox sampler failed: {self.error!r}") from self.error
        ages = sorted(self.ages)
        if not ages:
            raise RuntimeError("the outbox sampler took no sample")
        return {
            "samples": len(ages),
            "p50_s": ages[len(ages) // 2],
            "p99_s": ages[min(len(ages) - 1, int(len(ages) * 0.99))],
            "max_s": ages[-1],
            "max_rows": max(self.rows),
            "owed_share": sum(1 for age in ages if age > 0) / len(ages),
        }
