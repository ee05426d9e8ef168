"""Ids for records posted without one.

Snowflake layout in 63 bits: milliseconds since 2024-01-01 (41 bits), a node
number (10 bits) and a per-millisecond sequence (12 bits). Ids from one
process never repeat; ids from processes with different node numbers never
collide. The node number comes from BETRECO_NODE_ID, or, when that is unset,
from the operating system's random source at start-up. Source systems' own
ids (like the seed's five-digit ones) sit far below the generated range.
"""

import secrets
import threading
import time

from django.conf import settings

EPOCH_MS = 1_704_067_200_000  # 2024-01-01T00:00:00Z
NODE_BITS = 10
SEQUENCE_BITS = 12
MAX_SEQUENCE = (1 << SEQUENCE_BITS) - 1


class IdGenerator:
    def __init__(self, node_id: int):
        if not 0 <= node_id < (1 << NODE_BITS):
            raise ValueError(f"node id must be 0-{(1 << NODE_BITS) - 1}, not {node_id}")
        self.node_id = node_id
        self._lock = threading.Lock()
        self._last_ms = -1
        self._sequence = 0

    def next_id(self) -> int:
        with self._lock:
            now_ms = max(int(time.time() * 1000) - EPOCH_MS, self._last_ms)
            if now_ms == self._last_ms:
                self._sequence = (self._sequence + 1) & MAX_SEQUENCE
                if self._sequence == 0:
                    now_ms += 1  # sequence exhausted: borrow the next millisecond
            else:
                self._sequence = 0
            self._last_ms = now_ms
            return (
                (now_ms << (NODE_BITS + SEQUENCE_BITS))
                | (self.node_id << SEQUENCE_BITS)
                | self._sequence
            )


_generator: IdGenerator | None = None


def new_id() -> int:
    """A fresh 63-bit id that no other process assigns."""
    global _generator
    if _generator is None:
        node = settings.BETRECO_NODE_ID
        _generator = IdGenerator(node if node >= 0 else secrets.randbelow(1 << NODE_BITS))
    return _generator.next_id()
