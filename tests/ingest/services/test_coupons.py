"""Storing coupons: exactly their selections, whose bets changed, parked until they can be."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from ingest import parking, services
from ingest.models import Coupon, MissingReference, ParkedCoupon, Selection, User
from tests.records import valid_coupon, valid_event, valid_user

pytestmark = pytest.mark.django_db


def test_coupon_is_stored_with_its_selections(announced, selections_of):
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


def test_a_coupon_stored_again_has_exactly_its_new_selections(selections_of):
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


def test_a_newer_version_of_a_parked_coupon_restarts_its_wait():
    services.coupons_store(records=[valid_coupon(9, 1, [(5, 1.5)])])
    ParkedCoupon.objects.filter(pk=9).update(parked_at=timezone.now() - timedelta(hours=2))
    services.coupons_store(records=[valid_coupon(9, 1, [(6, 2.0)])], source="c/0/4")
    parked = ParkedCoupon.objects.get(pk=9)
    assert parked.parked_at > timezone.now() - timedelta(minutes=1)
    assert parked.source == "c/0/4"
    assert set(parked.missing.values_list("kind", "ref_id")) == {("user", 1), ("event", 6)}
    assert parking.expire(max_age=timedelta(hours=1)) == []


def test_parked_coupon_sent_again_once_references_exist_leaves_the_parking():
    services.coupons_store(records=[valid_coupon(9, 1, [(5, 1.5)])])
    User.objects.create(id=1, birth_year=1990, country="GR", currency="EUR", gender="M")
    services.events_upsert(records=[valid_event(5)])
    assert services.coupons_store(records=[valid_coupon(9, 1, [(5, 1.5)])]).coupons == [9]
    assert not ParkedCoupon.objects.exists()
    assert not MissingReference.objects.exists()


def test_a_deleted_coupon_announces_its_owner_and_its_events(announced):
    services.store_batch(
        users=[valid_user(1)],
        events=[valid_event(5), valid_event(6)],
        coupons=[valid_coupon(9, 1, [(5, 1.5), (6, 2.0)]), valid_coupon(10, 1, [(5, 1.5)])],
    )
    announced.clear()

    services.coupons_delete(coupon_ids=[9])

    assert list(Coupon.objects.values_list("pk", flat=True)) == [10]
    assert not Selection.objects.filter(coupon_id=9).exists()
    assert announced == [("bets_changed", [1], [5, 6])]
