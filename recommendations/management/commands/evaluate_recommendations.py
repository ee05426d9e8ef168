"""`manage.py evaluate_recommendations`: every engine scored on a time split; reads only."""

import json
from datetime import UTC, datetime

from django.core.management.base import BaseCommand, CommandError
from django.utils.dateparse import parse_date, parse_datetime
from tqdm import tqdm

from betreco.sql import read_only
from recommendations.evaluation.chart import chart_format_check, chart_write
from recommendations.evaluation.contenders import UnknownEngine, contenders
from recommendations.evaluation.replay import (
    NothingToEvaluate,
    default_cut_off,
    evaluate,
    split_at,
)
from recommendations.evaluation.report import as_json, as_table


def parse_time(text: str) -> datetime:
    """An ISO 8601 time or date; naive means UTC, as everywhere in the project."""
    try:
        moment = parse_datetime(text) or (
            datetime.combine(day, datetime.min.time()) if (day := parse_date(text)) else None
        )
    except ValueError:
        moment = None
    if moment is None:
        raise CommandError(
            f"--at: {text!r} is not an ISO 8601 time (e.g. 2026-05-01T18:00:00Z or 2026-05-01)."
        )
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class Command(BaseCommand):
    help = (
        "Replay history on a time split and score every recommendation engine (and a random "
        "baseline) against what users selected after the cut-off: hit rate, precision, recall "
        "and NDCG at 1, 3, 5 and 10, coverage, users answered. Writes nothing to the database."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--at",
            metavar="TIME",
            help="The cut-off, ISO 8601 (default: the 80th percentile of coupon times).",
        )
        parser.add_argument(
            "--engine",
            nargs="+",
            metavar="NAME",
            help="Only these engines (default: every engine of the project, and random).",
        )
        parser.add_argument("--json", action="store_true", help="Print one JSON object.")
        parser.add_argument("--chart", metavar="FILE", help="Write a chart, FILE.png or FILE.svg.")
        parser.add_argument("--no-progress", action="store_true", help="No progress bar.")

    def handle(self, *args, at=None, engine=None, chart=None, **options):
        at = parse_time(at) if at else None
        try:
            picked = contenders(engine)
        except UnknownEngine as error:
            raise CommandError(f"--engine: {error}.") from error
        if chart:
            try:
                chart_format_check(chart)
            except ValueError as error:
                raise CommandError(f"--chart: {error}.") from error
        with read_only():
            evaluation = self._evaluate(at, picked, progress=not options["no_progress"])
        if chart:
            chart_write(evaluation, chart)
        if options["json"]:
            self.stdout.write(json.dumps(as_json(evaluation), indent=2))
        else:
            self.stdout.write(as_table(evaluation))

    def _evaluate(self, at, picked, *, progress: bool):
        try:
            split = split_at(at or default_cut_off())
        except NothingToEvaluate as error:
            raise CommandError(f"Nothing to evaluate: {error}.") from error
        with tqdm(
            total=len(split.relevant) * len(picked),
            unit="user",
            desc="evaluating " + ", ".join(picked),
            disable=not progress,
            file=self.stderr,
        ) as bar:
            return evaluate(split, picked, on_progress=bar.update)
