"""Fixtures for the services' tests: what ingest announced, and a coupon's stored selections."""

import pytest

from ingest.hooks import bets_changed, events_written
from ingest.models import Selection


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


@pytest.fixture
def selections_of():
    """A coupon's stored selections as {(event id, odds)}."""

    def stored(coupon_id):
        return set(Selection.objects.filter(coupon_id=coupon_id).values_list("event_id", "odds"))

    return stored
