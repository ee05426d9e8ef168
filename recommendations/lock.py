"""One writer of recommendations at a time, across processes."""

from django.db import connection

REFRESH_LOCK = 7_311_842  # any number, the same in every process


def one_writer_at_a_time() -> None:
    """Hold the recommendations write lock until the transaction ends.

    Refreshes and rebuilds each compute from what they read, then write.
    On SQLite the IMMEDIATE transaction already lets one writer in at a
    time; on PostgreSQL (READ COMMITTED) two of them could each write the
    snapshot from their own count, and the older win.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [REFRESH_LOCK])
