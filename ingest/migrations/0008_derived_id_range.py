"""DerivedIdRange: the numbers of derived-id ranges (`ingest.ids.range_numbers`).

No data step: ids derived before this table (2**52 + partition << 40 |
offset) are kept apart when numbers are allocated. While the table is
empty, the first number is above every range that a stored id in
[2**52, 2**53) already falls in, so those rows are never met (and an
emptied table starts above them again).
"""

import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("ingest", "0007_id_counter"),
    ]

    operations = [
        migrations.CreateModel(
            name="DerivedIdRange",
            fields=[
                ("topic", models.CharField(max_length=249)),
                (
                    "topic_id",
                    models.CharField(
                        blank=True,
                        help_text="The broker's topic id; empty if it reports none",
                        max_length=64,
                    ),
                ),
                ("partition", models.IntegerField()),
                (
                    "chunk",
                    models.BigIntegerField(
                        help_text="Offset >> 32: the range covers 2**32 offsets"
                    ),
                ),
                (
                    "number",
                    models.IntegerField(
                        help_text="0 to 2**20 - 1", primary_key=True, serialize=False
                    ),
                ),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
            ],
            options={
                "db_table": "ingest_derived_id_range",
                "ordering": ["number"],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("topic", "topic_id", "partition", "chunk"),
                        name="unique_derived_id_range",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(("number__gte", 0), ("number__lt", 1048576)),
                        name="derived_id_range_number_fits",
                    ),
                ],
            },
        ),
    ]
