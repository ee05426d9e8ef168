"""Storing events: idempotent upserts, shared participant pairs, sports folded."""

import pytest

from ingest import services
from ingest.models import Event, ParticipantPair
from tests.records import valid_event

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
