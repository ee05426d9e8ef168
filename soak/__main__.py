"""`python -m soak --minutes 15 [--database-url URL] [--fast-seconds N]`: the chaos soak
(see soak/__init__.py).

SQLite by default (a temporary file); PostgreSQL with --database-url or
TEST_DATABASE_URL naming a server (a throw-away database on it). Exits 1 when
a check fails, keeping the run directory (every process's log) and printing
its path; on success the directory is removed unless --keep.
"""

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

from soak.database import fresh_database
from soak.processes import new_prefix


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m soak", description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=15.0, help="of load and faults (15)")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("TEST_DATABASE_URL") or None,
        help="a PostgreSQL server (default: $TEST_DATABASE_URL, else SQLite)",
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--rate", type=float, default=40.0, help="requests/s in all (40)")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--consumers", type=int, default=2, help="at start (a third joins)")
    parser.add_argument("--outage", type=float, default=15.0, help="seconds of database outage")
    parser.add_argument(
        "--fast-seconds",
        type=float,
        default=None,
        help="of the full-speed phase after the paced load (2 per minute of --minutes, at "
        "least 15: 30 in a 15-minute soak; 0 skips it)",
    )
    parser.add_argument(
        "--fast-limit",
        type=float,
        default=0.0,
        help="records/s the full-speed phase may send at most (0: as fast as answered)",
    )
    parser.add_argument(
        "--fast-rate", type=float, default=2000.0, help="acked records/s it must sustain (2000)"
    )
    parser.add_argument("--fast-senders", type=int, default=16, help="connections posting (16)")
    parser.add_argument("--keep", action="store_true", help="keep the run dir on success too")
    shape = parser.add_mutually_exclusive_group()
    shape.add_argument(
        "--per-topic",
        dest="per_topic",
        action="store_const",
        const=True,
        help="one consumer process per topic (the default on PostgreSQL, as make run)",
    )
    shape.add_argument(
        "--all-topics",
        dest="per_topic",
        action="store_const",
        const=False,
        help="--consumers processes over all three topics (the default on SQLite)",
    )
    args = parser.parse_args(argv)
    run_dir = Path(tempfile.mkdtemp(prefix="betreco-soak-"))
    with fresh_database(args.database_url, run_dir) as url:
        prefix = os.environ["KAFKA_TOPIC_PREFIX"] = new_prefix()
        os.environ["DATABASE_URL"] = url
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "betreco.settings")
        import django

        django.setup()
        from django.db import connections

        from soak.harness import SoakConfig, print_report, run

        config = SoakConfig(
            seconds=args.minutes * 60,
            database_url=url,
            run_dir=run_dir,
            seed=args.seed,
            clients=args.clients,
            rate=args.rate,
            consumers=args.consumers,
            outage_s=args.outage,
            prefix=prefix,
            converge_s=max(120.0, args.minutes * 20),
            fast_seconds=(
                max(15.0, args.minutes * 2) if args.fast_seconds is None else args.fast_seconds
            ),
            fast_limit=args.fast_limit,
            per_topic=args.per_topic,
            fast_senders=args.fast_senders,
            fast_min_rate=args.fast_rate,
        )
        try:
            report = run(config)
        finally:
            connections.close_all()
    print_report(report)
    if report.ok and not args.keep:
        shutil.rmtree(run_dir, ignore_errors=True)
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
