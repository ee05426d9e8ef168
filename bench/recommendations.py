"""Benchmark: recommendations at scale (prints figures and ratios; asserts nothing).

Builds a separate SQLite database (DATABASE_URL is set to a temporary file)
with, at --scale 1, 100,000 users, 20,000 events over 7 sports (a third
ended) and 1,000,000 selections on coupons of 1-5 selections, written with
bulk SQL. Then measures:

- a full rebuild (seconds, peak memory of a fresh process doing only that);
- the offline evaluation, `evaluate_recommendations` (every engine and the
  random baseline, read-only; seconds and peak memory of a fresh process);
- the refresh after one `store_batch` of 1,000 new events and of 1,000 new
  coupons, with the outbox drain that settles it;
- GET /recommendation/{id} latency through HTTP (gunicorn on a free port);
- the seed's per-user algorithm on a 1% sample, extrapolated.

Usage: python bench/recommendations.py [--scale 0.1] [--repeat 3] [--keep]
"""

import argparse
import http.client
import io
import json
import os
import random
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SPORTS = ["Football", "Basketball", "Tennis", "Ice Hockey", "Volleyball", "Handball", "Golf"]
TARGETS = {
    "rebuild_s": 60,
    "rebuild_mib": 1024,
    "evaluate_s": 60,
    "events_s": 2,
    "coupons_s": 1,
    "p99_ms": 10,
}


def setup_django(db_path: str) -> None:
    os.environ["DATABASE_URL"] = f"sqlite:///{db_path}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "betreco.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def _ts(moment: datetime) -> str:
    """A datetime as Django stores it in SQLite (naive UTC text)."""
    return moment.astimezone(UTC).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")


def generate(scale: float, rng: random.Random) -> dict:
    """Fill the database with bulk SQL; returns the counts."""
    from django.core.management import call_command
    from django.db import connection

    from ingest.sports import sport_key

    call_command("migrate", verbosity=0)
    n_users, n_events = int(100_000 * scale), int(20_000 * scale)
    n_selections = int(1_000_000 * scale)
    now = datetime.now(UTC)
    connection.ensure_connection()
    raw = connection.connection
    raw.executemany(
        "INSERT INTO ingest_user (id, birth_year, country, currency, gender, registration_date)"
        " VALUES (?, 1990, 'GR', 'EUR', 'F', ?)",
        ((pk, _ts(now - timedelta(days=400))) for pk in range(1, n_users + 1)),
    )
    raw.executemany(
        "INSERT INTO ingest_participantpair (id, home, away) VALUES (?, ?, ?)",
        ((pk, f"Home {pk}", f"Away {pk}") for pk in range(1, 501)),
    )
    events = []
    for pk in range(1, n_events + 1):
        if pk % 3 == 0:  # a third have ended
            begin = now - timedelta(days=rng.uniform(1, 30))
        else:
            begin = now + timedelta(hours=rng.uniform(-1, 24 * 14))
        events.append((pk, _ts(begin), _ts(begin + timedelta(hours=2)), rng.choice(SPORTS)))
    raw.executemany(
        "INSERT INTO ingest_event (id, begin_timestamp, end_timestamp, country, league, sport,"
        " sport_key, participants_id) VALUES (?, ?, ?, 'GR', 'League', ?, ?, ?)",
        ((pk, b, e, s, sport_key(s), pk % 500 + 1) for pk, b, e, s in events),
    )
    # Popularity is skewed, as on a real platform: a few events draw most bets.
    weights = [1 / (rank + 20) for rank in range(n_events)]
    event_ids = list(range(1, n_events + 1))
    rng.shuffle(event_ids)
    cum = list(_accumulate(weights))
    sizes, total = [], 0
    while total < n_selections:
        sizes.append(min(rng.randint(1, 5), n_selections - total))
        total += sizes[-1]
    draws = rng.choices(event_ids, cum_weights=cum, k=total)
    coupons, selections, at = [], [], 0
    for coupon_id, size in enumerate(sizes, start=1):
        when = now - timedelta(minutes=rng.uniform(1, 60 * 24 * 30))
        coupons.append((coupon_id, rng.randint(1, n_users), _ts(when)))
        selections.extend((coupon_id, event_id) for event_id in set(draws[at : at + size]))
        at += size
    while len(selections) < n_selections:  # top up what duplicate draws removed
        coupon_id = len(coupons) + 1
        coupons.append((coupon_id, rng.randint(1, n_users), _ts(now - timedelta(hours=1))))
        selections.append((coupon_id, rng.choices(event_ids, cum_weights=cum)[0]))
    raw.executemany(
        "INSERT INTO ingest_coupon (id, user_id, stake, timestamp) VALUES (?, ?, '10', ?)",
        coupons,
    )
    raw.executemany(
        "INSERT INTO ingest_selection (coupon_id, event_id, odds) VALUES (?, ?, '1.9')",
        selections,
    )
    raw.commit()
    raw.execute("ANALYZE")
    return {
        "users": n_users,
        "events": n_events,
        "coupons": len(coupons),
        "selections": len(selections),
    }


def existing_counts() -> dict:
    from ingest.models import Coupon, Event, Selection, User

    return {
        "users": User.objects.count(),
        "events": Event.objects.count(),
        "coupons": Coupon.objects.count(),
        "selections": Selection.objects.count(),
    }


def _accumulate(values):
    total = 0.0
    for value in values:
        total += value
        yield total


def in_fresh_process(phase: str, db_path: str) -> dict:
    """One phase (a full rebuild, the evaluation) in a new process, so its peak RSS is its own."""
    out = subprocess.run(
        [sys.executable, __file__, "--phase", phase, "--db", db_path],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def phase_evaluate() -> None:
    from django.core.management import call_command

    started = time.perf_counter()
    out = io.StringIO()
    call_command("evaluate_recommendations", "--json", "--no-progress", stdout=out)
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    users = json.loads(out.getvalue())["users"]
    sys.stdout.write(json.dumps({"users": users, "seconds": seconds, "peak_mib": peak / 1024}))
    sys.stdout.write("\n")


def phase_rebuild() -> None:
    from recommendations.rebuild import rebuild_all

    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result = rebuild_all()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    sys.stdout.write(
        json.dumps(
            {
                "users": result.users,
                "seconds": result.seconds,
                "peak_mib": peak / 1024,
                "before_mib": base / 1024,
            }
        )
        + "\n"
    )


def batch_refresh(kind: str, rng: random.Random, counts: dict, base_id: int) -> dict:
    """One store_batch of 1,000 new events or coupons, then the outbox drain that settles it."""
    from django.utils import timezone

    from ingest.models import Event
    from ingest.services import store_batch
    from ingest.validation import validate_record
    from recommendations.outbox import refresh_pending

    now = timezone.now()
    if kind == "events":
        records = [
            validate_record(
                "events",
                {
                    "id": base_id + i,
                    "begin_timestamp": (now + timedelta(hours=rng.uniform(1, 300))).isoformat(),
                    "end_timestamp": (now + timedelta(hours=rng.uniform(301, 320))).isoformat(),
                    "country": "GR",
                    "league": "League",
                    "sport": rng.choice(SPORTS),
                    "participants": ["Home 1", "Away 1"],
                },
            )
            for i in range(1000)
        ]
    else:
        open_ids = list(Event.objects.filter(end_timestamp__gt=now).values_list("id", flat=True))
        records = [
            validate_record(
                "coupons",
                {
                    "id": base_id + i,
                    "user_id": rng.randint(1, counts["users"]),
                    "stake": "5",
                    "selections": [{"event_id": pk, "odds": "2"} for pk in rng.sample(open_ids, 3)],
                },
            )
            for i in range(1000)
        ]
    started = time.perf_counter()
    store_batch(**{kind: records})
    refreshed = refresh_pending()
    total = time.perf_counter() - started
    return {"total_s": total, "refresh_s": refreshed.seconds, "users": refreshed.users}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http_latency(db_path: str, counts: dict, rng: random.Random, requests: int) -> dict:
    """GET /recommendation/{id} through gunicorn: p50/p99 over random users after warm-up."""
    port = free_port()
    env = dict(
        os.environ,
        DATABASE_URL=f"sqlite:///{db_path}",
        DEBUG="0",
        SECRET_KEY="bench-only-secret-key-not-for-production-0123456789",
        SECURE_SSL_REDIRECT="0",
        ALLOWED_HOSTS="127.0.0.1",
        THROTTLE_ANON_RATE="100000000/minute",
        LOG_LEVEL="WARNING",
    )
    server = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "gunicorn"),
            "betreco.wsgi",
            "--workers",
            "2",
            "--worker-class",
            "gthread",  # keeps connections alive
            "--threads",
            "2",
            "-b",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
    )
    try:
        _wait_for(port)
        client = Client(port)
        statuses = {}
        for _ in range(300):
            client.get(rng.randint(1, counts["users"]))
        samples = []
        for _ in range(requests):
            started = time.perf_counter()
            status = client.get(rng.randint(1, counts["users"]))
            samples.append((time.perf_counter() - started) * 1000)
            statuses[status] = statuses.get(status, 0) + 1
        client.close()
    finally:
        server.terminate()
        server.wait(timeout=30)
    samples.sort()
    return {
        "p50_ms": statistics.median(samples),
        "p99_ms": samples[int(len(samples) * 0.99) - 1],
        "max_ms": samples[-1],
        "statuses": statuses,
    }


class Client:
    """One keep-alive HTTP connection, as a browser or proxy would hold."""

    def __init__(self, port: int):
        self.port, self.conn = port, None

    def get(self, user_id: int) -> int:
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
            try:
                self.conn.request("GET", f"/recommendation/{user_id}")
                response = self.conn.getresponse()
                response.read()
                if response.getheader("Connection", "").lower() == "close":
                    self.close()
                return response.status
            except (OSError, http.client.HTTPException):
                self.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def _get(port: int, user_id: int) -> int:
    client = Client(port)
    try:
        return client.get(user_id)
    finally:
        client.close()


def _wait_for(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if _get(port, 1) in (200, 404, 429):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"gunicorn did not answer on port {port} within {timeout} s")


def seed_algorithm(user_ids: list[int], per_user: int = 3) -> float:
    """The seed's approach, per user: count sports coupon by coupon, scan that sport's events."""
    from django.utils import timezone

    from ingest.models import Coupon, Event, Selection

    started = time.perf_counter()
    now = timezone.now()
    for user_id in user_ids:
        counts, bet = {}, set()
        for coupon in Coupon.objects.filter(user_id=user_id):
            for selection in Selection.objects.filter(coupon=coupon).select_related("event"):
                counts[selection.event.sport] = counts.get(selection.event.sport, 0) + 1
                bet.add(selection.event_id)
        if not counts:
            continue
        favourite = max(counts, key=counts.get)
        picked = []
        for event in Event.objects.filter(sport=favourite):
            if event.end_timestamp > now and event.pk not in bet and len(picked) < per_user:
                picked.append(event.pk)
    return time.perf_counter() - started


def report(counts, rebuilds, evaluations, events, coupons, http, seed_s, sample) -> None:
    out = sys.stdout.write
    median = statistics.median
    rebuild_s = median(r["seconds"] for r in rebuilds)
    each = ", ".join(f"{r['seconds']:.2f}" for r in rebuilds)
    peak = max(r["peak_mib"] for r in rebuilds)
    out(f"\nData: {counts}\n")
    out(
        f"Full rebuild: {rebuild_s:.2f} s median of {len(rebuilds)} "
        f"({each}); "
        f"peak RSS {peak:.0f} MiB  [target <= {TARGETS['rebuild_s']} s, "
        f"<= {TARGETS['rebuild_mib']} MiB]\n"
    )
    each = ", ".join(f"{r['seconds']:.2f}" for r in evaluations)
    out(
        f"Offline evaluation (3 engines, {evaluations[0]['users']:,} users scored): "
        f"{median(r['seconds'] for r in evaluations):.2f} s median of {len(evaluations)} "
        f"({each}); peak RSS "
        f"{max(r['peak_mib'] for r in evaluations):.0f} MiB  "
        f"[target <= {TARGETS['evaluate_s']} s]\n"
    )
    for name, runs, target in (("events", events, "events_s"), ("coupons", coupons, "coupons_s")):
        out(
            f"store_batch of 1,000 new {name}: {median(r['total_s'] for r in runs):.3f} s "
            f"median (refresh {median(r['refresh_s'] for r in runs):.3f} s, users rebuilt "
            f"{[r['users'] for r in runs]})  [target <= {TARGETS[target]} s]\n"
        )
    out(
        f"GET /recommendation/{{id}}: p50 {http['p50_ms']:.2f} ms, p99 {http['p99_ms']:.2f} ms, "
        f"max {http['max_ms']:.1f} ms, statuses {http['statuses']}  "
        f"[target p99 <= {TARGETS['p99_ms']} ms]\n"
    )
    seed_full = seed_s / sample * counts["users"]
    out(
        f"Seed algorithm: {seed_s:.2f} s for {sample} users -> {seed_full:.0f} s for all "
        f"(extrapolated); ours {rebuild_s:.2f} s: {seed_full / rebuild_s:.0f}x faster\n"
    )
    per_event = median(r["total_s"] for r in events)
    out(
        f"Seed on 1,000 events (a full rebuild per event): {seed_full * 1000:.0f} s; "
        f"ours {per_event:.3f} s: {seed_full * 1000 / per_event:.0f}x\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--keep", action="store_true", help="keep the database file")
    parser.add_argument(
        "--phase", choices=["all", "generate", "rebuild", "evaluate"], default="all"
    )
    parser.add_argument("--db", help="database file (kept); generated unless it exists")
    args = parser.parse_args()
    if args.phase in ("rebuild", "evaluate"):
        setup_django(args.db)
        {"rebuild": phase_rebuild, "evaluate": phase_evaluate}[args.phase]()
        return
    db_path = args.db or tempfile.mktemp(prefix="betreco-bench-", suffix=".sqlite3")
    keep = args.keep or bool(args.db)
    reuse = bool(args.db) and Path(db_path).exists()
    setup_django(db_path)
    rng = random.Random(42)
    try:
        started = time.perf_counter()
        counts = existing_counts() if reuse else generate(args.scale, rng)
        sys.stdout.write(f"data {counts} ready in {time.perf_counter() - started:.1f} s\n")
        if args.phase == "generate":
            return
        rebuilds = [in_fresh_process("rebuild", db_path) for _ in range(args.repeat)]
        evaluations = [in_fresh_process("evaluate", db_path) for _ in range(args.repeat)]
        events = [
            batch_refresh("events", rng, counts, 10**9 + i * 10**4) for i in range(args.repeat)
        ]
        coupons = [
            batch_refresh("coupons", rng, counts, 10**9 + i * 10**4) for i in range(args.repeat)
        ]
        http = http_latency(db_path, counts, rng, args.requests)
        sample = max(10, counts["users"] // 100)
        seed_s = seed_algorithm(rng.sample(range(1, counts["users"] + 1), sample))
        report(counts, rebuilds, evaluations, events, coupons, http, seed_s, sample)
    finally:
        if not keep:
            for suffix in ("", "-wal", "-shm"):
                Path(db_path + suffix).unlink(missing_ok=True)
        else:
            sys.stdout.write(f"database kept at {db_path}\n")


if __name__ == "__main__":
    main()
