"""What a run prints: a line per phase as it ends, then the medians of all runs beside
their targets (the project's issues) and the seed's figures."""

import os
import statistics

from bench.pipeline import say
from bench.pipeline.data_api import API_CONCURRENT, API_SEQUENTIAL
from bench.pipeline.records import KINDS
from bench.pipeline.stack import MAKE_RUN_CONFIG

TARGET_E2E = 5000  # records/s end to end
TARGET_SINGLE = 1000  # single-record requests/s
TARGET_SEED_S = 0.2  # seconds for the seed's 100 records of a kind
TARGET_STALENESS_P99_S = 2.0  # age of the oldest owed refresh, p99 over the e2e phase
TARGET_API_CONCURRENT_S = 0.5  # 100 concurrent POST /coupons to the data API, all 201
TARGET_API_SEQUENTIAL_S = 3.0  # 1,000 sequential POST /coupons on one connection
SEED_API_CONCURRENT_S = (0.68, 0.89)  # the seed's figures for the same two measurements
SEED_API_SEQUENTIAL_S = 5.5


def say_e2e(n: int, r: dict, consumer: dict | None) -> None:
    stored = ", ".join(f"{k} {s:.2f} s" for k, s in r["stored_s"].items())
    refreshed = (
        "not within the deadline" if r["refreshed_s"] is None else f"{r['refreshed_s']:.2f} s"
    )
    st = r["staleness"]
    say(
        f"run {n}: end to end {r['records']} records in {r['seconds']:.2f} s = "
        f"{r['rate']:,.0f} records/s; producer side {r['producer_s']:.2f} s = "
        f"{r['producer_rate']:,.0f} records/s; all stored at: {stored}; outbox empty at "
        f"{refreshed}"
    )
    say(
        f"run {n}: staleness (oldest owed refresh) over {st['samples']} samples: "
        f"p50 {st['p50_s']:.3f} s, p99 {st['p99_s']:.3f} s, max {st['max_s']:.3f} s; "
        f"something owed in {st['owed_share']:.0%} of samples, at most {st['max_rows']} outbox rows"
    )
    if consumer is not None:
        say(
            f"run {n}: consumers closed after {consumer['messages']} messages in "
            f"{consumer['seconds']:.1f} s, {consumer['draining_s']:.1f} s of it draining "
            f"outboxes = {consumer['share']:.1%}"
        )


def say_api(n: int, r: dict) -> None:
    lat = r["latency_ms"]

    def ms(name):
        p50, p99, top = lat[name]
        return f"p50 {p50:.1f} / p99 {p99:.1f} / max {top:.1f} ms"

    say(
        f"run {n}: data API on {r['rows_before']}: 100 users in {r['users_s']:.3f} s "
        f"({ms('users')}), 100 events in {r['events_s']:.3f} s ({ms('events')})"
    )
    say(
        f"run {n}: data API: {API_CONCURRENT} concurrent POST /coupons all 201 in "
        f"{r['concurrent_s']:.3f} s ({ms('concurrent')}); {API_SEQUENTIAL} sequential in "
        f"{r['sequential_s']:.3f} s ({ms('sequential')}); reconnects {r['reconnects']}"
    )
    st, emptied = r["staleness"], r["emptied_after_s"]
    say(
        f"run {n}: data API staleness over the coupons ({st['samples']} samples): "
        f"p50 {st['p50_s']:.3f} s, p99 {st['p99_s']:.3f} s, max {st['max_s']:.3f} s, "
        f"owed in {st['owed_share']:.0%} of samples, at most {st['max_rows']} rows; outbox "
        + ("not empty within the deadline" if emptied is None else f"empty {emptied:.2f} s")
        + f" after the last answer ({r['owed_after']} rows then)"
    )


def say_seed(n: int, r: dict) -> None:
    parts = [
        f"{k} 202 in {v['accepted_s']:.3f} s, stored {v['stored_s']:.3f} s" for k, v in r.items()
    ]
    say(f"run {n}: seed table (100 each, one per request): " + "; ".join(parts))


def say_refs(n: int, r: dict) -> None:
    k, s = r["kafka"], r["sqlite"]
    say(
        f"run {n}: raw confluent-kafka {k['messages']} messages of {k['mean_bytes']:.0f} B: "
        f"produce {k['produce_rate']:,.0f}/s, consume {k['consume_rate']:,.0f}/s, "
        f"both {k['both_rate']:,.0f}/s; raw SQLite executemany {s['records']} records "
        f"in {s['seconds']:.3f} s = {s['rate']:,.0f}/s"
    )


def say_single(n: int, r: dict, args) -> None:
    say(
        f"run {n}: single-record POST /users, gunicorn {r['config']} (workers x threads), "
        f"client {args.clients}x{args.client_threads}: {r['requests']} requests in "
        f"{r['seconds']:.2f} s = {r['rate']:,.0f} req/s; p50 {r['p50_ms']:.1f} ms, "
        f"p99 {r['p99_ms']:.1f} ms; statuses {r['statuses']}, reconnects {r['reconnects']}"
    )


def report(runs: list[dict], args) -> None:
    med = statistics.median

    def row(name, values, unit, target, higher_is_better=True):
        value = med(values)
        each = ", ".join(f"{v:,.3g}" if v < 10 else f"{v:,.0f}" for v in values)
        shown = f"{value:,.3f}" if value < 10 else f"{value:,.0f}"
        if target is None:
            goal, ratio = "", ""
        else:
            goal = f"{'>=' if higher_is_better else '<='} {target:,g}"
            if higher_is_better:
                factor = value / target
            else:
                factor = target / value if value else float("inf")
            ratio = f"{factor:.2f}x {'met' if factor >= 1 else 'MISSED'}"
        say(f"{name:<44} {shown:>10} {unit:<9} {goal:<10} {ratio:<14} ({each})")

    def versus_seed(name, values, seed_low, seed_high):
        low, high = seed_low / med(values), seed_high / med(values)
        span = f"{seed_low:g}-{seed_high:g}" if seed_high != seed_low else f"{seed_low:g}"
        ratio = f"{low:.2f}-{high:.2f}x" if seed_high != seed_low else f"{low:.2f}x"
        say(f"{name:<44} {ratio:>10} {'':<9} (seed {span} s / our median)")

    phases = args.phases
    settings = "DEBUG=0 (--production)" if args.production else "make run's settings (DEBUG on)"
    say(
        f"\nMedians of {len(runs)} run(s), phases {','.join(phases)}, scale {args.scale:g}, "
        f"{os.cpu_count()} CPUs, {settings}; end to end, seed table and data API under "
        f"gunicorn {MAKE_RUN_CONFIG}, batches of {args.batch} from {args.senders} threads; "
        f"single-record client {args.clients} processes x {args.client_threads} threads"
    )
    say(f"{'figure':<44} {'median':>10} {'unit':<9} {'target':<10} {'vs target':<14} (runs)")
    if "e2e" in phases:
        e2e = [r["e2e"]["rate"] for r in runs]
        row("end to end (HTTP batches -> SQLite)", e2e, "rec/s", TARGET_E2E)
        row(
            "  producer side only (202 for all batches)",
            [r["e2e"]["producer_rate"] for r in runs],
            "rec/s",
            None,
        )
        refreshed = [r["e2e"]["refreshed_s"] for r in runs]
        if None not in refreshed:
            row("  first send to outbox empty", refreshed, "s", None)
        staleness = [r["e2e"]["staleness"] for r in runs]
        row(
            "recommendation staleness (oldest owed) p50", [s["p50_s"] for s in staleness], "s", None
        )
        row(
            "recommendation staleness (oldest owed) p99",
            [s["p99_s"] for s in staleness],
            "s",
            TARGET_STALENESS_P99_S,
            False,
        )
        row(
            "recommendation staleness (oldest owed) max", [s["max_s"] for s in staleness], "s", None
        )
        consumers = [r["consumer"] for r in runs if r.get("consumer") is not None]
        if consumers:
            row(
                "refresh share of consumer time",
                [100 * c["share"] for c in consumers],
                "%",
                None,
            )
            row("  consumer draining outboxes", [c["draining_s"] for c in consumers], "s", None)
            row(
                "  consumer lifetime (start to SIGTERM)",
                [c["seconds"] for c in consumers],
                "s",
                None,
            )
    if "seed" in phases:
        seed_rows(runs, row)
    if "data-api" in phases:
        api = [r["api"] for r in runs]
        concurrent = [a["concurrent_s"] for a in api]
        sequential = [a["sequential_s"] for a in api]
        row(
            f"data API: {API_CONCURRENT} concurrent POST /coupons",
            concurrent,
            "s",
            TARGET_API_CONCURRENT_S,
            False,
        )
        versus_seed("  seed/ours", concurrent, *SEED_API_CONCURRENT_S)
        row("  p99 request latency", [a["latency_ms"]["concurrent"][1] for a in api], "ms", None)
        row(
            f"data API: {API_SEQUENTIAL:,} sequential POST /coupons",
            sequential,
            "s",
            TARGET_API_SEQUENTIAL_S,
            False,
        )
        versus_seed("  seed/ours", sequential, SEED_API_SEQUENTIAL_S, SEED_API_SEQUENTIAL_S)
        row("  p50 request latency", [a["latency_ms"]["sequential"][0] for a in api], "ms", None)
        row("  p99 request latency", [a["latency_ms"]["sequential"][1] for a in api], "ms", None)
        row(
            "data API staleness (oldest owed) p99",
            [a["staleness"]["p99_s"] for a in api],
            "s",
            None,
        )
    if "single" in phases:
        single_rows(runs, row, args)
    if "refs" in phases:
        refs_rows(runs, row, "e2e" in phases)


def seed_rows(runs: list[dict], row) -> None:
    for kind in KINDS:
        row(
            f"seed table: 100 {kind}, all 202",
            [r["seed"][kind]["accepted_s"] for r in runs],
            "s",
            TARGET_SEED_S,
            False,
        )
        row(
            f"seed table: 100 {kind}, all stored",
            [r["seed"][kind]["stored_s"] for r in runs],
            "s",
            None,
        )


def single_rows(runs: list[dict], row, args) -> None:
    for i, config in enumerate(args.configs):
        single = [r["single"][i] for r in runs]
        row(
            f"single-record POST, gunicorn {config}",
            [s["rate"] for s in single],
            "req/s",
            TARGET_SINGLE,
        )
        row("  p50 latency", [s["p50_ms"] for s in single], "ms", None)
        row("  p99 latency", [s["p99_ms"] for s in single], "ms", None)


def refs_rows(runs: list[dict], row, with_e2e: bool) -> None:
    med = statistics.median
    row("raw confluent-kafka produce", [r["kafka"]["produce_rate"] for r in runs], "msg/s", None)
    row("raw confluent-kafka consume", [r["kafka"]["consume_rate"] for r in runs], "msg/s", None)
    both = [r["kafka"]["both_rate"] for r in runs]
    row("raw confluent-kafka produce+consume", both, "msg/s", None)
    sqlite_rates = [r["sqlite"]["rate"] for r in runs]
    row("raw SQLite executemany (WAL)", sqlite_rates, "rec/s", None)
    if not with_e2e:
        return
    e2e = [r["e2e"]["rate"] for r in runs]
    say(
        f"pipeline end to end as a fraction of raw Kafka produce+consume: "
        f"{med(e2e) / med(both):.1%}; of raw SQLite executemany: {med(e2e) / med(sqlite_rates):.1%}"
    )
