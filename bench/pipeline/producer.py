"""Phases 1 and 2 through the producer: every record end to end in arrays, and the seed's
table, one record per request; seconds until the producer and the database have them."""

import json
import time
from concurrent.futures import ThreadPoolExecutor

from bench.pipeline.client import Http, expect_202
from bench.pipeline.records import KINDS
from bench.pipeline.stack import Stack
from bench.pipeline.staleness import REFRESHED_DEADLINE_S, OutboxSampler


def end_to_end(stack: Stack, data: dict, batch_size: int, senders: int) -> dict:
    """POST every record in arrays of `batch_size`; time until the producer and the DB have all."""
    client = Http(stack.producer_port)
    batches = [
        (kind, json.dumps(data[kind][i : i + batch_size]).encode())
        for kind in KINDS
        for i in range(0, len(data[kind]), batch_size)
    ]
    before = stack.rows.counts()
    wanted = {kind: before[kind] + len(data[kind]) for kind in KINDS}

    def send(batch):
        kind, body = batch
        status, answer = client.post(f"/{kind}", body)
        expect_202(status, answer, f"POST /{kind} of a batch")
        stack.rows.acknowledged(kind, answer)

    sampler = OutboxSampler(stack.rows.db_path)
    sampler.start()
    try:
        started = time.perf_counter()
        with ThreadPoolExecutor(senders) as pool:
            list(pool.map(send, batches))
        produced_s = time.perf_counter() - started
        stored = stack.wait_stored(wanted, started)
        # The refreshes the last rows owe are part of the phase: sample until they are done.
        emptied = sampler.wait_empty(started + max(stored.values()), REFRESHED_DEADLINE_S)
    finally:
        staleness = sampler.stop()
    total = sum(len(data[kind]) for kind in KINDS)
    seconds = max(stored.values())
    return {
        "records": total,
        "seconds": seconds,
        "rate": total / seconds,
        "producer_s": produced_s,
        "producer_rate": total / produced_s,
        "stored_s": stored,
        "refreshed_s": None if emptied is None else emptied - started,
        "staleness": staleness,
    }


def seed_table(stack: Stack, data: dict, workers: int) -> dict:
    """Each kind's records one per request from `workers` threads: to all 202, to all stored."""
    client = Http(stack.producer_port)
    result = {}
    with ThreadPoolExecutor(workers) as pool:
        for kind in KINDS:
            wanted = {k: c for k, c in stack.rows.counts().items()}
            wanted[kind] += len(data[kind])
            bodies = [json.dumps(record).encode() for record in data[kind]]

            def send(body, kind=kind):
                status, answer = client.post(f"/{kind}", body)
                expect_202(status, answer, f"POST /{kind}")
                stack.rows.acknowledged(kind, answer)

            started = time.perf_counter()
            list(pool.map(send, bodies))
            accepted = time.perf_counter() - started
            stored = stack.wait_stored({kind: wanted[kind]}, started)[kind]
            result[kind] = {"accepted_s": accepted, "stored_s": stored}
    return result
