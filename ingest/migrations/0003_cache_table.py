"""The database cache's table (settings.CACHES), so `migrate` is the only step anywhere.

DRF's throttles count requests in the default cache, shared by every
gunicorn worker through this table. `createcachetable` skips tables that
exist and caches that are not in the database (CACHE_URL naming Redis).
"""

from django.core.management import call_command
from django.db import migrations


def create_cache_table(apps, schema_editor):
    call_command("createcachetable", database=schema_editor.connection.alias, verbosity=0)


class Migration(migrations.Migration):
    dependencies = [("ingest", "0002_dead_letter_message")]

    operations = [migrations.RunPython(create_cache_table, migrations.RunPython.noop)]
