"""One writer of recommendations at a time across processes, and the lease of a full rebuild."""

import os
import secrets
import socket
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import connection
from django.db.models import F
from django.utils import timezone

from recommendations.models import RebuildRequest

REFRESH_LOCK = 7_311_842  # any number, the same in every process


def one_writer_at_a_time() -> None:
    """Hold the recommendations write lock until the transaction ends.

    Refreshes and rebuilds each compute from what they read, then write.
    On SQLite the IMMEDIATE transaction already lets one writer in at a
    time; on PostgreSQL (READ COMMITTED) two of them could each write the
    snapshot from their own count, and the older win.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [REFRESH_LOCK])


def lease_end():
    return timezone.now() + timedelta(seconds=settings.RECOMMENDATION_REBUILD_LEASE_SECONDS)


def new_owner() -> str:
    """host:pid of this process, and a token of this claim (two claims of one process differ)."""
    return f"{socket.gethostname()}:{os.getpid()}/{secrets.token_hex(3)}"


class LeaseLost(Exception):  # noqa: N818 - an event the rebuild handles, not a failure
    """Another process took the rebuild over: this one stalled past its lease."""


@dataclass(frozen=True)
class Lease:
    """One claim of rebuild requests; each of its writes first checks that it still holds them.

    A process can stall past its lease (a pause, a long database wait) while
    another one claims the rebuild and starts again. When the first wakes,
    its renewals, chunks and finish must change nothing: each updates only
    rows this claim still owns, under the write lock (the same lock a claim
    takes), and finding none raises `LeaseLost`, which rolls back the
    caller's transaction with the chunk it was writing.
    """

    request_ids: tuple[int, ...]
    owner: str

    def _held(self):
        return RebuildRequest.objects.filter(
            id__in=self.request_ids, owner=self.owner, finished_at__isnull=True
        )

    def _check(self, updated: int) -> None:
        if updated < len(self.request_ids):
            raise LeaseLost(
                f"rebuild {list(self.request_ids)} ({self.owner}) was taken over by another "
                "process after its lease ran out; stopping, the other one finishes it"
            )

    def renew(self, *, users_done: int = 0) -> None:
        """Extend the lease and count `users_done` more users; call under the write lock."""
        updated = self._held().update(
            lease_until=lease_end(), users_done=F("users_done") + users_done
        )
        self._check(updated)

    def finish(self) -> None:
        """Mark the requests done; call under the write lock, in the last write's transaction."""
        self._check(self._held().update(finished_at=timezone.now(), lease_until=None))

    def release(self) -> None:
        """Give the lease up now, so the next drain takes the rebuild over without waiting."""
        self._held().update(lease_until=None)
