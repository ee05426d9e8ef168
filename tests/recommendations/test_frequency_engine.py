"""The frequency engine's rules (docs/recommendations.md), one behaviour per test."""

from datetime import timedelta

import pytest
from django.utils import timezone

from recommendations.engines.frequency import FrequencyEngine
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def answer(user, **kwargs):
    engine = FrequencyEngine(**kwargs)
    return next(engine.recommend([user.pk], engine.ranking()))


def test_favourite_sport_is_the_one_with_most_selections(user, make_event, bet):
    bet(user, make_event("Tennis"), make_event("Tennis"))
    bet(user, make_event("Football"), ago=timedelta(minutes=1))
    result = answer(user)
    assert result.sport == "Tennis"
    assert (result.sport_selections, result.total_selections) == (2, 3)
    assert result.reason == "2 of your 3 selections are Tennis."


def test_a_count_tie_goes_to_the_sport_bet_most_recently(user, make_event, bet):
    bet(user, make_event("Basketball"), ago=timedelta(days=2))
    bet(user, make_event("Tennis"), ago=timedelta(hours=1))
    assert answer(user).sport == "Tennis"


def test_a_full_tie_goes_to_the_sport_name_a_to_z(user, make_event, bet):
    bet(user, make_event("Tennis"), make_event("Basketball"))  # one coupon: same time
    assert answer(user).sport == "Basketball"


def test_sports_compare_case_insensitively(user, make_event, bet):
    bet(user, make_event("football"), make_event("FOOTBALL"))
    bet(user, make_event("Tennis"), ago=timedelta(minutes=1))
    wanted = make_event("Football")
    result = answer(user)
    assert result.sport_key == "football"
    assert result.sport == "FOOTBALL"  # one spelling shown: the first in sort order
    assert result.sport_selections == 2
    assert result.event_ids == [wanted.pk]


@pytest.mark.parametrize(
    ("spellings", "shown", "key"),
    [
        (["fútbol", "Fútbol", "FÚTBOL"], "FÚTBOL", "fútbol"),
        (["Straße", "STRASSE"], "STRASSE", "strasse"),
    ],
    ids=["accents", "sharp-s"],
)
def test_sports_fold_beyond_ascii(user, make_event, bet, spellings, shown, key):
    bet(user, *[make_event(sport) for sport in spellings])
    bet(user, make_event("Tennis"), ago=timedelta(minutes=1))
    wanted = make_event(spellings[0].lower())
    result = answer(user)
    assert (result.sport_key, result.sport) == (key, shown)
    n = len(spellings)
    assert result.reason == f"{n} of your {n + 1} selections are {shown}."
    assert result.event_ids == [wanted.pk]


def test_events_rank_by_popularity_then_soonest_start_then_id(user, make_event, bet):
    bet(user, make_event("Tennis"))
    late = make_event("Tennis", begins_in=timedelta(hours=5))
    early = make_event("Tennis", begins_in=timedelta(hours=2))
    same_time = make_event("Tennis", begins_in=timedelta(hours=2))
    popular = make_event("Tennis", begins_in=timedelta(hours=9))
    bet(UserFactory(), popular)
    result = answer(user, per_user=4)
    assert result.event_ids == [popular.pk, early.pk, same_time.pk, late.pk]


def test_events_already_bet_on_are_not_recommended(user, make_event, bet):
    mine = make_event("Tennis")
    other = make_event("Tennis")
    bet(user, mine)
    assert answer(user).event_ids == [other.pk]


def test_ended_events_are_not_recommended(user, make_event, bet):
    bet(user, make_event("Tennis"))
    make_event("Tennis", begins_in=timedelta(days=-2), ends_in=timedelta(seconds=-1))
    upcoming = make_event("Tennis")
    assert answer(user).event_ids == [upcoming.pk]


def test_bets_on_ended_events_still_count_for_the_favourite_sport(user, make_event, bet):
    def ended():
        return make_event("Golf", begins_in=timedelta(days=-3), ends_in=timedelta(days=-2))

    bet(user, ended(), ended())
    bet(user, make_event("Tennis"), ago=timedelta(minutes=1))
    assert answer(user).sport == "Golf"


def test_fewer_candidates_than_asked_gives_a_shorter_list_not_other_sports(user, make_event, bet):
    bet(user, make_event("Tennis"))
    only = make_event("Tennis")
    make_event("Football")
    result = answer(user)
    assert result.event_ids == [only.pk]


def test_cold_start_gets_the_most_popular_open_events_of_any_sport(user, make_event, bet):
    popular = make_event("Golf", begins_in=timedelta(hours=9))
    second = make_event("Tennis", begins_in=timedelta(hours=1))
    third = make_event("Football", begins_in=timedelta(hours=2))
    make_event("Football", begins_in=timedelta(hours=3))
    ended = make_event("Golf", begins_in=timedelta(days=-2), ends_in=timedelta(seconds=-1))
    bettor = UserFactory()
    bet(bettor, popular, ended)
    bet(bettor, ended, ago=timedelta(hours=2))
    result = answer(user)
    assert result.sport == ""
    assert result.reason == "No bets yet: the most popular open events."
    assert result.event_ids == [popular.pk, second.pk, third.pk]


def test_recommendations_per_user_setting_sets_the_list_length(settings, user, make_event, bet):
    settings.RECOMMENDATIONS_PER_USER = 5
    bet(user, make_event("Tennis"))
    events = [make_event("Tennis", begins_in=timedelta(hours=i + 1)) for i in range(6)]
    assert answer(user).event_ids == [event.pk for event in events[:5]]


def test_one_answer_per_user_in_one_call(make_event, bet):
    users = UserFactory.create_batch(3)
    tennis = make_event("Tennis")
    bet(users[0], tennis)
    football = make_event("Football")
    engine = FrequencyEngine(now=timezone.now())
    answers = list(engine.recommend([u.pk for u in users], engine.ranking()))
    assert [a.user_id for a in answers] == [u.pk for u in users]
    assert answers[0].event_ids == []  # bet on the only tennis event
    assert answers[1].event_ids == answers[2].event_ids == [tennis.pk, football.pk]
