"""Fixtures for the status page's tests."""

import pytest

from status import figures


class Readiness:
    """Stands in for `ingest.health.Readiness` (tested in tests/ingest/test_health.py)."""

    def __init__(self, checks):
        self.checks = checks

    def as_dict(self):
        return {"status": "ready", "checks": dict(self.checks)}


@pytest.fixture
def readiness_answers(monkeypatch):
    """Make the status page's readiness checks answer `checks`, without a broker."""

    def answer(**checks):
        monkeypatch.setattr(figures, "readiness", lambda: Readiness(checks))

    answer(database="ok", broker="ok")
    return answer
