"""`manage.py load_dummy FILE`: store a dummy-format JSON file through the one ingest path.

Every record goes through `ingest.validation.validate_records` and is stored
in chunks with `ingest.services.store_batch`, exactly as a consumer stores a
batch: users first, then events, then coupons. Nothing is written directly.
"""

import json
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from ingest import parking, services
from ingest.kafka.topics import RECORD_KINDS
from ingest.validation import InvalidRecord, describe_errors, validate_records


@dataclass
class KindSummary:
    """What happened to the records of one kind in the file."""

    read: int = 0
    accepted: int = 0
    written: int = 0
    refused: list[tuple[int, str]] = field(default_factory=list)


def _refuse_unknown_references(records: list[tuple[int, dict]], summary: KindSummary):
    """Coupons whose user or events are not stored: refused (reported), not parked."""
    errors = parking.reference_errors([record for _, record in records])
    kept = []
    for index, record in records:
        if record["id"] in errors:
            summary.refused.append((index, describe_errors(errors[record["id"]])))
        else:
            kept.append((index, record))
    return kept


def load_kind(kind: str, raw_records: list, *, batch_size: int, progress) -> KindSummary:
    """Validate and store the records of one kind, `batch_size` at a time."""
    summary = KindSummary(read=len(raw_records))
    for start in range(0, len(raw_records), batch_size):
        chunk = raw_records[start : start + batch_size]
        valid = []
        for offset, result in enumerate(validate_records(kind, chunk)):
            if isinstance(result, InvalidRecord):
                summary.refused.append((start + offset, str(result)))
            else:
                valid.append((start + offset, result))
        if kind == "coupons":
            valid = _refuse_unknown_references(valid, summary)
        result = services.store_batch(**{kind: [record for _, record in valid]})
        summary.accepted += len(valid)
        summary.written += len(getattr(result, kind))
        progress.update(len(chunk))
    summary.refused.sort()
    return summary


def read_dummy_file(path: str) -> dict:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as error:
        raise CommandError(f"Cannot read {path}: {error.strerror}") from error
    except json.JSONDecodeError as error:
        raise CommandError(f"{path} is not valid JSON: {error}") from error
    if not isinstance(data, dict) or not any(kind in data for kind in RECORD_KINDS):
        raise CommandError(f'{path} must be an object with "users", "events" and/or "coupons".')
    for kind in RECORD_KINDS:
        if not isinstance(data.get(kind, []), list):
            raise CommandError(f'"{kind}" in {path} must be a list of records.')
    return data


class Command(BaseCommand):
    help = (
        "Load a dummy-format JSON file (see generate_dummy) through the same validation "
        "and services as the consumers: users, then events, then coupons, stored in bulk "
        "chunks. Invalid records are refused and listed with their index and field error. "
        "Coupons whose user or events are neither stored nor in the file are refused "
        "(listed), not parked. Loading the same file again writes nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="JSON file with users, events and coupons.")
        parser.add_argument(
            "--batch-size",
            type=int,
            default=settings.CONSUMER_BATCH_SIZE,
            help="Records stored per transaction (CONSUMER_BATCH_SIZE).",
        )

    def handle(self, *args, **options):
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1.")
        data = read_dummy_file(options["file"])
        summaries = {}
        for kind in RECORD_KINDS:
            records = data.get(kind, [])
            with tqdm(
                total=len(records), desc=kind, unit="rec", disable=options["verbosity"] < 1 or None
            ) as progress:
                summaries[kind] = load_kind(
                    kind, records, batch_size=options["batch_size"], progress=progress
                )
        self._report(summaries)

    def _report(self, summaries: dict[str, KindSummary]) -> None:
        for kind, summary in summaries.items():
            unchanged = summary.accepted - summary.written
            line = (
                f"{kind}: {summary.read} read, {summary.accepted} stored "
                f"({summary.written} new or changed, {unchanged} unchanged), "
                f"{len(summary.refused)} refused"
            )
            style = self.style.WARNING if summary.refused else self.style.SUCCESS
            self.stdout.write(style(line))
            for index, reason in summary.refused:
                self.stdout.write(f"  refused {kind}[{index}]: {reason}")
