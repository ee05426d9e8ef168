"""The refresh outbox (docs/recommendations.md): what changes owe the stored answers; its drain.

    ingest write ──same transaction──▶ PendingRefresh rows
                                            │
        refresh_pending() ◀─────────────────┘  (consumer after a batch, server after a write)
          one transaction: read every pending row, rebuild the users they
          affect, write answers and snapshot, delete the rows it handled

A process killed anywhere leaves either the rows (the next drain does the
work) or the answers and no rows (the work is done): never a stale answer
for good. Drains coalesce: everything pending is handled in one go, so a
burst of writes costs one refresh.
"""

import logging
import time
from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone

from betreco import metrics
from betreco.crashpoints import crash_point
from betreco.sql import db_datetime, execute_many, insert_sql
from recommendations.answers import answers_compute, answers_store
from recommendations.engines.base import Changes, everyone_if_none, load_engine
from recommendations.lock import one_writer_at_a_time
from recommendations.models import PendingRefresh
from recommendations.ranking import Ranking, chunks
from recommendations.snapshot import (
    ended_events,
    ended_events_exist,
    snapshot_version,
    snapshot_write,
)

logger = logging.getLogger(__name__)

Scope = PendingRefresh.Scope

# Plans made outside the write lock before one is made under it (when drains keep overtaking).
PLAN_ATTEMPTS = 3


def outbox_add(*, users=(), events=(), popular=()) -> None:
    """Record what a change owes, in the caller's transaction (one INSERT for all of it)."""
    created_at = db_datetime(timezone.now())
    rows = [
        (scope, ref_id, created_at)
        for scope, ids in ((Scope.USER, users), (Scope.EVENT, events), (Scope.POPULARITY, popular))
        for ref_id in set(ids)
    ]
    if rows:
        execute_many(insert_sql(PendingRefresh, ["scope", "ref_id", "created_at"]), rows)


@dataclass(frozen=True)
class RefreshResult:
    """What one drain did: outbox rows handled, answers rebuilt, how long the oldest row waited."""

    handled: int = 0
    users: int = 0
    oldest_wait: float = 0.0
    seconds: float = 0.0


def refresh_pending(*, rebuilds: bool = True) -> RefreshResult:
    """Settle everything the outbox holds; with `rebuilds`, run requested full rebuilds first.

    Cheap when there is nothing to do (two indexed reads, no write lock),
    so callers may call it as often as they like.
    """
    if rebuilds:
        from recommendations.rebuild import run_requested_rebuilds

        run_requested_rebuilds()
    now = timezone.now()
    if not PendingRefresh.objects.exists() and not ended_events_exist(now):
        return RefreshResult()
    result = _refresh(now)
    crash_point("after-refresh")
    return result


@dataclass
class _Plan:
    """What a drain will write: computed from reads alone, before taking the write lock."""

    pending: list[tuple]
    answers: list = field(default_factory=list)
    engine: str = ""
    rows: dict = field(default_factory=dict)
    gone: list[int] = field(default_factory=list)


def _plan(now) -> _Plan:
    pending = list(PendingRefresh.objects.values_list("id", "scope", "ref_id", "created_at"))
    changes = Changes()
    by_scope = {
        Scope.USER: changes.users,
        Scope.EVENT: changes.events,
        Scope.POPULARITY: changes.popular,
    }
    for _, scope, ref_id, _ in pending:
        by_scope[scope].add(ref_id)
    engine = load_engine(now=now)
    previous = Ranking.snapshot(now, include_ended=True)
    touched = changes.events | changes.popular | set(ended_events(now))
    current = previous.updated(touched, now)
    affected = engine.affected_users(changes, previous=previous, current=current)
    return _Plan(
        pending=pending,
        answers=answers_compute(everyone_if_none(affected), engine=engine, ranking=current),
        engine=engine.name,
        rows={pk: row for pk, row in current.overrides.items() if row is not None},
        gone=[pk for pk, row in current.overrides.items() if row is None],
    )


def _write(plan: _Plan) -> None:
    answers_store(plan.answers, engine=plan.engine)
    snapshot_write(rows=plan.rows, gone=plan.gone)
    for chunk in chunks(row[0] for row in plan.pending):
        PendingRefresh.objects.filter(id__in=chunk).delete()


def _refresh(now) -> RefreshResult:
    """Plan from reads, then write under the lock, unless another drain wrote meanwhile.

    The rows a drain handles and the answers it writes leave together; a
    change committed while it planned has rows of its own, left for the
    next drain. Planning outside the write lock keeps SQLite's single
    writer free for the records (a refresh can take a second; its writes
    take milliseconds).
    """
    started = time.perf_counter()
    for attempt in range(1, PLAN_ATTEMPTS + 1):
        version = snapshot_version()
        plan = _plan(now)
        with transaction.atomic():
            one_writer_at_a_time()
            if snapshot_version() != version:  # another drain or rebuild wrote meanwhile
                if attempt < PLAN_ATTEMPTS:
                    continue  # plan again, without holding the lock
                plan = _plan(now)  # busy: plan under the lock this time
            _write(plan)
            crash_point("refresh-written")
        break
    oldest = min((row[3] for row in plan.pending), default=now)
    result = RefreshResult(
        handled=len(plan.pending),
        users=len(plan.answers),
        oldest_wait=max((timezone.now() - oldest).total_seconds(), 0.0),
        seconds=time.perf_counter() - started,
    )
    metrics.RECOMMENDATION_REFRESH.observe(result.seconds)
    logger.debug("refreshed: %s", result)
    return result


def refresh_owed(*, user_id: int) -> bool:
    """Whether a change of this user's bets waits in the outbox."""
    return PendingRefresh.objects.filter(scope=Scope.USER, ref_id=user_id).exists()
