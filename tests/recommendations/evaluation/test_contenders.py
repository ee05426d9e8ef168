"""The engines an evaluation compares: found in recommendations/engines/, plus a random baseline."""

import pytest

from recommendations.engines.base import Answer, RecommendationEngine
from recommendations.evaluation.contenders import RandomEngine, UnknownEngine, contenders
from tests.factories import UserFactory


class ConfiguredEngine(RecommendationEngine):
    """An engine named in the settings that lives outside recommendations/engines/."""

    name = "configured"

    def recommend(self, user_ids, ranking):
        for user_id in user_ids:
            yield Answer(user_id=user_id, event_ids=[], reason="")


def test_every_engine_of_the_project_and_random_are_compared_by_default():
    assert list(contenders()) == ["frequency", "popularity", "random"]


def test_the_engine_the_settings_name_is_compared_too(settings):
    settings.RECOMMENDATION_ENGINE = f"{__name__}.ConfiguredEngine"
    assert contenders()["configured"] is ConfiguredEngine


def test_engines_can_be_picked_by_name_in_the_order_given():
    assert list(contenders(["random", "frequency"])) == ["random", "frequency"]


def test_an_unknown_engine_is_refused_naming_the_known_ones():
    with pytest.raises(UnknownEngine, match=r"'best' \(known: frequency, popularity, random\)"):
        contenders(["frequency", "best"])


@pytest.mark.django_db
def test_the_random_baseline_repeats_itself_and_skips_events_already_bet(user, make_event, bet):
    events = [make_event("Golf") for _ in range(6)]
    bet(user, events[0])
    engine = RandomEngine(per_user=5)
    ranking = engine.ranking()
    (first,) = engine.recommend([user.pk], ranking)
    (again,) = engine.recommend([user.pk], ranking)
    assert first.event_ids == again.event_ids
    assert sorted(first.event_ids) == sorted(e.pk for e in events[1:])
    others = [
        a.event_ids for a in engine.recommend([u.pk for u in UserFactory.create_batch(5)], ranking)
    ]
    assert len({tuple(ids) for ids in others}) > 1  # not one list for everyone
