"""Storing records: idempotent upserts, shared participant pairs, coupons and parking."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from ingest import parking, services
from ingest.hooks import bets_changed, events_written
from ingest.models import (
    Coupon,
    Event,
    MissingReference,
    ParkedCoupon,
    ParticipantPair,
    Selection,
    User,
)
from tests.records import valid_coupon, valid_event, valid_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def announced():
    """Every change ingest announced during the test, as (signal name, ids...)."""
    calls = []

    def events(sender, event_ids, **kwargs):
        calls.append(("events_written", sorted(event_ids)))

    def bets(sender, user_ids, event_ids, **kwargs):
        calls.append(("bets_changed", sorted(user_ids), sorted(event_ids)))

    events_written.connect(events, weak=False)
    bets_changed.connect(bets, weak=False)
    yield calls
    events_written.disconnect(events)
    bets_changed.disconnect(bets)


def selections_of(coupon_id):
    return set(Selection.objects.filter(coupon_id=coupon_id).values_list("event_id", "odds"))


def test_storing_the_same_user_twice_changes_nothing(announced):
    assert services.users_upsert(records=[valid_user(1)]) == [1]
    assert services.users_upsert(records=[valid_user(1)]) == []
    assert announced == []  # nobody depends on users alone
    assert User.objects.count() == 1


def test_a_changed_user_is_updated(announced):
    services.users_upsert(records=[valid_user(1), valid_user(2)])
    assert services.users_upsert(records=[valid_user(1, currency="USD"), valid_user(2)]) == [1]
    assert User.objects.get(pk=1).currency == "USD"
    assert announced == []


def test_last_record_of_an_id_in_a_batch_wins():
    services.users_upsert(records=[valid_user(1, country="DE"), valid_user(1, country="FR")])
    assert User.objects.get(pk=1).country == "FR"


def test_storing_the_same_event_twice_changes_nothing(announced):
    assert services.events_upsert(records=[valid_event(5)]) == [5]
    assert services.events_upsert(records=[valid_event(5)]) == []
    assert announced == [("events_written", [5])]


def test_participant_pairs_are_stored_once_and_shared():
    derby = ["Olympiacos", "PAOK"]
    services.events_upsert(
        records=[valid_event(5, participants=derby), valid_event(6, participants=derby)]
    )
    services.events_upsert(
        records=[valid_event(7, participants=derby), valid_event(8, participants=["AEK", "Aris"])]
    )
    assert ParticipantPair.objects.count() == 2
    pair = ParticipantPair.objects.get(home="Olympiacos", away="PAOK")
    assert set(pair.events.values_list("id", flat=True)) == {5, 6, 7}


def test_event_sport_compares_case_insensitively():
    services.events_upsert(
        records=[valid_event(5, sport="football"), valid_event(6, sport="FOOTBALL")]
    )
    assert set(Event.objects.filter(sport_key="football").values_list("id", flat=True)) == {5, 6}


def test_coupon_is_stored_with_its_selections(announced):
    services.store_batch(users=[valid_user(1)], events=[valid_event(5), valid_event(6)])
    services.coupons_store(records=[valid_coupon(9, 1, [(5, 1.5), (6, 2.25)])])
    assert Coupon.objects.get(pk=9).stake == Decimal("10.00")
    assert selections_of(9) == {(5, Decimal("1.5")), (6, Decimal("2.25"))}
    assert announced[-1] == ("bets_changed", [1], [5, 6])


def test_storing_the_same_coupon_twice_changes_nothing(announced):
    services.store_batch(users=[valid_user(1)], events=[valid_event(5)])
    services.coupons_store(records=[valid_coupon(9, 1, [(5, 1.5)])])
    calls = len(announced)
    result = services.coupons_store(records=[valid_coupon(9, 1, [(5, 1.5)])])
    assert result.coupons == []
    assert len(announced) == calls
    assert Selection.objects.count() == 1


def test_a_coupon_moved_to_another_user_announces_both_owners_and_no_event(announced):
    services.store_batch(users=[valid_user(1), valid_user(2)], events=[valid_event(5)])
    services.coupons_store(records=[valid_coupon(9, 1, [(5, 1.5)])])
    services.coupons_store(records=[valid_coupon(9, 2, [(5, 1.5)])])
    assert announced[-1] == ("bets_changed", [1, 2], [])


def test_a_coupon_stored_again_has_exactly_its_new_selections():
    services.store_batch(
        users=[valid_user(1)], events=[valid_event(5), valid_event(6), valid_event(7)]
    )
    services.coupons_store(records=[valid_coupon(9, 1, [(5, 1.5), (6, 2.0)])])
    services.coupons_store(records=[valid_coupon(9, 1, [(6, 3.0), (7, 1.8)], stake=25)])
    assert selections_of(9) == {(6, Decimal("3")), (7, Decimal("1.8"))}
    assert Coupon.objects.get(pk=9).stake == Decimal("25.00")


def test_coupon_before_its_user_and_events_is_parked():
    result = services.coupons_store(
        records=[valid_coupon(9, 1, [(5, 1.5), (6, 2.0)])], source="c/0/3"
    )
    assert result.coupons == []
    assert set(result.parked[9]) == {("user", 1), ("event", 5), ("event", 6)}
    assert not Coupon.objects.exists()
    parked = ParkedCoupon.objects.get(pk=9)
    assert parked.source == "c/0/3"
    assert set(parked.missing.values_list("kind", "ref_id")) == {
        ("user", 1), ("event", 5), ("event", 6),
    }  # fmt: skip


def test_parked_coupon_is_stored_once_everything_it_lacks_arrives():
    services.coupons_store(records=[valid_coupon(9, 1, [(5, 1.5), (6, 2.0)])])

    first = services.store_batch(users=[valid_user(1)], events=[valid_event(5)])
    assert first.released == []
    assert set(MissingReference.objects.values_list("kind", "ref_id")) == {("event", 6)}

    second = services.store_batch(events=[valid_event(6)])
    assert second.released == [9]
    assert selections_of(9) == {(5, Decimal("1.5")), (6, Decimal("2"))}
    assert not ParkedCoupon.objects.exists()
    assert not MissingReference.objects.exists()


def test_a_newer_version_of_a_parked_coupon_restarts_its_wait():
    services.coupons_store(records=[valid_coupon(9, 1, [(5, 1.5)])])
    ParkedCoupon.objects.filter(pk=9).update(parked_at=timezone.now() - timedelta(hours=2))
    services.coupons_store(records=[valid_coupon(9, 1, [(6, 2.0)])], source="c/0/4")
    parked = ParkedCoupon.objects.get(pk=9)
    assert parked.parked_at > timezone.now() - timedelta(minutes=1)
    assert parked.source == "c/0/4"
    assert set(parked.missing.values_list("kind", "ref_id")) == {("user", 1), ("event", 6)}
    assert parking.expire(max_age=timedelta(hours=1)) == []


def test_coupon_and_what_it_references_in_one_batch_is_stored_not_parked():
    result = services.store_batch(
        users=[valid_user(1)], events=[valid_event(5)], coupons=[valid_coupon(9, 1, [(5, 1.5)])]
    )
    assert result.coupons == [9]
    assert not ParkedCoupon.objects.exists()


def test_release_everything_finds_arrivals_stored_by_another_process():
    services.coupons_store(records=[valid_coupon(9, 1, [(5, 1.5)])])
    User.objects.create(id=1, birth_year=1990, country="GR", currency="EUR", gender="M")
    services.events_upsert(records=[valid_event(5)])  # stored without releasing (another process)
    assert services.release_parked(everything=True) == [9]
    assert Coupon.objects.filter(pk=9).exists()
    assert not ParkedCoupon.objects.exists()


def test_parked_coupon_sent_again_once_references_exist_leaves_the_parking():
    services.coupons_store(records=[valid_coupon(9, 1, [(5, 1.5)])])
    User.objects.create(id=1, birth_year=1990, country="GR", currency="EUR", gender="M")
    services.events_upsert(records=[valid_event(5)])
    assert services.coupons_store(records=[valid_coupon(9, 1, [(5, 1.5)])]).coupons == [9]
    assert not ParkedCoupon.objects.exists()
    assert not MissingReference.objects.exists()


def test_expire_parked_removes_only_old_coupons_and_says_what_they_lacked():
    services.coupons_store(
        records=[valid_coupon(9, 1, [(5, 1.5)]), valid_coupon(10, 2, [(5, 1.5)])]
    )
    ParkedCoupon.objects.filter(pk=9).update(parked_at=timezone.now() - timedelta(hours=2))

    expired = parking.expire(max_age=timedelta(hours=1))

    assert [parked.coupon_id for parked in expired] == [9]
    assert {(m.kind, m.ref_id) for m in expired[0].missing.all()} == {("user", 1), ("event", 5)}
    assert list(ParkedCoupon.objects.values_list("coupon_id", flat=True)) == [10]
    assert set(MissingReference.objects.values_list("parked_id", flat=True)) == {10}
