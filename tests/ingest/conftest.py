"""Fixtures for ingest's tests: what ingest announced through its hooks."""

import pytest

from ingest.hooks import bets_changed, events_written


@pytest.fixture
def announced():
    """Every change ingest announced during the test, as (signal name, ids...).

    An event announced as about to be deleted shows as "events_deleted".
    """
    calls = []

    def events(sender, event_ids, deleted=False, **kwargs):
        calls.append(("events_deleted" if deleted else "events_written", sorted(event_ids)))

    def bets(sender, user_ids, event_ids, **kwargs):
        calls.append(("bets_changed", sorted(user_ids), sorted(event_ids)))

    events_written.connect(events, weak=False)
    bets_changed.connect(bets, weak=False)
    yield calls
    events_written.disconnect(events)
    bets_changed.disconnect(bets)
