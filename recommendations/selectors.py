"""Reads: a user's recommendation as of now. Reads only read: nothing here writes.

A stored answer is served when it is current. Otherwise (a cold-start
user, whose answer is shared and never stored; a stored answer listing an
event that has ended since; a change of the user's bets still waiting in
the outbox) the answer is computed on read from the ranking snapshot and
served without being stored: the outbox's drain is what stores answers.
"""

from dataclasses import dataclass

from django.db.models import Prefetch
from django.utils import timezone

from ingest.models import Event
from ingest.selectors import user_get
from recommendations.engines.base import Answer, load_engine
from recommendations.models import RankingSnapshot, Recommendation, RecommendedEvent
from recommendations.outbox import refresh_owed
from recommendations.ranking import Ranking


@dataclass
class CurrentRecommendation:
    recommendation: Recommendation
    events: list[Event]
    stale: bool  # the stored answer lists an event that has ended since


def user_require(*, user_id: int) -> None:
    """404 with a message for an unknown user."""
    user_get(user_id=user_id)


def snapshot_exists() -> bool:
    """Whether refreshes have recorded a ranking yet (a fresh database has none)."""
    return RankingSnapshot.objects.exists()


def recommendation_get(*, user_id: int) -> CurrentRecommendation | None:
    """The stored recommendation with its open events in rank order, or None if none is stored."""
    ranked = RecommendedEvent.objects.select_related("event__participants").order_by("rank")
    recommendation = (
        Recommendation.objects.filter(user_id=user_id)
        .prefetch_related(Prefetch("ranked", queryset=ranked))
        .first()
    )
    if recommendation is None:
        return None
    now = timezone.now()
    events = [entry.event for entry in recommendation.ranked.all()]
    open_events = [event for event in events if event.end_timestamp > now]
    return CurrentRecommendation(
        recommendation=recommendation, events=open_events, stale=len(open_events) < len(events)
    )


def recommendation_current(*, user_id: int) -> CurrentRecommendation:
    """A user's recommendation as of now: stored when current, else computed (404 if unknown)."""
    current = recommendation_get(user_id=user_id)
    if current is not None and not current.stale and not refresh_owed(user_id=user_id):
        return current
    user_require(user_id=user_id)
    engine = load_engine()
    # The ranking the stored answers came from, only the rows this user
    # needs read (milliseconds, where counting selections takes a tenth of
    # a second); a fresh database without one counts.
    ranking = Ranking.snapshot(engine.now) if snapshot_exists() else engine.ranking()
    (answer,) = engine.recommend([user_id], ranking)
    return recommendation_of(answer, engine=engine.name, generated_at=engine.now)


def recommendation_of(answer: Answer, *, engine: str, generated_at) -> CurrentRecommendation:
    """An engine's answer, computed on read, as the API shows a stored one."""
    recommendation = Recommendation(
        user_id=answer.user_id,
        sport=answer.sport,
        sport_key=answer.sport_key,
        sport_selections=answer.sport_selections,
        total_selections=answer.total_selections,
        event_count=len(answer.event_ids),
        reason=answer.reason,
        engine=engine,
        generated_at=generated_at,
    )
    events = Event.objects.select_related("participants").in_bulk(answer.event_ids)
    return CurrentRecommendation(
        recommendation=recommendation,
        events=[events[pk] for pk in answer.event_ids if pk in events],
        stale=False,
    )
