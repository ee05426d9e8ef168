"""The soak's database: a fresh one per run, and an outage of it on demand.

SQLite: a temporary file; the outage is another process holding
`BEGIN IMMEDIATE` on it, so every writer waits. PostgreSQL: a throw-away
database `betreco_soak_<random>` on the server the URL names, dropped at the
end; the outage forbids new connections to it and terminates its sessions,
and the finally that ends it always allows them again.
"""

import secrets
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

SQLITE_HOLDER = """
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], timeout=60, isolation_level=None)
db.execute("BEGIN IMMEDIATE")
print("holding", flush=True)
time.sleep(float(sys.argv[2]))
db.execute("ROLLBACK")
"""


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def _admin_conninfo(url: str) -> str:
    """The server's maintenance database (`postgres`) as a libpq URL, for DDL about another."""
    return _with_database(url, "postgres").replace("postgres://", "postgresql://", 1)


@contextmanager
def fresh_database(server_url: str | None, run_dir: Path, *, prefix: str = "betreco_soak"):
    """A DATABASE_URL of a database made for this run; a PostgreSQL one, named `prefix_<random>`,
    is dropped after."""
    if not server_url or is_sqlite(server_url):
        yield f"sqlite:///{run_dir / f'{prefix}.sqlite3'}"
        return
    import psycopg

    name = f"{prefix}_{secrets.token_hex(4)}"
    with psycopg.connect(_admin_conninfo(server_url), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield _with_database(server_url, name)
    finally:
        with psycopg.connect(_admin_conninfo(server_url), autocommit=True) as admin:
            admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def outage(url: str, seconds: float) -> None:
    """Take the database away for `seconds` (blocking), then give it back."""
    if is_sqlite(url):
        _sqlite_outage(url.removeprefix("sqlite:///"), seconds)
    else:
        _postgres_outage(url, seconds)


def _sqlite_outage(path: str, seconds: float) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", SQLITE_HOLDER, path, str(seconds)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        if holder.stdout.readline().strip() != "holding":
            raise RuntimeError("the SQLite lock holder did not take the lock")
        holder.wait(seconds + 90)
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()


def _postgres_outage(url: str, seconds: float) -> None:
    import psycopg

    name = database_name(url)
    with psycopg.connect(_admin_conninfo(url), autocommit=True) as admin:
        try:
            admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
            ends = time.monotonic() + seconds
            while time.monotonic() < ends:  # sessions opened just before the ALTER, too
                admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = %s AND pid <> pg_backend_pid()",
                    (name,),
                )
                time.sleep(0.5)
        finally:
            admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
