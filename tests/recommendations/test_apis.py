"""GET /recommendation/{user_id} and POST /recommendation/generate."""

from datetime import timedelta

import pytest
from django.utils import timezone

from recommendations.models import RebuildRequest, Recommendation
from recommendations.rebuild import rebuild_all
from tests.factories import UserFactory
from tests.kafka_pipeline import wait_until

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "path",
    ["/recommendation/{}", "/recommendation/{}/", "/recommendations/{}", "/recommendations/{}/"],
)
def test_a_user_reads_their_recommendation_on_every_path(api_client, user, make_event, bet, path):
    bet(user, make_event("Tennis"), make_event("Football"), make_event("Tennis"))
    first = make_event("Tennis", begins_in=timedelta(hours=2))
    second = make_event("Tennis", begins_in=timedelta(hours=3))
    rebuild_all()
    response = api_client.get(path.format(user.pk))
    assert response.status_code == 200
    body = response.json()
    assert body["user_id"] == user.pk
    assert body["sport"] == "Tennis"
    assert body["reason"] == "2 of your 3 selections are Tennis."
    assert body["generated_at"]
    assert [event["id"] for event in body["events"]] == [first.pk, second.pk]
    assert body["events"][0]["participants"] == first.participants.names
    assert body["events"][0]["league"] == first.league


def test_a_cold_start_user_gets_popular_events_and_says_why(api_client, user, make_event):
    event = make_event("Golf")
    body = api_client.get(f"/recommendation/{user.pk}").json()
    assert body["sport"] is None
    assert body["reason"].startswith("No bets yet")
    assert [e["id"] for e in body["events"]] == [event.pk]


def test_an_unknown_user_is_a_404_with_a_message(api_client):
    response = api_client.get("/recommendation/123456789")
    assert response.status_code == 404
    assert response.json()["detail"]


def test_a_user_without_a_stored_answer_gets_one_computed_on_read(
    api_client, user, make_event, bet
):
    golf = make_event("Golf")
    bet(user, make_event("Golf"))
    Recommendation.objects.filter(user=user).delete()
    body = api_client.get(f"/recommendation/{user.pk}").json()
    assert [e["id"] for e in body["events"]] == [golf.pk]
    assert not Recommendation.objects.filter(user=user).exists()  # reads only read


def test_cold_start_answers_are_shared_and_never_stored(api_client, make_event):
    first, second = UserFactory.create_batch(2)
    event = make_event("Golf")
    for user in (first, second):
        body = api_client.get(f"/recommendation/{user.pk}").json()
        assert [e["id"] for e in body["events"]] == [event.pk]
    assert not Recommendation.objects.exists()


def test_an_event_that_ended_after_generation_is_not_shown_and_the_list_is_refilled(
    api_client, user, make_event, bet, monkeypatch
):
    bet(user, make_event("Tennis"))
    ending = make_event("Tennis", begins_in=timedelta(hours=-1), ends_in=timedelta(hours=1))
    others = [make_event("Tennis", begins_in=timedelta(hours=h)) for h in (2, 3, 4)]
    rebuild_all()
    stored = Recommendation.objects.get(user=user)
    assert [e.event_id for e in stored.ranked.order_by("rank")] == [
        ending.pk,
        *[e.pk for e in others[:2]],
    ]
    # Two hours later the event has ended, without any write signals could see.
    later = timezone.now() + timedelta(hours=2)
    monkeypatch.setattr(timezone, "now", lambda: later)
    body = api_client.get(f"/recommendation/{user.pk}").json()
    assert [e["id"] for e in body["events"]] == [e.pk for e in others]


@pytest.mark.django_db(transaction=True)
def test_generate_answers_202_at_once_and_rebuilds_everyone_in_the_background(
    api_client, make_event, bet
):
    users = UserFactory.create_batch(4)
    golf = make_event("Golf")
    bet(users[0], make_event("Golf"))
    Recommendation.objects.all().delete()  # as if answers were lost: only a rebuild brings them
    response = api_client.post("/recommendation/generate")
    assert response.status_code == 202
    body = response.json()
    assert body["users"] == 4
    assert body["state"] == "requested"
    assert body["engine"] == "frequency"
    request = RebuildRequest.objects.get(pk=body["rebuild"])
    wait_until(lambda: (request.refresh_from_db(), request.finished_at)[1], what="the rebuild")
    assert Recommendation.objects.get(pk=users[0].pk).sport == "Golf"
    assert [e.pk for e in Recommendation.objects.get(pk=users[0].pk).events.all()] == [golf.pk]
    assert api_client.post("/recommendation/generate/").status_code == 202
