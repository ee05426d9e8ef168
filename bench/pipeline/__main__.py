"""`python -m bench.pipeline`: the options, and each run from nothing (see __init__.py)."""

import argparse
import os
import shutil
import tempfile
import uuid
from contextlib import ExitStack
from pathlib import Path

from bench.pipeline import __doc__ as OVERVIEW
from bench.pipeline import client, report, say
from bench.pipeline.data_api import API_CONCURRENT, API_SEQUENTIAL, data_api
from bench.pipeline.producer import end_to_end, seed_table
from bench.pipeline.records import make_records
from bench.pipeline.references import kafka_reference, sqlite_reference
from bench.pipeline.single_record import single_record
from bench.pipeline.stack import BENCH_API_KEY, MAKE_RUN_CONFIG, start_stack

PHASES = ("e2e", "seed", "refs", "data-api", "single")


def one_run(number: int, args) -> dict:
    run_id = uuid.uuid4().hex[:8]
    count = max(10, int(10_000 * args.scale))
    single = max(100, int(args.requests * args.scale))
    warmup = max(20, single // 10)
    phases = args.phases
    e2e_data = make_records(count, seed=number, id_base=1_000_000_000)
    seed_data = make_records(100, seed=1000 + number, id_base=2_000_000_000)
    load_data = {
        "users": make_records(warmup + single, seed=2000 + number, id_base=3_000_000_000)["users"]
    }
    api_data = make_records(
        100, seed=3000 + number, id_base=4_000_000_000, coupons=API_CONCURRENT + API_SEQUENTIAL
    )
    result = {}
    workdir = Path(tempfile.mkdtemp(prefix="betreco-bench-pipeline-"))
    try:
        with ExitStack() as exits:
            stack = start_stack(exits, workdir, run_id, args.production)
            if "e2e" in phases:
                stack.start_consumers()
                stack.start_producer(MAKE_RUN_CONFIG)
                stack.wait_assigned()
                result["e2e"] = end_to_end(stack, e2e_data, args.batch, args.senders)
                result["consumer"] = stack.stop_consumers()
                report.say_e2e(number, result["e2e"], result["consumer"])
            if "seed" in phases:
                stack.start_consumers()
                if stack.producer is None:
                    stack.start_producer(MAKE_RUN_CONFIG)
                stack.wait_assigned()
                result["seed"] = seed_table(stack, seed_data, args.seed_workers)
                report.say_seed(number, result["seed"])
                stack.stop_consumers()
            if "refs" in phases:
                result["kafka"] = kafka_reference(stack, run_id)
                result["sqlite"] = sqlite_reference(stack, e2e_data)
                report.say_refs(number, result)
            if "data-api" in phases:
                result["api"] = data_api(stack, api_data, args.seed_workers)
                report.say_api(number, result["api"])
            if "single" in phases:
                result["single"] = []
                for config in args.configs:
                    measured = single_record(stack, config, load_data, warmup, args)
                    result["single"].append(measured)
                    report.say_single(number, measured, args)
    finally:
        if args.keep:
            say(f"run {number}: files kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.pipeline", description=OVERVIEW.splitlines()[0]
    )
    parser.add_argument("--runs", type=int, default=3, help="runs, each from nothing (3)")
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the record counts")
    parser.add_argument("--batch", type=int, default=500, help="records per POST end to end (500)")
    parser.add_argument("--senders", type=int, default=4, help="threads POSTing batches (4)")
    parser.add_argument("--seed-workers", type=int, default=32, help="threads for the seed table")
    parser.add_argument("--requests", type=int, default=5000, help="single-record POSTs (5000)")
    parser.add_argument("--clients", type=int, default=2, help="client processes (2)")
    parser.add_argument("--client-threads", type=int, default=16, help="threads each (16)")
    parser.add_argument(
        "--configs",
        type=lambda text: [c for c in text.split(",") if c],
        default=[MAKE_RUN_CONFIG, "2x4", "8x8"],
        help="gunicorn workers x threads for the single-record test (make run's, 2x4, 8x8)",
    )
    parser.add_argument("--keep", action="store_true", help="keep each run's files and logs")
    parser.add_argument(
        "--production",
        action="store_true",
        help="DEBUG=0 (production settings, writes with a token) instead of make run's defaults",
    )
    parser.add_argument(
        "--phases",
        type=lambda text: [p.strip() for p in text.split(",") if p.strip()],
        default=list(PHASES),
        help=f"comma-separated phases to run, always in this order: {','.join(PHASES)} (all)",
    )
    args = parser.parse_args()
    unknown = [p for p in args.phases if p not in PHASES]
    if unknown or not args.phases:
        parser.error(f"--phases: unknown {unknown}; choose from {','.join(PHASES)}")
    if "refs" in args.phases and "e2e" not in args.phases:
        parser.error("--phases: refs compares with the messages and rows of e2e; add e2e")
    args.phases = [p for p in PHASES if p in args.phases]
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "betreco.settings")
    if args.production:
        client.use_api_key(BENCH_API_KEY)
    runs = [one_run(number, args) for number in range(1, args.runs + 1)]
    report.report(runs, args)


if __name__ == "__main__":
    main()
