"""Event.sport_key: from a column the database computes (lower()) to one Python folds.

SQLite's lower() folds ASCII only and no database's turns "ß" into "ss",
so the key is now `ingest.sports.sport_key`, written by the app. A
generated column cannot be altered into a plain one, so it is dropped
(with its index) and added again, every row's key is computed in batches,
and the index is built once the keys are in.

Reversing puts the generated lower() column back; the database fills it.
"""

from django.db import migrations, models

from ingest.sports import sport_key

BATCH = 2_000


def fold_sport_keys(apps, schema_editor):
    """Compute every event's key, a batch at a time (never the whole table in memory)."""
    Event = apps.get_model("ingest", "Event")
    events = Event.objects.using(schema_editor.connection.alias)
    batch = []
    for event in events.only("id", "sport").order_by("id").iterator(chunk_size=BATCH):
        event.sport_key = sport_key(event.sport)
        batch.append(event)
        if len(batch) == BATCH:
            events.bulk_update(batch, ["sport_key"])
            batch = []
    if batch:
        events.bulk_update(batch, ["sport_key"])


class Migration(migrations.Migration):
    dependencies = [
        ("ingest", "0005_consumer_stats"),
    ]

    operations = [
        migrations.RemoveIndex(model_name="event", name="ingest_even_sport_k_9be3e5_idx"),
        migrations.RemoveField(model_name="event", name="sport_key"),
        migrations.AddField(
            model_name="event",
            name="sport_key",
            field=models.CharField(
                default="",
                editable=False,
                help_text="The sport case-folded (ingest.sports.sport_key): what sports compare by",
                max_length=300,
            ),
            preserve_default=False,
        ),
        migrations.RunPython(fold_sport_keys, migrations.RunPython.noop, elidable=True),
        migrations.AddIndex(
            model_name="event",
            index=models.Index(
                fields=["sport_key", "end_timestamp"], name="ingest_even_sport_k_9be3e5_idx"
            ),
        ),
    ]
