"""`manage.py evaluate_recommendations`: table, --json, --chart, errors, and that it only reads."""

import hashlib
import io
import json
import sqlite3
from datetime import UTC, timedelta
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from recommendations.models import (
    PendingRefresh,
    RankingSnapshot,
    RebuildRequest,
    Recommendation,
    RecommendedEvent,
)
from tests.factories import CouponFactory, UserFactory
from tests.production.test_settings import run_python

METRICS = {"hit_rate", "precision", "recall", "ndcg"}


@pytest.fixture
def history(make_event):
    """Bettors with a sport each, half their coupons ten days ago and half two days ago."""
    sports = ["Golf", "Tennis", "Rugby"]
    events = {sport: [make_event(sport) for _ in range(6)] for sport in sports}
    now = timezone.now()
    for index in range(12):
        user, sport = UserFactory(), sports[index % 3]
        for day, offset in ((10, 0), (2, 3)):
            picked = events[sport][offset + index % 3 : offset + index % 3 + 1]
            CouponFactory(
                user=user,
                stake=Decimal("5"),
                timestamp=now - timedelta(days=day),
                selections=[(event, "2") for event in picked],
            )
    return now - timedelta(days=5)


def run(*args):
    out, err = io.StringIO(), io.StringIO()
    call_command("evaluate_recommendations", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.mark.django_db
def test_the_table_shows_every_metric_of_every_engine(history):
    out, err = run("--at", history.isoformat())
    assert "12 users selected events after it (0 of them cold starts" in out
    for engine in ("frequency", "popularity", "random"):
        assert engine in out
    for label in ("hit rate", "precision", "recall", "NDCG", "coverage", "answered"):
        assert label in out
    assert "36/36" in err  # the progress bar: 12 users, three engines


@pytest.mark.django_db
def test_json_has_the_documented_shape(history):
    out, _ = run("--at", history.isoformat(), "--json", "--engine", "frequency", "random")
    payload = json.loads(out)
    assert set(payload) == {"at", "users", "engines"}
    assert payload["at"] == history.astimezone(UTC).isoformat()
    assert payload["users"] == 12
    assert list(payload["engines"]) == ["frequency", "random"]
    for figures in payload["engines"].values():
        assert set(figures) == METRICS | {"coverage", "answered"}
        for metric in METRICS:
            assert set(figures[metric]) == {"1", "3", "5", "10"}
            assert all(0 <= value <= 1 for value in figures[metric].values())
        assert 0 < figures["coverage"] <= 1
        assert figures["answered"] == 12


@pytest.mark.django_db
def test_the_default_cut_off_leaves_a_fifth_of_the_coupons_after_it(history):
    payload = json.loads(run("--json", "--no-progress")[0])
    assert payload["at"] == (history + timedelta(days=3)).astimezone(UTC).isoformat()


@pytest.mark.django_db
@pytest.mark.parametrize(("suffix", "magic"), [(".png", b"\x89PNG"), (".svg", b"<?xml")])
def test_the_chart_is_written_as_png_or_svg(history, tmp_path, suffix, magic):
    chart = tmp_path / f"evaluation{suffix}"
    run("--at", history.isoformat(), "--chart", str(chart), "--no-progress")
    assert chart.read_bytes().startswith(magic)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--at", "last tuesday"], "--at: 'last tuesday' is not an ISO 8601 time"),
        (["--at", "2026-02-30"], "--at: '2026-02-30' is not an ISO 8601 time"),
        (["--engine", "best"], "--engine: unknown engine 'best' (known: frequency, popularity"),
        (["--chart", "out.pdf"], "--chart: 'out.pdf' must end in .png or .svg"),
    ],
)
def test_bad_options_are_refused_naming_the_option(args, message):
    with pytest.raises(CommandError) as refused:
        run(*args)
    assert message in str(refused.value)


@pytest.mark.django_db
def test_without_coupons_there_is_nothing_to_evaluate():
    with pytest.raises(CommandError, match="Nothing to evaluate: no coupons are stored"):
        run()


def _stored():
    return [
        list(model.objects.order_by("pk").values())
        for model in (
            Recommendation,
            RecommendedEvent,
            RankingSnapshot,
            PendingRefresh,
            RebuildRequest,
        )
    ]


@pytest.mark.django_db(transaction=True)
def test_it_changes_no_stored_answer_and_no_outbox_row(history, user):
    call_command("rebuild_recommendations", no_progress=True, stdout=io.StringIO())
    PendingRefresh.objects.create(scope=PendingRefresh.Scope.USER, ref_id=user.pk)
    before = _stored()
    run("--at", history.isoformat(), "--no-progress")
    run("--json", "--no-progress")
    assert _stored() == before
    assert Recommendation.objects.exists()
    assert PendingRefresh.objects.exists()


def _manage(tmp_path, *args: str) -> str:
    """A management command in a fresh process, on the SQLite file tmp_path/db.sqlite3."""
    code = (
        "import django; django.setup(); from django.core.management import call_command; "
        f"call_command(*{list(args)!r})"
    )
    done = run_python(code, tmp_path, LOG_LEVEL="WARNING")
    assert done.returncode == 0, done.stderr
    return done.stdout


def _digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_the_sqlite_database_file_is_byte_for_byte_the_same_after_a_run(tmp_path):
    database, dummy = tmp_path / "db.sqlite3", tmp_path / "dummy.json"
    _manage(tmp_path, "migrate", "-v0")
    _manage(tmp_path, "generate_dummy", "--users", "60", "--events", "80", "--coupons", "300",
            "--seed", "5", "-o", str(dummy))  # fmt: skip
    _manage(tmp_path, "load_dummy", str(dummy), "--verbosity", "0")
    with sqlite3.connect(database) as setup:  # what load_dummy left in the WAL, into the file
        setup.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    before = _digest(database)

    out = _manage(tmp_path, "evaluate_recommendations", "--json", "--no-progress")

    assert json.loads(out)["users"] > 0
    assert _digest(database) == before
    wal = database.with_name(database.name + "-wal")
    assert not wal.exists() or wal.stat().st_size == 0
