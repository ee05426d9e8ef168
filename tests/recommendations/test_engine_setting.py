"""RECOMMENDATION_ENGINE names the engine class; callers never change."""

import pytest

from recommendations.engines.base import Answer, RecommendationEngine
from recommendations.models import Recommendation
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


class NewestEventsEngine(RecommendationEngine):
    """A custom engine for the test: the open events that start last."""

    name = "newest"

    def recommend(self, user_ids, ranking):
        newest = sorted(ranking.events(None), reverse=True)[: self.per_user]
        for user_id in user_ids:
            yield Answer(user_id=user_id, event_ids=newest, reason="Newest first.")


def test_a_custom_engine_named_in_settings_is_used_everywhere(
    settings, api_client, user, make_event
):
    settings.RECOMMENDATION_ENGINE = f"{__name__}.NewestEventsEngine"
    events = [make_event("Golf") for _ in range(4)]
    body = api_client.get(f"/recommendation/{user.pk}").json()
    assert body["engine"] == "newest"
    assert body["reason"] == "Newest first."
    assert [e["id"] for e in body["events"]] == [e.pk for e in reversed(events)][:3]
    assert api_client.post("/recommendation/generate").json()["engine"] == "newest"


def test_the_popularity_engine_ignores_sports_but_skips_events_already_bet(
    settings, api_client, user, make_event, bet
):
    settings.RECOMMENDATION_ENGINE = "recommendations.engines.popularity.PopularityEngine"
    golf, tennis, football = make_event("Golf"), make_event("Tennis"), make_event("Football")
    bet(UserFactory(), golf, tennis)
    bet(user, golf)
    body = api_client.get(f"/recommendation/{user.pk}").json()
    assert body["engine"] == "popularity"
    assert [e["id"] for e in body["events"]] == [tennis.pk, football.pk]


def test_a_setting_that_names_no_engine_class_says_so(settings, user):
    settings.RECOMMENDATION_ENGINE = "recommendations.models.Recommendation"
    from recommendations.engines.base import load_engine

    with pytest.raises(TypeError, match="RECOMMENDATION_ENGINE"):
        load_engine()
    assert not Recommendation.objects.exists()
