"""Storing events: idempotent upserts, shared participant pairs, sports folded; deleting them."""

from decimal import Decimal

import pytest

from ingest import services
from ingest.hooks import events_written
from ingest.models import Event, ParticipantPair
from tests.records import valid_coupon, valid_event, valid_user

pytestmark = pytest.mark.django_db


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


def test_a_deleted_event_takes_its_selections_and_is_announced_before_it_goes(
    announced, selections_of
):
    services.store_batch(
        users=[valid_user(1), valid_user(2)],
        events=[valid_event(5), valid_event(6), valid_event(7)],
        coupons=[valid_coupon(9, 1, [(5, 1.5), (6, 2.0)]), valid_coupon(10, 2, [(6, 2.0)])],
    )
    announced.clear()
    still_there = []

    def count_still_stored(sender, event_ids, **kwargs):
        still_there.append(Event.objects.filter(pk__in=event_ids).count())

    events_written.connect(count_still_stored, weak=False)
    try:
        services.events_delete(event_ids=[6, 7])
    finally:
        events_written.disconnect(count_still_stored)

    assert set(Event.objects.values_list("pk", flat=True)) == {5}
    assert selections_of(9) == {(5, Decimal("1.5"))}
    assert selections_of(10) == set()
    # Every event of a coupon whose selections changed (coupons_write's rule), then the deletion.
    assert announced == [("bets_changed", [1, 2], [5, 6]), ("events_deleted", [6, 7])]
    assert still_there == [2]  # receivers can still read what refers to them
