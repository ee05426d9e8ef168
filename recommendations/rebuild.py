"""Full rebuilds: every user's answer recomputed, requested durably and run by whoever drains next.

`rebuild_request()` stores a `RebuildRequest`; `run_requested_rebuilds()`
claims every pending request with a lease and rebuilds, a chunk of users
per transaction, so consumers keep storing batches meanwhile. The lease
is renewed after every chunk; a process that dies mid-rebuild stops
renewing it, and the next drain after it runs out starts the rebuild
again. `POST /recommendation/generate` runs it in a thread of the server,
`manage.py rebuild_recommendations` in the foreground, and a consumer
takes over a request nobody is working on.
"""

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import connections, transaction
from django.db.models import F
from django.utils import timezone

from betreco.crashpoints import crash_point
from ingest.models import User
from recommendations.answers import CHUNK_SIZE, answers_rebuild, answers_rebuild_chunk
from recommendations.engines.base import (
    Changes,
    RecommendationEngine,
    everyone_if_none,
    load_engine,
)
from recommendations.lock import one_writer_at_a_time
from recommendations.models import RebuildRequest
from recommendations.ranking import Ranking, chunks
from recommendations.snapshot import snapshot_replace

logger = logging.getLogger(__name__)


def _lease_end():
    return timezone.now() + timedelta(seconds=settings.RECOMMENDATION_REBUILD_LEASE_SECONDS)


@dataclass(frozen=True)
class RebuildResult:
    users: int
    seconds: float
    engine: str


def rebuild_request() -> RebuildRequest:
    """Ask for every answer to be rebuilt; it waits in the database until a drain runs it."""
    return RebuildRequest.objects.create(users_total=User.objects.count())


def rebuild_in_background() -> None:
    """Run pending rebuilds in a thread of this process, once the caller's transaction commits."""
    transaction.on_commit(
        lambda: threading.Thread(target=_run_in_thread, name="betreco-rebuild", daemon=True).start()
    )


def _run_in_thread() -> None:
    try:
        run_requested_rebuilds()
    except Exception:  # the request stays pending: the next drain takes it over
        logger.exception("rebuild failed; it stays requested and the next drain runs it")
    finally:
        connections.close_all()


def run_requested_rebuilds(
    *, on_progress: Callable[[int], None] | None = None
) -> list[RebuildResult]:
    """Run every pending rebuild nobody is working on; returns what was run."""
    results = []
    while (claimed := _claim()) is not None:
        results.append(_rebuild(claimed, on_progress))
    return results


def _claim() -> list[int] | None:
    """Lease every pending request to this process, unless another one holds a live lease."""
    pending = RebuildRequest.objects.filter(finished_at__isnull=True)
    if not pending.exists():  # the common case, without taking the write lock
        return None
    with transaction.atomic():
        one_writer_at_a_time()
        now = timezone.now()
        if pending.filter(lease_until__gt=now).exists():
            return None
        ids = list(pending.values_list("id", flat=True))
        if not ids:
            return None
        RebuildRequest.objects.filter(id__in=ids).update(
            started_at=now,
            lease_until=_lease_end(),
            owner=f"{socket.gethostname()}:{os.getpid()}",
            users_done=0,
            users_total=User.objects.count(),
        )
    logger.info("rebuilding every user's recommendation (requests %s)", ids)
    return ids


def _rebuild(request_ids: list[int], on_progress) -> RebuildResult:
    """Every user's answer from one ranking, then a catch-up for what moved meanwhile."""
    started = time.perf_counter()
    engine = load_engine()
    ranking = engine.ranking()
    with transaction.atomic():
        one_writer_at_a_time()
        previous = Ranking.snapshot(engine.now, include_ended=True)
        snapshot_replace(previous=previous.rows, current=ranking.rows)
    done = 0
    requests = RebuildRequest.objects.filter(id__in=request_ids)
    for chunk in chunks(User.objects.order_by("id").values_list("id", flat=True), CHUNK_SIZE):
        with transaction.atomic():
            one_writer_at_a_time()
            done += answers_rebuild_chunk(chunk, engine=engine, ranking=ranking)
            requests.update(users_done=F("users_done") + len(chunk), lease_until=_lease_end())
        crash_point("rebuild-chunk")
        if on_progress:
            on_progress(len(chunk))
    with transaction.atomic():
        _catch_up(used=ranking)
        requests.update(finished_at=timezone.now(), lease_until=None)
    seconds = time.perf_counter() - started
    logger.info("rebuilt recommendations of %d users in %.2f s", done, seconds)
    return RebuildResult(users=done, seconds=seconds, engine=engine.name)


def _catch_up(*, used: Ranking) -> int:
    """Rebuild the users whose lists the ranking moved under since `used` was counted.

    The chunks share one ranking, so a batch committed during the rebuild
    can leave later chunks behind it (the batch's own refresh had already
    run against the snapshot).
    """
    one_writer_at_a_time()
    engine: RecommendationEngine = load_engine()
    current = engine.ranking()
    affected = engine.affected_users(Changes(), previous=used, current=current)
    count = answers_rebuild(everyone_if_none(affected), engine=engine, ranking=current)
    stored = Ranking.snapshot(engine.now, include_ended=True)
    snapshot_replace(previous=stored.rows, current=current.rows)
    return count


def rebuild_all(*, on_progress: Callable[[int], None] | None = None) -> RebuildResult:
    """Request a rebuild and run it here and now (the command, tests, benchmarks).

    When another process holds the lease, waits for it and then runs this
    request, which it cannot have covered.
    """
    request = rebuild_request()
    while True:
        results = run_requested_rebuilds(on_progress=on_progress)
        request.refresh_from_db()
        if request.finished_at is not None:
            if results:
                return results[-1]
            return RebuildResult(users=request.users_done, seconds=0.0, engine=load_engine().name)
        time.sleep(0.5)


def rebuild_current() -> RebuildRequest | None:
    """The rebuild running or waiting, if any (for progress reports)."""
    return RebuildRequest.objects.filter(finished_at__isnull=True).order_by("id").first()
