"""Storing answers: compute some users' answers with an engine and replace the stored ones.

Answers are stored in bulk, a chunk of users at a time (one upsert of
`Recommendation`, one delete and one insert of `RecommendedEvent` per
chunk), so memory stays flat however many users there are.
"""

from collections.abc import Iterable, Sequence

from django.utils import timezone

from betreco.sql import db_datetime, execute_many, insert_sql, upsert_sql
from ingest.models import User
from recommendations.engines.base import Answer, RecommendationEngine
from recommendations.models import Recommendation, RecommendedEvent
from recommendations.ranking import Ranking, chunks

CHUNK_SIZE = 2000
COLUMNS = [
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


def answers_store(answers: list[Answer], *, engine: str) -> None:
    """Replace the stored answers of these users, a chunk at a time."""
    for start in range(0, len(answers), CHUNK_SIZE):
        _store_chunk(answers[start : start + CHUNK_SIZE], engine=engine)


def _store_chunk(answers: list[Answer], *, engine: str) -> None:
    """Replace the stored answers of these users: one upsert, one delete, one insert.

    Shared answers (cold start) are not stored: the read path serves them,
    and an old personal answer of such a user is deleted.
    """
    shared = [a.user_id for a in answers if a.shared]
    if shared:
        Recommendation.objects.filter(user_id__in=shared).delete()
    answers = [a for a in answers if not a.shared]
    generated_at = db_datetime(timezone.now())
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
            engine,
            generated_at,
        )
        for a in answers
    ]
    execute_many(upsert_sql(Recommendation, COLUMNS), rows)
    RecommendedEvent.objects.filter(recommendation_id__in=[a.user_id for a in answers]).delete()
    execute_many(
        insert_sql(RecommendedEvent, ["recommendation_id", "event_id", "rank"]),
        [(a.user_id, event_id, rank) for a in answers for rank, event_id in enumerate(a.event_ids)],
    )


def answers_compute(
    user_ids: Iterable[int], *, engine: RecommendationEngine, ranking: Ranking
) -> list[Answer]:
    """The answers of these users (unknown ids skipped), computed a chunk at a time; no writes."""
    answers = []
    for chunk in chunks(sorted(set(user_ids)), CHUNK_SIZE):
        existing = list(User.objects.filter(id__in=chunk).values_list("id", flat=True))
        answers += engine.recommend(existing, ranking) if existing else []
    return answers


def answers_rebuild_chunk(
    user_ids: Sequence[int], *, engine: RecommendationEngine, ranking: Ranking
) -> int:
    """Recompute and store the answers of one chunk of users; returns how many."""
    answers = answers_compute(user_ids, engine=engine, ranking=ranking)
    answers_store(answers, engine=engine.name)
    return len(answers)


def answers_rebuild(
    user_ids: Iterable[int], *, engine: RecommendationEngine, ranking: Ranking
) -> int:
    """Recompute and store the answers of these users, a chunk at a time; returns how many.

    Call it inside the caller's transaction, under `lock.one_writer_at_a_time`.
    """
    return sum(
        answers_rebuild_chunk(chunk, engine=engine, ranking=ranking)
        for chunk in chunks(sorted(set(user_ids)), CHUNK_SIZE)
    )
