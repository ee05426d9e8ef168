"""Fixtures for recommendation tests: events and coupons in a few lines, and fresh answers."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db.models import Prefetch
from django.utils import timezone

from ingest.models import User
from recommendations import selectors
from recommendations.engines.base import load_engine
from recommendations.models import Recommendation, RecommendedEvent
from tests.factories import CouponFactory, EventFactory, UserFactory


@pytest.fixture
def make_event():
    """An event of `sport`, beginning `begins_in` from now and lasting a day (or `ends_in`)."""

    def make(sport="Football", begins_in=timedelta(hours=1), ends_in=None, **fields):
        begin = timezone.now() + begins_in
        end = timezone.now() + ends_in if ends_in is not None else begin + timedelta(days=1)
        return EventFactory(sport=sport, begin_timestamp=begin, end_timestamp=end, **fields)

    return make


@pytest.fixture
def bet():
    """A coupon of `user` on `events`, placed `ago` before now."""

    def place(user, *events, ago=timedelta(hours=1)):
        return CouponFactory(
            user=user,
            stake=Decimal("5"),
            timestamp=timezone.now() - ago,
            selections=[(event, "2") for event in events],
        )

    return place


@pytest.fixture
def user():
    return UserFactory()


def stored_answers() -> dict:
    """Every answer as served: the stored personal ones, and the shared cold-start one.

    A user without a stored answer must be a cold-start user; one who has
    bets but no stored answer shows as MISSING, so a refresh that forgot
    them cannot hide behind the answer the API computes on read.
    """
    answers = {}
    # In chunks, the ranked events prefetched in order (a query per chunk, not per answer):
    # SQLite takes at most 32,766 parameters a query, and the soak stores 100,000 answers.
    ids = list(Recommendation.objects.values_list("pk", flat=True))
    ranked = Prefetch("ranked", queryset=RecommendedEvent.objects.order_by("rank"))
    for start in range(0, len(ids), 5000):
        chunk = ids[start : start + 5000]
        for r in Recommendation.objects.filter(pk__in=chunk).prefetch_related(ranked):
            answers[r.user_id] = (
                r.sport_key,
                r.sport,
                r.sport_selections,
                r.total_selections,
                r.reason,
                [entry.event_id for entry in r.ranked.all()],
            )
    personal = set(answers)
    for user_id in User.objects.values_list("id", flat=True).iterator():
        if user_id in personal:
            continue
        served = selectors.recommendation_current(user_id=user_id)
        r = served.recommendation
        if r.sport_key:
            answers[user_id] = "MISSING (a personal answer was never stored)"
            continue
        answers[user_id] = (
            r.sport_key,
            r.sport,
            r.sport_selections,
            r.total_selections,
            r.reason,
            [event.pk for event in served.events],
        )
    return answers


def personal_answer_count() -> int:
    """Users with a stored (personal) answer: those with bets."""
    return Recommendation.objects.count()


def from_scratch() -> dict:
    """The answers a full rebuild would store right now (computed, nothing written)."""
    return {
        a.user_id: (
            a.sport_key,
            a.sport,
            a.sport_selections,
            a.total_selections,
            a.reason,
            a.event_ids,
        )
        for a in _engine_now()
    }


def _engine_now():
    """Every user's answer from one ranking, in chunks the engine can hold (as a rebuild does)."""
    engine = load_engine()
    ranking = engine.ranking()
    user_ids = list(User.objects.values_list("id", flat=True))
    for start in range(0, len(user_ids), 5000):
        yield from engine.recommend(user_ids[start : start + 5000], ranking)
