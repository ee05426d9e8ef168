"""Benchmark: HTTP -> Kafka -> consumers -> SQLite, and the data API (figures; no asserts).

Each run starts from nothing: a fresh temporary SQLite file (DATABASE_URL),
the embedded broker on a free port, topics under a prefix of the run's own,
`migrate`, the producer role under gunicorn and the consumers, both as
`make run` starts them (on SQLite: one `consume_topic users events coupons`
process, betreco.stack.consumer_processes). Then it measures, by phase
(--phases, all by default, always in this order):

1. e2e, end to end: 10,000 users, events and coupons (coupons on those users
   and events, made by generate_dummy's generator) POSTed as JSON arrays of
   500 to the producer, until all 30,000 rows are in SQLite: records/s from
   the first send to the last row stored, and the producer side alone.
   Meanwhile a sampler thread reads the run's SQLite file (a read-only
   connection; WAL) every 50 ms for the age of the oldest refresh the
   recommendations still owe, now - MIN(created_at) of the outbox
   recommendations_pendingrefresh (0 when empty), from the first send until
   every row is stored and the outbox is empty: its p50, p99 and max are the
   recommendation staleness. The consumers are then stopped (SIGTERM, and
   waited for); each logs "consumer closed after N messages in T s, D s of
   it draining outboxes", and D / T is the refresh share of consumer time
   (T is the consumer's whole life: it starts before the producer and waits
   to be assigned its partitions before the first send);
2. seed, the seed's table: 100 users, 100 events, 100 coupons, one record per
   request from 32 threads on keep-alive connections: seconds until every
   request answered 202, and until every row is stored (consumers started
   again for it, once assigned their partitions);
3. refs, raw references on the same broker and the same kind of file (needs
   e2e): the same messages (keys, values, headers) produced and consumed with
   confluent-kafka alone, and the same rows inserted with one SQLite
   executemany per table (same schema, WAL); the pipeline as a fraction;
4. data-api, the synchronous data API: the API role under gunicorn as
   `make run` starts it (BETRECO_ROLE=api, the same config and workers x
   threads), consumers and producer stopped, on the database the earlier
   phases left (after e2e: 10,000 of each). 100 fresh users and 100 fresh
   events are created through it (POST /users, /events, one record per
   request from 32 threads on keep-alive connections), then (a) 100 coupons
   POSTed at once from those 32 threads: seconds from the first send until
   all answered 201; (b) 1,000 coupons POSTed one after another on one
   keep-alive connection: total seconds. Every answer must be 201. Shown
   beside the seed's figures (0.68-0.89 s and 5.5 s). The refreshes these
   writes owe are settled by the API process (its write views wake its
   drainer thread once they commit: ingest.hooks.drain_after_commit), so the outbox sampler
   runs over the coupons too: the staleness they leave, until it is empty;
5. single, the single-record producer endpoint: requests/s and p50/p99
   latency over 5,000 single-record POSTs from several client processes x
   threads (consumers stopped), for each gunicorn workers x threads in
   --configs.

Every 202's receipts (id, topic, partition, offset) are kept. When the row
counts stop moving for STALL_S, every acknowledged record is reconciled
against the database by where its 202 put it (soak/reconcile.py, shared with
the soak); records missing at offsets the consumer group has committed past
will never be stored, so the run stops there and says so loudly: the missing
(topic, partition, offset ranges), and whether the broker still holds them.

Everything started is stopped at the end; all traffic stays on 127.0.0.1.

Modules: `__main__` (the options and one run), `stack` (the processes, started by
betreco/processes.py), `records`, `client` (HTTP), `rows` (counts, waiting, reconciling),
`staleness` (the outbox sampler), a module per phase (`producer`: e2e and seed,
`references`, `data_api`, `single_record`), and `report` (what is printed).

Usage: python -m bench.pipeline [--runs 3] [--scale 0.1] [--phases e2e,data-api]
       [--configs 4x8,2x4]
"""

import sys


def say(text: str) -> None:
    """A line of the bench's output, at once (the runs take minutes)."""
    sys.stdout.write(text + "\n")
    sys.stdout.flush()
