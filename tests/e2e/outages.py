"""A database outage for consumer processes, on the suite's database (docs/consumers.md).

SQLite: another connection holds the write lock (`BEGIN IMMEDIATE`), so a
consumer's write fails with "database is locked" once its busy timeout
(`SQLITE_BUSY_TIMEOUT`) runs out. PostgreSQL: the database refuses new
connections and every connection but the test's own is cut. Either way
the database is back when the block ends, whatever happened inside it.
"""

import sqlite3
from contextlib import contextmanager

from django.db import connection


@contextmanager
def database_outage():
    """The database unavailable to every other process until the block ends."""
    if connection.vendor == "sqlite":
        lock = sqlite3.connect(connection.settings_dict["NAME"], isolation_level=None)
        lock.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            lock.execute("ROLLBACK")
            lock.close()
        return
    database = connection.settings_dict["NAME"]
    own = connection.cursor().connection.info.backend_pid
    _allow_connections(database, False)
    try:
        _on_server(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            f"WHERE datname = '{database}' AND pid <> {own}"
        )
        yield
    finally:
        _allow_connections(database, True)


def _on_server(sql: str) -> None:
    """Run `sql` from the server's maintenance database (a database cannot lock itself out)."""
    import psycopg

    settings = connection.settings_dict
    with psycopg.connect(
        host=settings["HOST"] or None,
        port=settings["PORT"] or None,
        user=settings["USER"] or None,
        password=settings["PASSWORD"] or None,
        dbname="postgres",
        autocommit=True,
    ) as server:
        server.execute(sql)


def _allow_connections(database: str, allowed: bool) -> None:
    _on_server(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS {str(allowed).lower()}')
