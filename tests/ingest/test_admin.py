"""The admin: every page of every ingest model renders, search and filters find records, and
saves and deletes go through the services, announcing what changed."""

import json
from decimal import Decimal

import pytest
from django.utils import timezone

from ingest import ids, services
from ingest.ids import FIRST_DERIVED_ID, FIRST_LEASED_ID, MIN_BLOCK, IdPool
from ingest.models import (
    Coupon,
    DeadLetter,
    Event,
    IdCounter,
    MissingReference,
    ParkedCoupon,
    ParticipantPair,
    Selection,
    User,
)
from tests.admin_forms import accepted, admin_url, coupon_form, event_form, selection_form
from tests.factories import CouponFactory, EventFactory, UserFactory
from tests.records import valid_coupon, valid_event, valid_user

MODELS = [User, ParticipantPair, Event, Coupon, Selection, ParkedCoupon, DeadLetter]


@pytest.fixture
def records(db):
    """A little of everything, so list columns and links have something to show."""
    football = EventFactory(sport="Football", league="Premier League", country="GB")
    tennis = EventFactory(sport="tennis", league="ATP", country="FR")
    user = UserFactory(country="GR", currency="EUR")
    coupon = CouponFactory(user=user, selections=[(football, "1.8"), (tennis, "2.5")])
    parked = ParkedCoupon.objects.create(
        coupon_id=777, payload={"id": 777, "user_id": 1}, source="coupons/0/5"
    )
    MissingReference.objects.create(parked=parked, kind="user", ref_id=1)
    letter = DeadLetter.objects.create(
        topic="users", partition=0, offset=3, key="9", reason="birth_year: Must be between"
    )
    return {
        User: user,
        ParticipantPair: football.participants,
        Event: football,
        Coupon: coupon,
        Selection: coupon.selections.first(),
        ParkedCoupon: parked,
        DeadLetter: letter,
    }


@pytest.fixture
def admin_client(client, django_user_model):
    admin = django_user_model.objects.create_superuser("admin", "admin@example.com", "pw")
    client.force_login(admin)
    return client


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_changelist_add_and_change_pages_render(admin_client, records, model):
    assert admin_client.get(admin_url(model, "changelist")).status_code == 200
    added = admin_client.get(admin_url(model, "add")).status_code
    # Dead letters are written by consumers only: one written by hand would be replayed
    # verbatim to whatever topic it named.
    assert added == (403 if model is DeadLetter else 200)
    assert admin_client.get(admin_url(model, "change", records[model].pk)).status_code == 200


def test_user_list_links_to_the_users_coupons(admin_client, records):
    page = admin_client.get(admin_url(User, "changelist")).content.decode()
    assert f"user__id__exact={records[User].pk}" in page


def test_coupon_page_shows_its_selections_inline(admin_client, records):
    coupon = records[Coupon]
    page = admin_client.get(admin_url(Coupon, "change", coupon.pk)).content.decode()
    assert 'name="selections-TOTAL_FORMS"' in page
    assert admin_url(User, "change", coupon.user_id) in page


def test_event_search_finds_by_participant_and_league(admin_client, records):
    event = records[Event]
    response = admin_client.get(admin_url(Event, "changelist"), {"q": event.participants.home})
    assert list(response.context["cl"].result_list) == [event]
    response = admin_client.get(admin_url(Event, "changelist"), {"q": "ATP"})
    assert [e.league for e in response.context["cl"].result_list] == ["ATP"]


def test_search_by_id_ignores_words(admin_client, records):
    user = records[User]
    response = admin_client.get(admin_url(User, "changelist"), {"q": str(user.pk)})
    assert list(response.context["cl"].result_list) == [user]
    assert admin_client.get(admin_url(User, "changelist"), {"q": "nobody"}).status_code == 200


@pytest.mark.parametrize(
    ("model", "query", "expected"),
    [
        (Event, {"sport_key": "tennis"}, 1),
        (Event, {"league": "Premier League"}, 1),
        (Event, {"country": "FR"}, 1),
        (Event, {"status": "open"}, 2),
        (Event, {"status": "ended"}, 0),
        (User, {"country": "GR"}, 1),
        (User, {"currency": "USD"}, 0),
        (User, {"gender": "F"}, None),
        (Coupon, {"selections__event__sport_key": "football"}, 1),
        (Coupon, {"user__currency": "EUR"}, 1),
        (Selection, {"event__sport_key": "tennis"}, 1),
    ],
)
def test_list_filters(admin_client, records, model, query, expected):
    response = admin_client.get(admin_url(model, "changelist"), query)
    assert response.status_code == 200
    if expected is not None:
        assert len(response.context["cl"].result_list) == expected


@pytest.mark.parametrize(
    ("sport", "key"),
    [("BASKETBALL", "basketball"), ("FÚTBOL", "fútbol"), ("STRASSE", "strasse")],
)
def test_event_can_be_edited_in_the_admin(admin_client, records, sport, key):
    event = records[Event]
    response = admin_client.post(
        admin_url(Event, "change", event.pk),
        {
            "id": event.pk,
            "begin_timestamp_0": "2030-01-01",
            "begin_timestamp_1": "10:00:00",
            "end_timestamp_0": "2030-01-01",
            "end_timestamp_1": "12:00:00",
            "country": "GR",
            "league": "Superleague",
            "sport": sport,
            "participants": event.participants_id,
        },
    )
    assert response.status_code == 302, response.context["adminform"].errors
    event.refresh_from_db()
    assert (event.sport, event.sport_key) == (sport, key)
    page = admin_client.get(admin_url(Event, "change", event.pk)).content.decode()
    assert f'<div class="readonly">{key}</div>' in page  # shown, not editable


def test_coupon_with_selections_can_be_added_in_the_admin(admin_client, records):
    user, event = records[User], records[Event]
    add_page = admin_client.get(admin_url(Coupon, "add"))
    offered_id = add_page.context["adminform"].form.initial["id"]
    response = admin_client.post(
        admin_url(Coupon, "add"),
        {
            "id": offered_id,
            "user": user.pk,
            "stake": "12.50",
            "timestamp_0": "2030-01-01",
            "timestamp_1": "09:00:00",
            "selections-TOTAL_FORMS": "1",
            "selections-INITIAL_FORMS": "0",
            "selections-0-event": event.pk,
            "selections-0-odds": "1.75",
        },
    )
    assert response.status_code == 302
    coupon = Coupon.objects.get(pk=offered_id)
    assert list(coupon.selections.values_list("event_id", flat=True)) == [event.pk]


def test_odds_of_one_are_refused_in_the_admin_too(admin_client, records):
    coupon, event = records[Coupon], EventFactory()
    response = admin_client.post(
        admin_url(Coupon, "add"),
        {
            "id": coupon.pk + 1,
            "user": coupon.user_id,
            "stake": "5",
            "timestamp_0": "2030-01-01",
            "timestamp_1": "09:00:00",
            "selections-TOTAL_FORMS": "1",
            "selections-INITIAL_FORMS": "0",
            "selections-0-event": event.pk,
            "selections-0-odds": "1",
        },
    )
    assert response.status_code == 200  # the form again, with the error
    assert not Coupon.objects.filter(pk=coupon.pk + 1).exists()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("model", [User, Event, Coupon], ids=lambda m: m.__name__)
def test_add_form_offers_an_id_leased_before_the_admins_transaction(
    admin_client, monkeypatch, model
):
    pool = IdPool()
    monkeypatch.setattr(ids, "_pool", pool)

    page = admin_client.get(admin_url(model, "add"))

    offered = page.context["adminform"].form.initial["id"]
    assert FIRST_LEASED_ID <= int(offered) < FIRST_DERIVED_ID
    # Leased outside the admin's atomic block: a shared block, committed, the rest kept.
    assert pool._remaining() == MIN_BLOCK - 1
    assert IdCounter.objects.get().next_id >= int(offered) + MIN_BLOCK


def test_add_form_keeps_an_id_given_in_the_query_string(admin_client, db):
    page = admin_client.get(admin_url(User, "add") + "?id=4242")

    assert page.context["adminform"].form.initial["id"] == "4242"


@pytest.fixture
def parked_fix(admin_client, db):
    """Coupon 9 parked for user 1; an operator opens its page and later saves a fix."""
    services.coupons_store(records=[valid_coupon(9, 1, [(5, 1.5)])], source="coupons/0/7")
    page = admin_client.get(admin_url(ParkedCoupon, "change", 9))
    form = page.context["adminform"].form

    def save(**payload_changes):
        parked_at = timezone.localtime(form.initial["parked_at"])
        return admin_client.post(
            admin_url(ParkedCoupon, "change", 9),
            {
                "coupon_id": 9,
                "payload": json.dumps({**form.initial["payload"], **payload_changes}),
                "parked_at_0": parked_at.date().isoformat(),
                "parked_at_1": parked_at.time().isoformat(),
                "source": form.initial["source"],
                "seen": form["seen"].value(),
                "missing-TOTAL_FORMS": "0",
                "missing-INITIAL_FORMS": "0",
            },
        )

    return save


def test_a_parked_coupon_can_be_fixed_in_the_admin(parked_fix):
    response = parked_fix(stake="25.00")
    assert response.status_code == 302, response.context["adminform"].errors
    assert ParkedCoupon.objects.get(pk=9).payload["stake"] == "25.00"


def test_a_fix_to_a_coupon_stored_since_its_page_opened_does_not_park_it_again(parked_fix):
    services.store_batch(users=[valid_user(1)], events=[valid_event(5)])  # releases it

    response = parked_fix(stake="25.00")

    assert response.status_code == 302  # to the admin's index: "doesn't exist"
    assert not ParkedCoupon.objects.exists()
    assert Coupon.objects.get(pk=9).stake == Decimal("10")


def test_a_fix_to_a_version_parked_over_since_its_page_opened_is_refused(parked_fix):
    services.coupons_store(records=[valid_coupon(9, 1, [(6, 2.0)])])  # a newer version

    response = parked_fix(stake="25.00")

    assert response.status_code == 200
    assert "A newer version of this coupon was parked" in response.content.decode()
    payload = ParkedCoupon.objects.get(pk=9).payload
    assert (payload["stake"], payload["selections"][0]["event_id"]) == ("10.00", 6)


@pytest.fixture
def bets(db):
    """Coupon 9 of user 1 on event 5, coupon 10 of user 2 on events 5 and 6; event 7 unbet."""
    services.store_batch(
        users=[valid_user(1), valid_user(2)],
        events=[valid_event(5), valid_event(6), valid_event(7)],
        coupons=[valid_coupon(9, 1, [(5, 1.5)]), valid_coupon(10, 2, [(5, 2.0), (6, 2.0)])],
    )


def test_an_event_saved_in_the_admin_is_announced(admin_client, bets, announced):
    accepted(admin_client.post(admin_url(Event, "change", 6), event_form(Event.objects.get(pk=6))))
    assert announced == []  # nothing changed, nothing written

    changed = event_form(Event.objects.get(pk=6), sport="Golf")
    accepted(admin_client.post(admin_url(Event, "change", 6), changed))

    assert announced == [("events_written", [6])]
    assert Event.objects.get(pk=6).sport_key == "golf"


def test_an_event_deleted_in_the_admin_takes_its_bets_and_is_announced(
    admin_client, bets, announced
):
    accepted(admin_client.post(admin_url(Event, "delete", 6), {"post": "yes"}))

    assert not Event.objects.filter(pk=6).exists()
    assert announced == [("bets_changed", [2], [5, 6]), ("events_deleted", [6])]


def test_a_coupon_moved_to_another_user_in_the_admin_announces_both_owners(
    admin_client, bets, announced
):
    form = coupon_form(Coupon.objects.get(pk=9), user=2)

    accepted(admin_client.post(admin_url(Coupon, "change", 9), form))

    assert Coupon.objects.get(pk=9).user_id == 2
    assert announced == [("bets_changed", [1, 2], [])]


def test_selection_rows_changed_in_the_coupon_form_are_stored_and_announced(
    admin_client, bets, announced
):
    form = coupon_form(Coupon.objects.get(pk=10), drop={6}, add=[(7, "3.5")])

    accepted(admin_client.post(admin_url(Coupon, "change", 10), form))

    stored = Selection.objects.filter(coupon_id=10).values_list("event_id", "odds")
    assert set(stored) == {(5, Decimal("2")), (7, Decimal("3.5"))}
    assert announced == [("bets_changed", [2], [5, 6, 7])]
    history = admin_client.get(admin_url(Coupon, "history", 10)).content.decode()
    assert "Added selection" in history
    assert "Deleted selection" in history


def test_a_selection_moved_in_the_admin_announces_its_previous_coupon_and_event(
    admin_client, bets, announced
):
    moved = Selection.objects.get(coupon_id=9, event_id=5)
    form = selection_form(moved, coupon=10, event=7, _continue="1")

    response = admin_client.post(admin_url(Selection, "change", moved.pk), form)

    now = Selection.objects.get(coupon_id=10, event_id=7)
    assert response.status_code == 302
    assert response["Location"].endswith(f"/{now.pk}/change/")
    assert not Selection.objects.filter(coupon_id=9).exists()
    assert announced == [("bets_changed", [1, 2], [5, 6, 7])]


@pytest.mark.parametrize(
    ("model", "ids", "expected"),
    [
        (User, [1], [("bets_changed", [1], [5])]),
        (Coupon, [9, 10], [("bets_changed", [1, 2], [5, 6])]),
        (Event, [5, 7], [("bets_changed", [1, 2], [5, 6]), ("events_deleted", [5, 7])]),
    ],
    ids=lambda value: getattr(value, "__name__", ""),
)
def test_the_delete_action_goes_through_the_services(
    admin_client, bets, announced, model, ids, expected
):
    action = {"action": "delete_selected", "_selected_action": ids, "post": "yes"}

    accepted(admin_client.post(admin_url(model, "changelist"), action))

    assert not model.objects.filter(pk__in=ids).exists()
    assert announced == expected
