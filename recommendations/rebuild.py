"""Full rebuilds: every user's answer recomputed, requested durably and run by whoever drains next.

`rebuild_request()` stores a `RebuildRequest`; `run_requested_rebuilds()`
claims every pending request with a lease and rebuilds, a chunk of users
per transaction, so consumers keep storing batches meanwhile. The lease
is renewed with every chunk; a process that dies mid-rebuild stops
renewing it, and the next drain after it runs out starts the rebuild
again. A process that only stalled past its lease finds the rebuild taken
over at its next write and stops (`lock.Lease`). A consumer told to stop
stops its rebuild between chunks (`betreco.stopping`) and releases the
lease, so the next drain starts it again at once.
`POST /recommendation/generate` runs it in a thread of the server,
`manage.py rebuild_recommendations` in the foreground, and a consumer
takes over a request nobody is working on.
"""

import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from django.conf import settings
from django.db import connections, transaction
from django.utils import timezone

from betreco.crashpoints import crash_point
from betreco.stopping import stop_requested
from ingest.models import User
from recommendations.answers import answers_rebuild, answers_rebuild_chunk
from recommendations.engines.base import (
    Changes,
    RecommendationEngine,
    everyone_if_none,
    load_engine,
)
from recommendations.lock import Lease, LeaseLost, lease_end, new_owner, one_writer_at_a_time
from recommendations.models import RebuildRequest
from recommendations.ranking import Ranking, chunks
from recommendations.snapshot import snapshot_replace

logger = logging.getLogger(__name__)


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
    """Run every pending rebuild nobody is working on; returns what was run to the end.

    Returns early when the caller asks to stop (`betreco.stopping`): the
    rebuild stops between chunks and stays requested, its lease released.
    """
    results = []
    while not stop_requested() and (lease := claim()) is not None:
        try:
            result = Rebuild(lease).run(on_progress)
        except LeaseLost as lost:
            logger.warning("%s", lost)
            continue  # the other process holds a live lease now: the claim finds nothing
        if result is None:
            break
        results.append(result)
    return results


def claim() -> Lease | None:
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
        lease = Lease(request_ids=tuple(ids), owner=new_owner())
        RebuildRequest.objects.filter(id__in=ids).update(
            started_at=now,
            lease_until=lease_end(),
            owner=lease.owner,
            users_done=0,
            users_total=User.objects.count(),
        )
    logger.info("rebuilding every user's recommendation (requests %s, %s)", ids, lease.owner)
    return lease


class Rebuild:
    """Every user's answer from one ranking, a chunk per transaction, then a catch-up.

    Each write (the snapshot, each chunk, the catch-up) renews or checks the
    lease in its own transaction first, so a rebuild another process took
    over raises `LeaseLost` without writing anything more.
    """

    def __init__(self, lease: Lease):
        self.lease = lease
        self.started = time.perf_counter()
        self.engine = load_engine()
        self.ranking = self.engine.ranking()
        self.done = 0

    def run(self, on_progress: Callable[[int], None] | None = None) -> RebuildResult | None:
        """The whole rebuild; None if it was asked to stop before the end."""
        for count in self.chunks():
            if on_progress:
                on_progress(count)
            if stop_requested():
                self.lease.release()
                logger.info(
                    "rebuild stopped after %d users, asked to stop; it stays requested and "
                    "the next drain runs it again",
                    self.done,
                )
                return None
        return self.finish()

    def chunks(self) -> Iterator[int]:
        """Store the snapshot, then each chunk of users' answers; yields the users of each."""
        with transaction.atomic():
            one_writer_at_a_time()
            self.lease.renew()
            previous = Ranking.snapshot(self.engine.now, include_ended=True)
            snapshot_replace(previous=previous.rows, current=self.ranking.rows)
        size = settings.RECOMMENDATION_REBUILD_CHUNK_SIZE
        for chunk in chunks(User.objects.order_by("id").values_list("id", flat=True), size):
            with transaction.atomic():
                one_writer_at_a_time()
                self.lease.renew(users_done=len(chunk))
                self.done += answers_rebuild_chunk(chunk, engine=self.engine, ranking=self.ranking)
            crash_point("rebuild-chunk")
            yield len(chunk)

    def finish(self) -> RebuildResult:
        """The catch-up, and the requests marked done in its transaction."""
        with transaction.atomic():
            one_writer_at_a_time()
            self.lease.finish()
            _catch_up(used=self.ranking)
        seconds = time.perf_counter() - self.started
        logger.info("rebuilt recommendations of %d users in %.2f s", self.done, seconds)
        return RebuildResult(users=self.done, seconds=seconds, engine=self.engine.name)


def _catch_up(*, used: Ranking) -> int:
    """Rebuild the users whose stored answers the ranking now has moved under.

    A stored answer was made either by a chunk, from `used` (the chunks
    share one ranking), or by a drain that ran during the rebuild, from the
    snapshot it wrote (later drains rewrite every answer their change
    reaches, so such an answer also holds for the snapshot stored now). So
    a user is rebuilt where `used` or the stored snapshot differs from the
    ranking now within the user's reach; comparing with `used` alone misses
    an answer a drain wrote when a later change, committed but not yet
    drained, brought the ranking back to `used`.
    """
    one_writer_at_a_time()
    engine: RecommendationEngine = load_engine()
    current = engine.ranking()
    stored = Ranking.snapshot(engine.now, include_ended=True)
    affected: set[int] | None = set()
    for made_from in (used, stored):
        users = engine.affected_users(Changes(), previous=made_from, current=current)
        if users is None:
            affected = None
            break
        affected |= users
    count = answers_rebuild(everyone_if_none(affected), engine=engine, ranking=current)
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
