"""The run's rows: counted in its SQLite file, waited for, and every acknowledged record
reconciled by where its 202 put it (soak/reconcile.py, shared with the soak), so that a
run whose records will never come stops and says which."""

import json
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.pipeline import say
from betreco.processes import Process
from soak.reconcile import Receipt, Reconciliation, receipts_of, reconcile

TABLES = {"users": "ingest_user", "events": "ingest_event", "coupons": "ingest_coupon"}
STORE_DEADLINE_S = 600.0
# Row counts still for this long: reconcile every acknowledged record by its 202's topic,
# partition and offset, and stop when the consumers have committed past missing ones.
STALL_S = 10.0


@dataclass
class Rows:
    """The run's database and every 202's receipts (id, topic, partition, offset)."""

    db_path: Path
    bootstrap: str
    group: str
    workdir: Path  # where the consumer logs are, for the errors
    receipts: list[Receipt] = field(default_factory=list)

    def acknowledged(self, kind: str, answer: bytes) -> None:
        """Keep the receipts of a 202 (one list.extend: safe from many sender threads)."""
        self.receipts.extend(receipts_of(kind, json.loads(answer)))

    def stored_ids(self, kind: str, ids: list[int]) -> set[int]:
        with sqlite3.connect(self.db_path, timeout=30) as db:
            marks = ",".join("?" * len(ids))
            query = f"SELECT id FROM {TABLES[kind]} WHERE id IN ({marks})"  # noqa: S608
            return {row[0] for row in db.execute(query, ids)}

    def reconcile(self) -> Reconciliation:
        """Every acknowledged record against the database, by where its 202 put it."""
        return reconcile(self.receipts, self.stored_ids, self.bootstrap, group=self.group)

    def counts(self) -> dict[str, int]:
        with sqlite3.connect(self.db_path, timeout=30) as db:
            return {
                kind: db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # noqa: S608
                for kind, table in TABLES.items()
            }

    def wait_stored(
        self, wanted: dict[str, int], started: float, consumers: list[Process]
    ) -> dict[str, float]:
        """Poll the row counts until each kind reaches `wanted`; seconds from `started` per kind."""
        done: dict[str, float] = {}
        deadline = time.monotonic() + STORE_DEADLINE_S
        last, moved = None, time.monotonic()
        while True:
            counts = self.counts()
            now = time.perf_counter()
            for kind, count in counts.items():
                if kind in wanted and kind not in done and count >= wanted[kind]:
                    done[kind] = now - started
            if len(done) == len(wanted):
                return done
            if counts != last:
                last, moved = counts, time.monotonic()
            elif time.monotonic() - moved > STALL_S:
                self._lost(self.reconcile(), counts, wanted)  # raises when they will never come
                moved = time.monotonic()
            if time.monotonic() > deadline:
                found = self.reconcile()
                self._lost(found, counts, wanted)
                raise RuntimeError(
                    f"not stored within {STORE_DEADLINE_S:g} s: {counts} of {wanted}; "
                    f"{found.summary()}; consumer logs in {self.workdir}"
                )
            for consumer in consumers:
                if not consumer.alive():
                    raise RuntimeError(f"a consumer exited with {consumer.exit_code()}")
            time.sleep(0.02)

    def _lost(self, found: Reconciliation, counts: dict, wanted: dict) -> None:
        """Say loudly, and stop the run, when acknowledged records are missing and the
        consumers have committed past them: the counts will never reach `wanted`."""
        if not found.passed:
            return
        say("!" * 100)
        say(
            f"!!! ACKNOWLEDGED RECORDS LOST: rows {counts} of {wanted}; the consumer group has "
            f"committed past {found.passed} acknowledged offsets whose records are not stored"
        )
        for line in found.lines():
            say(f"!!! {line}")
        say("!" * 100)
        raise RuntimeError(f"{found.summary()}; consumer logs in {self.workdir}")
