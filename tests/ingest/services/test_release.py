"""Releasing parked coupons: stored once everything they lack has arrived."""

from decimal import Decimal

import pytest

from ingest import services
from ingest.models import Coupon, MissingReference, ParkedCoupon, User
from tests.records import valid_coupon, valid_event, valid_user

pytestmark = pytest.mark.django_db


def test_parked_coupon_is_stored_once_everything_it_lacks_arrives(selections_of):
    services.coupons_store(records=[valid_coupon(9, 1, [(5, 1.5), (6, 2.0)])])

    first = services.store_batch(users=[valid_user(1)], events=[valid_event(5)])
    assert first.released == []
    assert set(MissingReference.objects.values_list("kind", "ref_id")) == {("event", 6)}

    second = services.store_batch(events=[valid_event(6)])
    assert second.released == [9]
    assert selections_of(9) == {(5, Decimal("1.5")), (6, Decimal("2"))}
    assert not ParkedCoupon.objects.exists()
    assert not MissingReference.objects.exists()


def test_release_everything_finds_arrivals_stored_by_another_process():
    services.coupons_store(records=[valid_coupon(9, 1, [(5, 1.5)])])
    User.objects.create(id=1, birth_year=1990, country="GR", currency="EUR", gender="M")
    services.events_upsert(records=[valid_event(5)])  # stored without releasing (another process)
    assert services.release_parked(everything=True) == [9]
    assert Coupon.objects.filter(pk=9).exists()
    assert not ParkedCoupon.objects.exists()
