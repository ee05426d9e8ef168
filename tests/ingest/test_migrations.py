"""The sport_key migration recomputes existing rows' keys with Python's folding."""

from django.db.migrations.loader import MigrationLoader

from ingest.models import Event

# Found by name, not number: branches add migrations and get renumbered.
MIGRATION = next(
    key
    for key in MigrationLoader(None).disk_migrations
    if key[0] == "ingest" and key[1].endswith("_sport_key_casefold")
)


def test_existing_events_get_casefolded_keys(executor):
    migration = executor.loader.get_migration(*MIGRATION)
    before = [key for key in migration.dependencies if key[0] == "ingest"]
    executor.migrate(before)
    old = executor.loader.project_state(before).apps
    pair = old.get_model("ingest", "ParticipantPair").objects.create(home="A", away="B")
    spellings = ["FÚTBOL", "Fútbol", "fútbol", "Straße", "STRASSE", "Football"]
    for event_id, sport in enumerate(spellings):
        old.get_model("ingest", "Event").objects.create(
            id=event_id,
            begin_timestamp="2030-01-01T10:00:00Z",
            end_timestamp="2030-01-01T12:00:00Z",
            country="GR",
            league="L",
            sport=sport,
            participants=pair,
        )

    executor.loader.build_graph()
    executor.migrate([MIGRATION])

    assert dict(Event.objects.values_list("sport", "sport_key")) == {
        "FÚTBOL": "fútbol",
        "Fútbol": "fútbol",
        "fútbol": "fútbol",
        "Straße": "strasse",
        "STRASSE": "strasse",
        "Football": "football",
    }
