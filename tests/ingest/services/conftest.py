"""Fixtures for the services' tests: a coupon's stored selections (`announced`: tests/ingest)."""

import pytest

from ingest.models import Selection


@pytest.fixture
def selections_of():
    """A coupon's stored selections as {(event id, odds)}."""

    def stored(coupon_id):
        return set(Selection.objects.filter(coupon_id=coupon_id).values_list("event_id", "odds"))

    return stored
