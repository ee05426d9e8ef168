"""Several processes writing through the services to one SQLite file (docs/consumers.md).

WAL, IMMEDIATE transactions and the busy timeout must make writers queue,
never fail with "database is locked", and lose no row.
"""

import pytest
from django.conf import settings

from ingest.models import Coupon, Event, Selection, User
from tests.processes import finish, start_together

WORKERS = 4
BATCHES = 15
BATCH_SIZE = 20

WRITER = """
import sys
import django
django.setup()
from ingest import services
from ingest.validation import validate_record
from tests.processes import wait_for_go

worker, batches, size = (int(arg) for arg in sys.argv[3:6])
wait_for_go(*sys.argv[1:3])
for batch in range(batches):
    first = (worker + 1) * 1_000_000 + batch * size
    ids = range(first, first + size)
    users = [validate_record("users", {"id": i, "birth_year": 1990, "country": "GR",
             "currency": "EUR", "gender": "M"}) for i in ids]
    # Every worker also rewrites one shared row, so writers really collide.
    users.append(validate_record("users", {"id": 1, "birth_year": 1990 - worker,
                 "country": "GR", "currency": "EUR", "gender": "F"}))
    events = [validate_record("events", {"id": i, "begin_timestamp": "2030-01-01T10:00:00",
              "end_timestamp": "2030-01-01T12:00:00", "country": "GR", "league": "L",
              "sport": "Football", "participants": ["Home", f"Away {worker}"]}) for i in ids]
    coupons = [validate_record("coupons", {"id": i, "user_id": i, "stake": 5,
               "selections": [{"event_id": i, "odds": 1.5}]}) for i in ids]
    services.store_batch(users=users, events=events, coupons=coupons)
"""


@pytest.mark.skipif(
    settings.DATABASES["default"]["ENGINE"] != "django.db.backends.sqlite3",
    reason="only SQLite has the 'database is locked' problem; this DB is not SQLite",
)
def test_concurrent_writer_processes_never_see_database_is_locked(transactional_db, tmp_path):
    processes = start_together(
        WRITER, [[worker, BATCHES, BATCH_SIZE] for worker in range(WORKERS)], tmp_path
    )
    outcomes = finish(processes)

    for code, _, stderr in outcomes:
        assert "database is locked" not in stderr
        assert code == 0, stderr
    rows = WORKERS * BATCHES * BATCH_SIZE
    assert User.objects.count() == rows + 1
    assert Event.objects.count() == rows
    assert Coupon.objects.count() == rows
    assert Selection.objects.count() == rows
