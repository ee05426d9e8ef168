"""SQL helpers shared by the writers: upserts with `executemany`, the same on SQLite and PostgreSQL.

`executemany` rather than `bulk_create`: a full rebuild writes 100,000
answers and 300,000 ranked events, and building that many model instances
(and SQLite's 999-parameter statements) was most of its time; a consumer's
batch of coupons spent a quarter of its CPU in `bulk_create`, compiling a
statement with every row's placeholders (docs/performance.md).
"""

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager

from django.db import connection


def upsert_sql(model, columns: Sequence[str], conflict: Sequence[str] = ()) -> str:
    """INSERT .. ON CONFLICT (`conflict`, by default the first column) DO UPDATE the others.

    The same on SQLite >= 3.24 and PostgreSQL; `conflict` names a unique key's columns.
    """
    quote = connection.ops.quote_name
    conflict = conflict or columns[:1]
    names = ", ".join(quote(c) for c in columns)
    updates = ", ".join(f"{quote(c)} = excluded.{quote(c)}" for c in columns if c not in conflict)
    placeholders = ", ".join(["%s"] * len(columns))
    return (
        f"INSERT INTO {quote(model._meta.db_table)} ({names}) VALUES ({placeholders}) "
        f"ON CONFLICT ({', '.join(quote(c) for c in conflict)}) DO UPDATE SET {updates}"
    )


def upsert_rows(
    model, names: Sequence[str], rows: Iterable[Sequence], conflict: Sequence[str] = ("id",)
) -> None:
    """Insert or update rows of `model`: values in the order of the fields `names`.

    Each value is prepared for the database as Django's own inserts prepare
    it (the field's `get_db_prep_save`), without model instances; `conflict`
    names the fields of the unique key that makes a row an update.
    """
    fields = [model._meta.get_field(name) for name in names]
    columns = [field.column for field in fields]
    sql = upsert_sql(model, columns, [model._meta.get_field(name).column for name in conflict])
    prepared = [
        [
            field.get_db_prep_save(value, connection)
            for field, value in zip(fields, row, strict=True)
        ]
        for row in rows
    ]
    execute_many(sql, prepared)


def insert_sql(model, columns: Sequence[str]) -> str:
    quote = connection.ops.quote_name
    names = ", ".join(quote(c) for c in columns)
    placeholders = ", ".join(["%s"] * len(columns))
    return f"INSERT INTO {quote(model._meta.db_table)} ({names}) VALUES ({placeholders})"


def execute_many(sql: str, rows: list) -> None:
    if rows:
        with connection.cursor() as cursor:
            cursor.executemany(sql, rows)


def db_datetime(value):
    """A datetime as the database's driver takes it in raw SQL."""
    return connection.ops.adapt_datetimefield_value(value)


@contextmanager
def read_only() -> Iterator[None]:
    """Make the database refuse writes from this connection for the block (work that only reads).

    SQLite: `PRAGMA query_only`. PostgreSQL: read-only transactions from
    here on (outside an open transaction; inside one, e.g. a test's, the
    transaction keeps its mode).
    """
    statements = {
        "sqlite": ("PRAGMA query_only = ON", "PRAGMA query_only = OFF"),
        "postgresql": (
            "SET default_transaction_read_only = on",
            "RESET default_transaction_read_only",
        ),
    }.get(connection.vendor)
    if statements is None or connection.vendor == "postgresql" and connection.in_atomic_block:
        yield
        return
    on, off = statements
    with connection.cursor() as cursor:
        cursor.execute(on)
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute(off)
