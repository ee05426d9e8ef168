"""Phase 4: the synchronous data API (the api role), coupons POSTed at once and one after
another, every answer a 201."""

import json
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor

from bench.pipeline.client import Http, expect_201
from bench.pipeline.stack import MAKE_RUN_CONFIG, Stack
from bench.pipeline.staleness import REFRESHED_DEADLINE_S, OutboxSampler

API_CONCURRENT = 100
API_SEQUENTIAL = 1000


def _percentiles_ms(latencies: list[float]) -> tuple[float, float, float]:
    ordered = sorted(latencies)
    n = len(ordered)
    return (
        1000 * ordered[n // 2],
        1000 * ordered[min(n - 1, int(n * 0.99))],
        1000 * ordered[-1],
    )


def data_api(stack: Stack, data: dict, workers: int) -> dict:
    """The API role: fresh users and events, then coupons at once and one after another."""
    stack.stop_producer()  # idle here; the single-record phase starts it again
    stack.start_api(MAKE_RUN_CONFIG)
    rows_before = stack.rows.counts()
    client = Http(stack.api_port)
    latencies: dict[str, list[float]] = {}

    def post(kind: str, record: dict, what: str) -> float:
        body = json.dumps(record).encode()
        begin = time.perf_counter()
        status, answer = client.post(f"/{kind}", body)
        latency = time.perf_counter() - begin
        expect_201(status, answer, f"data API: POST /{kind} ({what})")
        return latency

    coupons = data["coupons"]
    if len(coupons) < API_CONCURRENT + API_SEQUENTIAL:
        raise ValueError(f"data API: {API_CONCURRENT + API_SEQUENTIAL} coupons needed")
    result = {"rows_before": rows_before}
    sampler = OutboxSampler(stack.rows.db_path)
    with ThreadPoolExecutor(workers) as pool:
        # The same threads (and their keep-alive connections) serve every step.
        for kind in ("users", "events"):
            started = time.perf_counter()
            latencies[kind] = list(pool.map(lambda r, k=kind: post(k, r, "setup"), data[kind]))
            result[f"{kind}_s"] = time.perf_counter() - started
        sampler.start()
        started = time.perf_counter()
        latencies["concurrent"] = list(
            pool.map(lambda r: post("coupons", r, "concurrent"), coupons[:API_CONCURRENT])
        )
        result["concurrent_s"] = time.perf_counter() - started
    sequential = coupons[API_CONCURRENT : API_CONCURRENT + API_SEQUENTIAL]
    one = Http(stack.api_port)  # this thread's one keep-alive connection
    started = time.perf_counter()
    latencies["sequential"] = []
    for record in sequential:
        begin = time.perf_counter()
        status, answer = one.post("/coupons", json.dumps(record).encode())
        latencies["sequential"].append(time.perf_counter() - begin)
        expect_201(status, answer, "data API: POST /coupons (sequential)")
    result["sequential_s"] = time.perf_counter() - started
    with sqlite3.connect(stack.rows.db_path, timeout=30) as db:
        result["owed_after"] = db.execute(
            "SELECT COUNT(*) FROM recommendations_pendingrefresh"
        ).fetchone()[0]
    emptied = sampler.wait_empty(time.perf_counter(), REFRESHED_DEADLINE_S)
    result["staleness"] = sampler.stop()
    result["emptied_after_s"] = (
        None if emptied is None else emptied - started - result["sequential_s"]
    )
    result["reconnects"] = client.reconnects + one.reconnects
    result["latency_ms"] = {name: _percentiles_ms(values) for name, values in latencies.items()}
    after = stack.rows.counts()
    wanted = {
        "users": rows_before["users"] + len(data["users"]),
        "events": rows_before["events"] + len(data["events"]),
        "coupons": rows_before["coupons"] + API_CONCURRENT + API_SEQUENTIAL,
    }
    if after != wanted:
        raise RuntimeError(f"data API: rows {after} after the phase, expected {wanted}")
    stack.stop_api()
    return result
