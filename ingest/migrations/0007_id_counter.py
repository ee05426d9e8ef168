"""The id counter (`ingest.ids`): a table of one row, the next id to lease, from 2**40.

Created by SQL rather than by the model (which is unmanaged), so that
`flush` never empties it: the counter must never go back.
"""

from django.db import migrations, models

FIRST_LEASED_ID = 2**40


class Migration(migrations.Migration):
    dependencies = [("ingest", "0006_sport_key_casefold")]

    operations = [
        migrations.CreateModel(
            name="IdCounter",
            fields=[
                ("id", models.PositiveSmallIntegerField(primary_key=True, serialize=False)),
                (
                    "next_id",
                    models.BigIntegerField(help_text="The first id of the next block to lease"),
                ),
            ],
            options={"db_table": "ingest_id_counter", "managed": False},
        ),
        migrations.RunSQL(
            [
                "CREATE TABLE ingest_id_counter ("
                "id smallint NOT NULL PRIMARY KEY CHECK (id = 1), "
                "next_id bigint NOT NULL)",
                (
                    "INSERT INTO ingest_id_counter (id, next_id) VALUES (1, %s)",
                    [FIRST_LEASED_ID],
                ),
            ],
            reverse_sql=["DROP TABLE ingest_id_counter"],
        ),
    ]
