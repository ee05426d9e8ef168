"""Storing a batch of any kinds in one transaction."""

import pytest

from ingest import services
from ingest.models import ParkedCoupon
from tests.records import valid_coupon, valid_event, valid_user

pytestmark = pytest.mark.django_db


def test_coupon_and_what_it_references_in_one_batch_is_stored_not_parked():
    result = services.store_batch(
        users=[valid_user(1)], events=[valid_event(5)], coupons=[valid_coupon(9, 1, [(5, 1.5)])]
    )
    assert result.coupons == [9]
    assert not ParkedCoupon.objects.exists()
