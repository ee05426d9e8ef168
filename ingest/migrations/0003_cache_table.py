"""The database cache's table, when CACHE_URL names one (`dbcache://...`), made by `migrate`.

The default cache is no longer the database (settings.CACHES: throttle counts
there made every anonymous read a write); `createcachetable` skips tables
that exist and caches that are not in the database (files, Redis).
"""

from django.core.management import call_command
from django.db import migrations


def create_cache_table(apps, schema_editor):
    call_command("createcachetable", database=schema_editor.connection.alias, verbosity=0)


class Migration(migrations.Migration):
    dependencies = [("ingest", "0002_dead_letter_message")]

    operations = [migrations.RunPython(create_cache_table, migrations.RunPython.noop)]
