"""A thread per server that drains the outbox after write requests (docs/recommendations.md).

A write request only wakes it, after its commit, and answers at once
(`ingest.hooks.drain_after_commit` calls `wake_drainer`, registered in
`recommendations/apps.py`): a
refresh can take long (a new event at the top of a popular sport reaches
thousands of users), and a burst of writes is settled by one drain. The
writer still reads its own bets at once: the read path computes the
answer of a user whose refresh is owed. If the process dies first, the
rows wait in the outbox for the next drain (a consumer, the next write).
"""

import logging
import threading
import time

from django.db import DatabaseError, close_old_connections

from recommendations.outbox import refresh_pending

logger = logging.getLogger(__name__)

RETRY_DELAY = 1.0
# After a wake, wait this long for more writes to join the same drain: a
# burst of single-record writes then costs one refresh, not one each.
LINGER = 0.5


class Drainer:
    """Drains whenever woken; wakes that arrive meanwhile are coalesced into one drain."""

    def __init__(self):
        self._wanted = threading.Event()
        self._idle = threading.Event()
        self._idle.set()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def wake(self) -> None:
        self._idle.clear()
        self._wanted.set()
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="betreco-outbox-drainer", daemon=True
                )
                self._thread.start()

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until every wake so far has been drained (for tests and shutdown)."""
        return self._idle.wait(timeout)

    def _retry_later(self) -> None:
        time.sleep(RETRY_DELAY)
        self._wanted.set()

    def _run(self) -> None:
        while True:
            self._wanted.wait()
            time.sleep(LINGER)
            self._wanted.clear()
            close_old_connections()
            try:
                refresh_pending(rebuilds=False)
            except DatabaseError as error:
                logger.warning("outbox not drained, retrying in %.0f s: %s", RETRY_DELAY, error)
                self._retry_later()
                continue
            except Exception:  # the thread must outlive any bug; the rows stay in the outbox
                logger.exception("outbox drain failed, retrying in %.0f s", RETRY_DELAY)
                self._retry_later()
                continue
            if not self._wanted.is_set():
                self._idle.set()


drainer = Drainer()


def wake_drainer() -> None:
    """Wake this process's drainer: what a server's write request asks for after its commit."""
    drainer.wake()
