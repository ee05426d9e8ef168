"""Reads: a user's stored recommendation, with only events that are still open."""

from dataclasses import dataclass

from django.db.models import Prefetch
from django.utils import timezone

from ingest.models import Event
from ingest.selectors import user_get
from recommendations.models import RankingSnapshot, Recommendation, RecommendedEvent


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
