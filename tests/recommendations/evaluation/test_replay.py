"""Replaying history at a cut-off T: what the engines see then, and what they are scored against."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from ingest.models import Selection
from recommendations.engines.base import Answer, RecommendationEngine
from recommendations.engines.frequency import FrequencyEngine
from recommendations.engines.popularity import PopularityEngine
from recommendations.evaluation.metrics import KS
from recommendations.evaluation.replay import default_cut_off, evaluate, split_at
from recommendations.history import History
from tests.factories import CouponFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def at():
    """The cut-off: ten days ago (the events the tests make are open then, and still are)."""
    return timezone.now() - timedelta(days=10)


def place(user, *events, when):
    return CouponFactory(
        user=user, stake=Decimal("5"), timestamp=when, selections=[(e, "2") for e in events]
    )


def answer_at(engine_class, user, at):
    engine = engine_class(per_user=10, now=at, history=History(before=at))
    return next(engine.recommend([user.pk], engine.ranking()))


def test_a_users_bets_after_the_cut_off_never_shape_their_answer_at_it(at, user, make_event):
    tennis_bet, tennis_open = make_event("Tennis"), make_event("Tennis")
    football = [make_event("Football") for _ in range(3)]
    place(user, tennis_bet, when=at - timedelta(days=1))
    place(user, *football, when=at + timedelta(days=1))  # most of their bets, but later
    place(user, tennis_open, when=at + timedelta(days=2))

    live = FrequencyEngine(per_user=10)
    assert next(live.recommend([user.pk], live.ranking())).sport == "Football"
    then = answer_at(FrequencyEngine, user, at)
    assert then.sport == "Tennis"
    assert then.reason == "1 of your 1 selections are Tennis."
    # Bet on after T, so not yet bet on at T: recommendable then, and a hit.
    assert then.event_ids == [tennis_open.pk]
    result = evaluate(split_at(at), {"frequency": FrequencyEngine}).engines["frequency"]
    assert result.means["hit_rate"][1] == 1
    assert result.means["recall"][1] == 1 / 4


def test_popularity_at_the_cut_off_counts_only_the_bets_placed_before_it(at, user, make_event):
    early, late = make_event("Golf"), make_event("Golf", begins_in=timedelta(hours=2))
    place(UserFactory(), early, when=at - timedelta(hours=1))
    for _ in range(3):
        place(UserFactory(), late, when=at + timedelta(hours=1))
    assert answer_at(PopularityEngine, user, at).event_ids == [early.pk, late.pk]
    live = PopularityEngine()
    assert next(live.recommend([user.pk], live.ranking())).event_ids == [late.pk, early.pk]


def test_events_that_ended_before_the_cut_off_are_not_recommended_at_it(at, user, make_event):
    ended = make_event("Golf", begins_in=timedelta(days=-20), ends_in=timedelta(days=-19))
    open_then = make_event("Golf")
    place(UserFactory(), ended, when=at - timedelta(days=21))
    assert answer_at(PopularityEngine, user, at).event_ids == [open_then.pk]


class OracleEngine(RecommendationEngine):
    """Cheats: recommends what each user selects from `now` on (a perfect engine)."""

    name = "oracle"

    def recommend(self, user_ids, ranking):
        later = Selection.objects.filter(
            coupon__user_id__in=user_ids, coupon__timestamp__gte=self.now
        )
        for user_id in user_ids:
            picked = sorted(
                later.filter(coupon__user_id=user_id).values_list("event_id", flat=True)
            )
            yield Answer(user_id=user_id, event_ids=picked, reason="")


class NeverEngine(RecommendationEngine):
    """Recommends only the events nobody ever selects (a never-right engine)."""

    name = "never"

    def recommend(self, user_ids, ranking):
        picked = set(Selection.objects.values_list("event_id", flat=True))
        unpicked = [pk for pk in ranking.events(None) if pk not in picked]
        for user_id in user_ids:
            yield Answer(user_id=user_id, event_ids=unpicked, reason="")


def test_a_perfect_engine_scores_one_and_a_never_right_one_zero(at, make_event):
    events = [make_event("Tennis") for _ in range(4)]
    for _ in range(10):
        make_event("Tennis")  # nobody selects these
    for index in range(3):
        user = UserFactory()
        place(user, events[index], when=at - timedelta(days=1))
        place(user, *events[index + 1 :], when=at + timedelta(days=1))

    evaluation = evaluate(split_at(at), {"oracle": OracleEngine, "never": NeverEngine})

    assert evaluation.users == 3
    perfect, never = evaluation.engines["oracle"], evaluation.engines["never"]
    for k in KS:
        assert perfect.means["hit_rate"][k] == 1
        assert perfect.means["ndcg"][k] == pytest.approx(1)
        assert all(never.means[metric][k] == 0 for metric in never.means)
    assert perfect.means["precision"][1] == perfect.means["recall"][10] == 1
    assert never.coverage == pytest.approx(10 / 14)
    assert perfect.coverage == pytest.approx(3 / 14)


def test_events_already_bet_on_before_the_cut_off_are_not_scored(at, make_event):
    again, new = make_event("Golf"), make_event("Golf")
    repeater, explorer = UserFactory(), UserFactory()
    for user in (repeater, explorer):
        place(user, again, when=at - timedelta(days=1))
    place(repeater, again, when=at + timedelta(days=1))
    place(explorer, again, new, when=at + timedelta(days=1))
    split = split_at(at)
    assert split.relevant == {explorer.pk: {new.pk}}  # the repeater brought nothing new


def test_cold_starts_are_counted_apart(at, make_event):
    golf = make_event("Golf")
    newcomer, regular = UserFactory(), UserFactory()
    place(regular, make_event("Golf"), when=at - timedelta(days=1))
    place(newcomer, golf, when=at + timedelta(days=1))
    place(regular, golf, when=at + timedelta(days=1))
    evaluation = evaluate(split_at(at), {"frequency": FrequencyEngine})
    assert (evaluation.users, evaluation.cold_start) == (2, 1)
    result = evaluation.engines["frequency"]
    assert (result.answered, result.answered_cold_start) == (2, 1)


def test_the_default_cut_off_is_the_80th_percentile_of_coupon_times(user, make_event):
    now = timezone.now()
    golf = make_event("Golf")
    times = [now - timedelta(days=days) for days in range(10, 0, -1)]
    for when in times:
        place(user, golf, when=when)
    assert default_cut_off() == times[7]  # the 8th of 10: two of ten coupons come after it
