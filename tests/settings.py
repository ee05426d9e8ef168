"""Settings for the test suite: the project's, with a file-backed SQLite test database.

A file (not SQLite's in-memory default) lets the consumer processes the
integration tests start see the same database as the test itself.
"""

import os
import tempfile

from betreco.settings import *  # noqa: F403
from betreco.settings import DATABASES

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["TEST"] = {
        "NAME": os.environ.get("TEST_SQLITE_NAME")
        or os.path.join(tempfile.gettempdir(), f"betreco-test-{os.getpid()}.sqlite3")
    }

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
