"""An edit or delete in ingest's admin reaches the bettors' answers (docs/recommendations.md).

The admin writes through `ingest.services` like every other writer, so
each edit owes the refreshes it should; a drain (the server's drainer
after the admin's commit, or here `refresh_pending`) then leaves every
stored answer equal to a from-scratch computation.
"""

from datetime import timedelta

import pytest
from django.utils import timezone

from ingest import services as ingest_services
from ingest.models import Coupon, Event, Selection, User
from recommendations.drainer import drainer
from recommendations.models import PendingRefresh, Recommendation
from recommendations.outbox import refresh_pending
from tests.admin_forms import accepted, admin_url, coupon_form, event_form, selection_form
from tests.recommendations.conftest import from_scratch, stored_answers
from tests.records import fresh_user, recent_coupon, upcoming_event

pytestmark = pytest.mark.django_db


def settled(*, users=(), events=(), coupons=()):
    """Store records as a consumer would and drain what they owe."""
    ingest_services.store_batch(users=users, events=events, coupons=coupons)
    refresh_pending()


def answer(api_client, user_id) -> dict:
    return api_client.get(f"/recommendation/{user_id}").json()


def shown_events(api_client, user_id) -> list[int]:
    """The ids of the events the user's recommendation lists, in order."""
    return [event["id"] for event in answer(api_client, user_id)["events"]]


@pytest.fixture
def golf_fan():
    """A user who bet once on Golf; three more Golf events and two Tennis events are open."""
    fan = fresh_user()
    golf = [upcoming_event("Golf", begins_in=timedelta(hours=h + 1)) for h in range(4)]
    tennis = [upcoming_event("Tennis") for _ in range(2)]
    settled(users=[fan], events=golf + tennis, coupons=[recent_coupon(fan["id"], [golf[0]["id"]])])
    assert Recommendation.objects.get(pk=fan["id"]).sport == "Golf"
    return {"id": fan["id"], "golf": [e["id"] for e in golf], "tennis": [e["id"] for e in tennis]}


def test_an_event_moved_to_another_sport_changes_its_bettors_favourite(
    admin_client, api_client, golf_fan
):
    played = Event.objects.get(pk=golf_fan["golf"][0])
    form = event_form(played, sport="Tennis")

    accepted(admin_client.post(admin_url(Event, "change", played.pk), form))
    refresh_pending()

    assert answer(api_client, golf_fan["id"])["reason"] == "1 of your 1 selections are Tennis."
    assert Recommendation.objects.get(pk=golf_fan["id"]).sport == "Tennis"
    assert stored_answers() == from_scratch()


def test_an_event_ended_early_leaves_the_lists(admin_client, api_client, golf_fan):
    listed = Event.objects.get(pk=golf_fan["golf"][1])
    ended = timezone.now() - timedelta(hours=1)
    form = event_form(listed, begin_timestamp=ended - timedelta(hours=2), end_timestamp=ended)

    accepted(admin_client.post(admin_url(Event, "change", listed.pk), form))
    refresh_pending()

    shown = shown_events(api_client, golf_fan["id"])
    assert shown == golf_fan["golf"][2:]
    assert stored_answers() == from_scratch()


def test_an_event_deleted_refreshes_the_users_whose_lists_showed_it(
    admin_client, api_client, golf_fan
):
    listed = golf_fan["golf"][1]

    accepted(admin_client.post(admin_url(Event, "delete", listed), {"post": "yes"}))

    owed = PendingRefresh.objects.filter(scope=PendingRefresh.Scope.USER)
    assert golf_fan["id"] in set(owed.values_list("ref_id", flat=True))
    refresh_pending()
    shown = shown_events(api_client, golf_fan["id"])
    assert shown == golf_fan["golf"][2:]
    assert stored_answers() == from_scratch()


def test_selections_added_in_the_coupon_form_change_the_favourite(
    admin_client, api_client, golf_fan
):
    coupon = Coupon.objects.get(user_id=golf_fan["id"])
    form = coupon_form(coupon, add=[(event_id, "2") for event_id in golf_fan["tennis"]])

    accepted(admin_client.post(admin_url(Coupon, "change", coupon.pk), form))
    refresh_pending()

    assert answer(api_client, golf_fan["id"])["reason"] == "2 of your 3 selections are Tennis."
    assert stored_answers() == from_scratch()


def test_a_coupon_moved_to_another_user_refreshes_its_previous_owner(
    admin_client, api_client, golf_fan
):
    other = fresh_user()
    settled(users=[other], coupons=[recent_coupon(other["id"], [golf_fan["tennis"][0]])])
    coupon = Coupon.objects.get(user_id=golf_fan["id"])
    form = coupon_form(coupon, user=other["id"])

    accepted(admin_client.post(admin_url(Coupon, "change", coupon.pk), form))
    refresh_pending()

    assert answer(api_client, golf_fan["id"])["sport"] is None  # no bets left: cold start
    assert not Recommendation.objects.filter(pk=golf_fan["id"]).exists()
    assert answer(api_client, other["id"])["reason"].startswith("1 of your 2 selections")
    assert stored_answers() == from_scratch()


def test_a_selection_moved_to_another_event_refreshes_the_bettor(
    admin_client, api_client, golf_fan
):
    moved = Selection.objects.get(coupon__user_id=golf_fan["id"])
    form = selection_form(moved, event=golf_fan["tennis"][0])

    accepted(admin_client.post(admin_url(Selection, "change", moved.pk), form))
    refresh_pending()

    assert answer(api_client, golf_fan["id"])["reason"] == "1 of your 1 selections are Tennis."
    assert stored_answers() == from_scratch()


@pytest.mark.parametrize("model", [Coupon, Selection], ids=lambda model: model.__name__)
def test_a_bet_deleted_brings_its_bettor_back_to_the_shared_answer(
    admin_client, api_client, golf_fan, model
):
    owner = "user_id" if model is Coupon else "coupon__user_id"
    bet = model.objects.get(**{owner: golf_fan["id"]})

    accepted(admin_client.post(admin_url(model, "delete", bet.pk), {"post": "yes"}))
    refresh_pending()

    assert answer(api_client, golf_fan["id"])["sport"] is None
    assert stored_answers() == from_scratch()


def test_a_user_deleted_takes_their_bets_out_of_the_popularity_others_see(
    admin_client, api_client, golf_fan
):
    others = [fresh_user() for _ in range(2)]
    golf = golf_fan["golf"]
    bets = [recent_coupon(others[0]["id"], [golf[0]]), recent_coupon(others[1]["id"], [golf[3]])]
    settled(users=others, coupons=bets)
    # The fan's bet on golf[0] makes it more popular than golf[3] for the second user.
    assert [e["id"] for e in answer(api_client, others[1]["id"])["events"]][0] == golf[0]

    accepted(admin_client.post(admin_url(User, "delete", golf_fan["id"]), {"post": "yes"}))
    refresh_pending()

    assert not User.objects.filter(pk=golf_fan["id"]).exists()
    assert stored_answers() == from_scratch()


@pytest.mark.django_db(transaction=True)
def test_an_admin_edit_is_drained_by_the_server_after_its_commit(admin_client, golf_fan):
    played = Event.objects.get(pk=golf_fan["golf"][0])
    form = event_form(played, sport="Tennis")

    accepted(admin_client.post(admin_url(Event, "change", played.pk), form))

    assert drainer.wait_idle(10)
    assert not PendingRefresh.objects.exists()
    assert Recommendation.objects.get(pk=golf_fan["id"]).sport == "Tennis"
