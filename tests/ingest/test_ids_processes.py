"""Ids assigned by several processes at once, each with threads, never repeat (docs/records.md).

Real processes against the suite's database: a SQLite file by default,
PostgreSQL with DATABASE_URL=postgres://... (run the file both ways). Each
starts with a pool of its own, as a gunicorn worker does, so the blocks
start small and many leases overlap.
"""

import pytest

from ingest.ids import FIRST_LEASED_ID, MAX_ASSIGNED_ID
from tests.processes import finish, start_together

PROCESSES = 6
THREADS = 4
PER_THREAD = 5000

ASSIGNER = """
import sys, threading
import django
django.setup()
from django.db import connections
from ingest.ids import new_id
from tests.processes import wait_for_go

threads, per_thread = int(sys.argv[3]), int(sys.argv[4])
results, errors = [[] for _ in range(threads)], []

def assign(index):
    try:
        results[index] = [new_id() for _ in range(per_thread)]
    except Exception as error:
        errors.append(repr(error))
    finally:
        connections.close_all()

workers = [threading.Thread(target=assign, args=(index,)) for index in range(threads)]
wait_for_go(*sys.argv[1:3])
for worker in workers:
    worker.start()
for worker in workers:
    worker.join()
if errors:
    sys.exit("\\n".join(errors))
print(" ".join(str(value) for result in results for value in result))
"""


@pytest.mark.django_db(transaction=True)
def test_processes_assigning_ids_at_once_never_assign_one_twice(tmp_path):
    processes = start_together(
        ASSIGNER, [[THREADS, PER_THREAD] for _ in range(PROCESSES)], tmp_path
    )
    outcomes = finish(processes)

    assigned = []
    for code, stdout, stderr in outcomes:
        assert code == 0, stderr
        assert "database is locked" not in stderr
        assigned += [int(value) for value in stdout.split()]
    assert len(assigned) == PROCESSES * THREADS * PER_THREAD
    assert len(set(assigned)) == len(assigned)
    assert all(FIRST_LEASED_ID <= value <= MAX_ASSIGNED_ID for value in assigned)
