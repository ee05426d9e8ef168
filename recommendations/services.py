"""Writes: rebuilding stored recommendations, for some users or for everyone.

Answers come from the configured engine (`engines.base.load_engine`) and are
stored in bulk, a chunk of users at a time (one upsert of `Recommendation`,
one delete and one insert of `RecommendedEvent` per chunk), so memory stays
flat however many users there are.
"""

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from django.db import connection, transaction
from django.utils import timezone

from ingest.models import Coupon, Selection, User
from recommendations import selectors
from recommendations.engines.base import (
    Answer,
    Changes,
    Ranking,
    RecommendationEngine,
    load_engine,
)
from recommendations.models import RankingSnapshot, Recommendation, RecommendedEvent

logger = logging.getLogger(__name__)

CHUNK_SIZE = 2000


@dataclass
class RebuildResult:
    users: int
    seconds: float
    engine: str


def _chunks(ids: Sequence[int], size: int | None = None) -> Iterable[Sequence[int]]:
    size = size or CHUNK_SIZE
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


SNAPSHOT_COLUMNS = ["event_id", "sport_key", "begin_timestamp", "end_timestamp", "popularity"]
ANSWER_COLUMNS = [
    "user_id",
    "sport",
    "sport_key",
    "sport_selections",
    "total_selections",
    "event_count",
    "last_event_id",
    "reason",
    "engine",
    "generated_at",
]


def _upsert_sql(model, columns: list[str]) -> str:
    """INSERT .. ON CONFLICT (first column) DO UPDATE (SQLite >= 3.24 and PostgreSQL alike)."""
    quote = connection.ops.quote_name
    names = ", ".join(quote(c) for c in columns)
    updates = ", ".join(f"{quote(c)} = excluded.{quote(c)}" for c in columns[1:])
    placeholders = ", ".join(["%s"] * len(columns))
    return (
        f"INSERT INTO {quote(model._meta.db_table)} ({names}) VALUES ({placeholders}) "
        f"ON CONFLICT ({quote(columns[0])}) DO UPDATE SET {updates}"
    )


def _store_answers(answers: list[Answer], engine: RecommendationEngine) -> None:
    """Replace the stored answers of these users: one upsert, one delete, one insert.

    Shared answers (cold start) are not stored: the read path serves them.

    `executemany` rather than `bulk_create`: a full rebuild writes 100,000
    answers and 300,000 ranked events, and building that many model
    instances (and SQLite's 999-parameter statements) was most of its time.
    """
    shared = [a.user_id for a in answers if a.shared]
    answers = [a for a in answers if not a.shared]
    if shared:  # served on read from now on; an old personal answer must not linger
        Recommendation.objects.filter(user_id__in=shared).delete()
    generated_at = connection.ops.adapt_datetimefield_value(timezone.now())
    rows = [
        (
            a.user_id,
            a.sport,
            a.sport_key,
            a.sport_selections,
            a.total_selections,
            len(a.event_ids),
            a.event_ids[-1] if a.event_ids else None,
            a.reason,
            engine.name,
            generated_at,
        )
        for a in answers
    ]
    ranked = [
        (a.user_id, event_id, rank) for a in answers for rank, event_id in enumerate(a.event_ids)
    ]
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.executemany(_upsert_sql(Recommendation, ANSWER_COLUMNS), rows)
        RecommendedEvent.objects.filter(recommendation_id__in=[a.user_id for a in answers]).delete()
        cursor.executemany(
            f"INSERT INTO {quote(RecommendedEvent._meta.db_table)} "
            f"({quote('recommendation_id')}, {quote('event_id')}, {quote('rank')}) "
            "VALUES (%s, %s, %s)",
            ranked,
        )


def _rebuild_chunk(engine: RecommendationEngine, user_ids: Sequence[int]) -> list[Answer]:
    existing = list(User.objects.filter(id__in=user_ids).values_list("id", flat=True))
    answers = list(engine.recommend(existing)) if existing else []
    if answers:
        _store_answers(answers, engine)
    return answers


@transaction.atomic
def rebuild_for_users(
    *, user_ids: Iterable[int], engine: RecommendationEngine | None = None
) -> int:
    """Recompute and store the answers of these users (unknown ids are skipped).

    One transaction: the engine reads the ranking and the bets and the
    answers are written under the same snapshot (SQLite's IMMEDIATE
    transactions serialise it with concurrent batches).
    """
    engine = engine or load_engine()
    return sum(len(_rebuild_chunk(engine, chunk)) for chunk in _chunks(sorted(set(user_ids))))


def save_snapshot(*, previous: Ranking, current: Ranking) -> None:
    """Make `RankingSnapshot` equal `current`, writing only rows that differ from `previous`."""
    previous_rows, current_rows = previous.rows, current.rows
    adapt = connection.ops.adapt_datetimefield_value
    changed = [
        (pk, sport_key, adapt(begin), adapt(end), popularity)
        for pk, (sport_key, begin, end, popularity) in current_rows.items()
        if previous_rows.get(pk) != (sport_key, begin, end, popularity)
    ]
    gone = [pk for pk in previous_rows if pk not in current_rows]
    for chunk in _chunks(gone):
        RankingSnapshot.objects.filter(event_id__in=chunk).delete()
    RankingSnapshot.objects.filter(end_timestamp__lte=timezone.now()).delete()
    with connection.cursor() as cursor:
        cursor.executemany(_upsert_sql(RankingSnapshot, SNAPSHOT_COLUMNS), changed)


REFRESH_LOCK = 7_311_842  # any number, the same in every process


def _one_writer_at_a_time() -> None:
    """Hold the recommendations write lock until the transaction ends.

    Refreshes, rebuilds and answers stored on read each compute from what
    they read, then write. On SQLite the IMMEDIATE transaction already lets
    one writer in at a time; on PostgreSQL (READ COMMITTED) two of them
    could each write the snapshot from their own count, and the older win.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [REFRESH_LOCK])


def rebuild_all(
    *,
    engine: RecommendationEngine | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> RebuildResult:
    """Recompute every user's answer, a chunk of users per transaction.

    Short transactions let consumers keep storing batches meanwhile. The
    chunks share one ranking, so a batch committed during the rebuild can
    leave later chunks behind it: a catch-up refresh at the end rebuilds
    the users whose lists the ranking has moved under since.
    """
    started = time.perf_counter()
    engine = engine or load_engine()
    with transaction.atomic():
        _one_writer_at_a_time()
        save_snapshot(previous=Ranking.snapshot(engine.now), current=engine.ranking)
    user_ids = list(User.objects.order_by("id").values_list("id", flat=True))
    done = 0
    for chunk in _chunks(user_ids):
        with transaction.atomic():
            _one_writer_at_a_time()
            done += len(_rebuild_chunk(engine, chunk))
        if on_progress:
            on_progress(len(chunk))
    _catch_up(used=engine.ranking)
    seconds = time.perf_counter() - started
    logger.info("rebuilt recommendations of %d users in %.2f s", done, seconds)
    return RebuildResult(users=done, seconds=seconds, engine=engine.name)


@transaction.atomic
def _catch_up(*, used: Ranking) -> int:
    """Rebuild the users whose lists the ranking moved under since `used` was counted."""
    _one_writer_at_a_time()
    engine = load_engine()
    affected = engine.affected_users(Changes(), used)
    if affected is None:
        affected = User.objects.values_list("id", flat=True)
    count = rebuild_for_users(user_ids=affected, engine=engine) if affected else 0
    save_snapshot(previous=Ranking.snapshot(engine.now), current=engine.ranking)
    return count


def _resolve_coupons(changes: Changes) -> Changes:
    """Coupons become their users (bets changed) and their events (popularity changed)."""
    users, popular = set(changes.users), set(changes.popular)
    if changes.coupons:
        users |= set(
            Coupon.objects.filter(id__in=changes.coupons).values_list("user_id", flat=True)
        )
        popular |= set(
            Selection.objects.filter(coupon_id__in=changes.coupons).values_list(
                "event_id", flat=True
            )
        )
    return Changes(users=users, events=set(changes.events), popular=popular)


@transaction.atomic
def refresh_recommendations(*, changes: Changes) -> int:
    """Rebuild the users `changes` can affect (the engine says which); returns how many.

    The engine compares the ranking the stored answers came from
    (`RankingSnapshot`) with the ranking now, which is the snapshot with the
    changed events counted again (cheap: no count over all selections); the
    snapshot is then brought up to date in the same transaction as the
    answers. Writes that bypass signals (`QuerySet.update`, raw SQL) leave
    the snapshot behind: `rebuild_recommendations` resets everything.
    """
    _one_writer_at_a_time()
    engine = load_engine()
    changes = _resolve_coupons(changes)
    previous = Ranking.snapshot(engine.now)
    engine.ranking = previous.updated(changes.events | changes.popular, engine.now)
    affected = engine.affected_users(changes, previous)
    if affected is None:
        affected = User.objects.values_list("id", flat=True)
    count = rebuild_for_users(user_ids=affected, engine=engine) if affected else 0
    save_snapshot(previous=previous, current=engine.ranking)
    logger.debug("refreshed recommendations of %d users", count)
    return count


def recommendation_current(*, user_id: int) -> selectors.CurrentRecommendation:
    """A user's recommendation as of now: stored, or computed on read.

    Computed when the user has no stored answer (a shared cold-start
    answer, or one never built) or when the stored one lists an event that
    has ended since (events end without any write). Ended events are never
    shown. A personal answer computed here is stored for the next read.
    """
    current = selectors.recommendation_get(user_id=user_id)
    if current is not None and not current.stale:
        return current
    selectors.user_require(user_id=user_id)
    engine, answer = _answer_now(user_id)
    if not answer.shared or current is not None:  # a shared answer alone is not written
        with transaction.atomic():
            _one_writer_at_a_time()
            # Again under the lock: a refresh that committed since must not be overwritten.
            engine, answer = _answer_now(user_id)
            _store_answers([answer], engine)
    return selectors.recommendation_of(answer, engine=engine.name, generated_at=engine.now)


def _answer_now(user_id: int) -> tuple[RecommendationEngine, Answer]:
    engine = load_engine()
    if selectors.snapshot_exists():
        # The ranking every stored answer came from, only the rows this user
        # needs read (milliseconds, where counting selections takes a tenth
        # of a second); refreshes keep it equal to the current one.
        engine.ranking = Ranking.snapshot(engine.now)
    (answer,) = engine.recommend([user_id])
    return engine, answer
