"""Room for case-folded sport keys, which can be longer than the name (ingest 0006)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("recommendations", "0005_generated_at_index"),
    ]

    operations = [
        migrations.AlterField(
            model_name="rankingsnapshot",
            name="sport_key",
            field=models.CharField(max_length=300),
        ),
        migrations.AlterField(
            model_name="recommendation",
            name="sport_key",
            field=models.CharField(
                blank=True,
                db_index=True,
                help_text="Case-folded sport (Event.sport_key); empty: cold start",
                max_length=300,
            ),
        ),
    ]
