"""Sport names fold one way (ingest.sports.sport_key), on every write path and both databases."""

import pytest
from django.db.models import Value

from ingest import services
from ingest.models import Event
from ingest.sports import SPORT_KEY_MAX_LENGTH, SPORT_MAX_LENGTH, sport_key
from tests.factories import EventFactory, ParticipantPairFactory
from tests.records import valid_event

FUTBOL = ["FÚTBOL", "Fútbol", "fútbol"]
STRASSE = ["Straße", "STRASSE", "strasse"]


def keys(*event_ids) -> set[str]:
    return set(Event.objects.filter(id__in=event_ids).values_list("sport_key", flat=True))


@pytest.mark.parametrize("spellings", [FUTBOL, STRASSE], ids=["accents", "sharp-s"])
def test_spellings_of_one_sport_share_a_key(spellings):
    assert {sport_key(name) for name in spellings} == {sport_key(spellings[0])}


def test_a_decomposed_accent_is_the_same_letter():
    assert sport_key("Fu\u0301tbol") == sport_key("FÚTBOL") == "fútbol"


def test_the_longest_sport_folds_within_the_key_column():
    # "ΐ" casefolds to three code points, the most any character grows.
    assert len(sport_key("ΐ" * SPORT_MAX_LENGTH)) <= SPORT_KEY_MAX_LENGTH


@pytest.mark.django_db
def test_save_folds_the_key():
    assert EventFactory(sport="FÚTBOL").sport_key == "fútbol"
    stored = EventFactory(sport="Straße")
    assert keys(stored.pk) == {"strasse"}


@pytest.mark.django_db
def test_save_of_only_the_sport_writes_its_key():
    stored = EventFactory(sport="Tennis")
    stored.sport = "FÚTBOL"
    stored.save(update_fields=["sport"])
    assert keys(stored.pk) == {"fútbol"}


@pytest.mark.django_db
def test_bulk_writes_fold_the_key():
    pair = ParticipantPairFactory()
    rows = [EventFactory.build(id=1, sport="FÚTBOL"), EventFactory.build(id=2, sport="Straße")]
    for row in rows:
        row.participants = pair
    Event.objects.bulk_create(rows)
    assert keys(1) == {"fútbol"}
    assert keys(2) == {"strasse"}
    rows[0].sport = "STRASSE"
    Event.objects.bulk_update(rows, ["sport"])
    assert keys(1) == {"strasse"}
    Event.objects.filter(pk=2).update(sport="Fútbol")
    assert keys(2) == {"fútbol"}


@pytest.mark.django_db
def test_an_update_to_an_expression_is_refused_not_left_unfolded():
    stored = EventFactory(sport="Tennis")
    with pytest.raises(TypeError, match="sport_key"):
        Event.objects.filter(pk=stored.pk).update(sport=Value("FÚTBOL"))


@pytest.mark.django_db
def test_stored_and_restored_events_fold_their_key():
    services.events_upsert(
        records=[valid_event(n, sport=s) for n, s in enumerate(FUTBOL + STRASSE)]
    )
    assert keys(0, 1, 2) == {"fútbol"}
    assert keys(3, 4, 5) == {"strasse"}
    services.events_upsert(records=[valid_event(0, sport="STRASSE")])  # an upsert that changes it
    assert keys(0) == {"strasse"}


@pytest.mark.django_db
def test_events_posted_to_the_api_fold_their_key(api_client):
    body = {
        "begin_timestamp": "2030-10-10 20:00:00",
        "end_timestamp": "2030-10-10 22:00:00",
        "country": "DE",
        "league": "Bundesliga",
        "participants": ["Bayern Munich", "Borussia Dortmund"],
    }
    for event_id, sport in enumerate(FUTBOL + STRASSE, start=1):
        response = api_client.post(
            "/events", {**body, "event_id": event_id, "sport": sport}, format="json"
        )
        assert response.status_code == 201, response.json()
    assert keys(1, 2, 3) == {"fútbol"}
    assert keys(4, 5, 6) == {"strasse"}
