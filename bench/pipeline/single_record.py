"""Phase 5, load generation: single-record POSTs from several client processes x threads
against the producer under each gunicorn workers x threads; requests/s and latencies."""

import json
import multiprocessing
import threading
import time
from collections import Counter

from bench.pipeline.client import Http
from bench.pipeline.stack import Stack

REPORT_TIMEOUT_S = 600.0  # for a client process's figures


def _load_process(port: int, path: str, bodies: list[bytes], threads: int, queue) -> None:
    """One client process: `threads` keep-alive connections sharing `bodies`; report to queue."""
    client = Http(port)
    latencies, statuses = [], Counter()
    lock = threading.Lock()
    chunks = [bodies[i::threads] for i in range(threads)]

    def worker(chunk):
        mine, codes = [], Counter()
        for body in chunk:
            begin = time.perf_counter()
            status, _ = client.post(path, body)
            mine.append(time.perf_counter() - begin)
            codes[status] += 1
        with lock:
            latencies.extend(mine)
            statuses.update(codes)

    started = time.monotonic()
    pool = [threading.Thread(target=worker, args=(chunk,)) for chunk in chunks]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    queue.put((started, time.monotonic(), latencies, dict(statuses), client.reconnects))


def load(port: int, kind: str, records: list[dict], processes: int, threads: int) -> dict:
    """Single-record POSTs of `records` from processes x threads: requests/s and latencies."""
    bodies = [json.dumps(record).encode() for record in records]
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    workers = [
        context.Process(
            target=_load_process, args=(port, f"/{kind}", bodies[i::processes], threads, queue)
        )
        for i in range(processes)
    ]
    for worker in workers:
        worker.start()
    reports = [queue.get(timeout=REPORT_TIMEOUT_S) for _ in workers]
    for worker in workers:
        worker.join()
    began = min(r[0] for r in reports)
    ended = max(r[1] for r in reports)
    latencies = sorted(latency for r in reports for latency in r[2])
    statuses = Counter()
    for report in reports:
        statuses.update(report[3])
    return {
        "requests": len(latencies),
        "seconds": ended - began,
        "rate": len(latencies) / (ended - began),
        "p50_ms": 1000 * latencies[len(latencies) // 2],
        "p99_ms": 1000 * latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
        "statuses": dict(statuses),
        "reconnects": sum(r[4] for r in reports),
    }


def single_record(stack: Stack, config: str, data: dict, warmup: int, args) -> dict:
    """Restart gunicorn with `config` (workers x threads), warm it up, then measure."""
    if stack.producer_config != config or stack.producer is None:
        stack.start_producer(config)
    users = data["users"]
    load(stack.producer_port, "users", users[:warmup], args.clients, args.client_threads)
    result = load(stack.producer_port, "users", users[warmup:], args.clients, args.client_threads)
    result["config"] = config
    return result
