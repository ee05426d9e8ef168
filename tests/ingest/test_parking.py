"""Parking rules through the database: claims, the newest version wins, stored or expired.

The same rules under concurrent transactions: test_parking_concurrency.py.
"""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import transaction
from django.utils import timezone

from ingest import parking, services
from ingest.models import Coupon, MissingReference, ParkedCoupon, Selection
from tests.records import valid_coupon, valid_event, valid_user

pytestmark = pytest.mark.django_db

V1 = valid_coupon(9, 1, [(6, 1.5)])  # waits for event 6
V2 = valid_coupon(9, 1, [(5, 2.0)])  # needs only event 5, stored
V2_WAITING = valid_coupon(9, 1, [(7, 3.0)])  # waits for event 7


@pytest.fixture(autouse=True)
def v1_parked():
    services.store_batch(users=[valid_user(1)], events=[valid_event(5)])
    services.coupons_store(records=[V1])


def selections_of(coupon_id):
    return set(Selection.objects.filter(coupon_id=coupon_id).values_list("event_id", "odds"))


def expired_ids():
    return [parked.coupon_id for parked in parking.expire(max_age=timedelta(hours=1))]


def age_parked(coupon_id):
    ParkedCoupon.objects.filter(pk=coupon_id).update(parked_at=timezone.now() - timedelta(hours=2))


def test_a_claim_returns_the_parked_payload_of_each_coupon_that_is_parked():
    services.coupons_store(records=[valid_coupon(10, 2, [(5, 1.5)])])  # waits for user 2
    with transaction.atomic():
        claimed = parking.claim([9, 10, 11])
    assert sorted(claimed) == [9, 10]
    assert [s["event_id"] for s in claimed[9]["selections"]] == [6]


def test_a_claim_returns_the_version_parked_last():
    services.coupons_store(records=[V2_WAITING])
    with transaction.atomic():
        [selection] = parking.claim([9])[9]["selections"]
    assert selection["event_id"] == 7


def test_a_claim_returns_nothing_for_a_coupon_stored_since_it_was_parked():
    services.coupons_store(records=[V2])
    with transaction.atomic():
        assert parking.claim([9]) == {}


def test_a_release_stores_the_version_parked_last_not_the_one_it_replaced():
    services.coupons_store(records=[valid_coupon(9, 1, [(6, 4.0)])])
    assert services.store_batch(events=[valid_event(6)]).released == [9]
    assert selections_of(9) == {(6, Decimal("4.0"))}


def test_an_older_parked_version_is_not_released_once_a_newer_one_is_stored():
    services.coupons_store(records=[V2])
    assert services.store_batch(events=[valid_event(6)]).released == []
    assert selections_of(9) == {(5, Decimal("2.0"))}
    assert not ParkedCoupon.objects.exists()
    assert not MissingReference.objects.exists()


def test_a_newer_version_in_the_batch_that_releases_the_older_one_wins():
    result = services.store_batch(events=[valid_event(6)], coupons=[V2])
    assert result.released == [9]  # v1 stored, then v2 over it, in one transaction
    assert selections_of(9) == {(5, Decimal("2.0"))}
    assert not ParkedCoupon.objects.exists()


def test_a_coupon_put_through_the_data_api_leaves_no_parked_version_to_release():
    services.coupon_put(record=V2)
    assert services.store_batch(events=[valid_event(6)]).released == []
    assert selections_of(9) == {(5, Decimal("2.0"))}


def test_a_released_coupon_is_never_expired():
    age_parked(9)
    services.store_batch(events=[valid_event(6)])
    assert expired_ids() == []
    assert Coupon.objects.filter(pk=9).exists()


def test_an_expired_coupon_is_never_stored_when_what_it_lacked_arrives():
    age_parked(9)
    assert expired_ids() == [9]
    assert services.store_batch(events=[valid_event(6)]).released == []
    assert services.release_parked(everything=True) == []
    assert not Coupon.objects.filter(pk=9).exists()


def test_a_coupon_is_expired_once():
    age_parked(9)
    assert expired_ids() == [9]
    assert expired_ids() == []


def test_expiry_removes_only_old_coupons_and_says_what_they_lacked():
    services.coupons_store(records=[valid_coupon(10, 2, [(5, 1.5)])])  # waits for user 2
    age_parked(9)

    expired = parking.expire(max_age=timedelta(hours=1))

    assert [parked.coupon_id for parked in expired] == [9]
    assert {(m.kind, m.ref_id) for m in expired[0].missing.all()} == {("event", 6)}
    assert list(ParkedCoupon.objects.values_list("coupon_id", flat=True)) == [10]
    assert set(MissingReference.objects.values_list("parked_id", flat=True)) == {10}
