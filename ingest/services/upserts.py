"""Set-based writes shared by the services: one record per id, only changed rows, bulk upserts.

Storing the same record twice, or replaying a whole topic, changes
nothing: rows equal to what is stored are not written at all, so only
real changes are announced (`ingest.hooks`).
"""

from collections.abc import Iterable


def last_per_id(records: Iterable[dict]) -> list[dict]:
    """One record per id, the last one winning, as Kafka's order says it should."""
    by_id = {}
    for record in records:
        by_id[record["id"]] = record
    return list(by_id.values())


def changed_rows(model, rows: list, fields: list[str]) -> list:
    """The rows that are new or differ from what is stored, so replays write nothing."""
    stored = {
        values[0]: values[1:]
        for values in model.objects.filter(pk__in=[row.pk for row in rows]).values_list(
            "pk", *fields
        )
    }
    return [
        row for row in rows if stored.get(row.pk) != tuple(getattr(row, name) for name in fields)
    ]


def upsert(model, rows: list, fields: list[str]) -> list[int]:
    """Insert or update the rows that changed, in one statement; returns their ids."""
    rows = changed_rows(model, rows, fields)
    if rows:
        model.objects.bulk_create(
            rows,
            update_conflicts=True,
            unique_fields=["id"],
            update_fields=fields,
        )
    return [row.pk for row in rows]
