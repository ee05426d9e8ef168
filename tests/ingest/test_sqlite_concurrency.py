"""Several processes writing through the services to one SQLite file (SPEC §6).

WAL, IMMEDIATE transactions and the busy timeout must make writers queue,
never fail with "database is locked", and lose no row.
"""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from ingest.models import Coupon, Event, Selection, User

WORKERS = 4
BATCHES = 15
BATCH_SIZE = 20

WRITER = """
import sys, time
from pathlib import Path
import django
django.setup()
from ingest import services
from ingest.validation import validate_record

worker, batches, size = (int(arg) for arg in sys.argv[1:4])
ready, go = sys.argv[4:6]
Path(ready).touch()
deadline = time.monotonic() + 60
while not Path(go).exists() and time.monotonic() < deadline:
    time.sleep(0.01)
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


def _wait_until_ready(writers, paths, timeout=60):
    """Poll until every writer has started (or one died), so they all begin together."""
    deadline = time.monotonic() + timeout
    while not all(path.exists() for path in paths):
        for writer in writers:
            if writer.poll() is not None:
                pytest.fail(f"a writer exited early: {writer.communicate()[1]}")
        if time.monotonic() > deadline:
            pytest.fail("writer processes did not start in time")
        time.sleep(0.05)


@pytest.mark.skipif(
    settings.DATABASES["default"]["ENGINE"] != "django.db.backends.sqlite3",
    reason="only SQLite has the 'database is locked' problem; this DB is not SQLite",
)
def test_concurrent_writer_processes_never_see_database_is_locked(transactional_db, tmp_path):
    database = connection.settings_dict["NAME"]
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "betreco.settings",
        "PYTHONPATH": str(settings.BASE_DIR),
        "DATABASE_URL": f"sqlite:///{database}",
    }
    ready = [tmp_path / f"ready-{worker}" for worker in range(WORKERS)]
    go = tmp_path / "go"
    writers = [
        subprocess.Popen(
            [
                sys.executable,
                str(script),
                str(worker),
                str(BATCHES),
                str(BATCH_SIZE),
                str(ready[worker]),
                str(go),
            ],
            cwd=settings.BASE_DIR,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        for worker in range(WORKERS)
    ]
    _wait_until_ready(writers, ready)
    Path(go).touch()
    outcomes = [(writer.wait(timeout=300), writer.communicate()[1]) for writer in writers]

    for code, stderr in outcomes:
        assert "database is locked" not in stderr
        assert code == 0, stderr
    rows = WORKERS * BATCHES * BATCH_SIZE
    assert User.objects.count() == rows + 1
    assert Event.objects.count() == rows
    assert Coupon.objects.count() == rows
    assert Selection.objects.count() == rows
