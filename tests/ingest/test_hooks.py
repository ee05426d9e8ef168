"""Ingest's two hooks: what a write wakes after its commit, and what recommendations registers."""

import pytest
from django.db import transaction

from ingest import hooks
from recommendations.drainer import wake_drainer
from recommendations.outbox import refresh_pending


@pytest.fixture
def woken(monkeypatch):
    """Wakes called, in place of the registered ones."""
    calls = []
    monkeypatch.setattr(hooks, "_wakes", [lambda: calls.append("woken")])
    return calls


@pytest.mark.django_db
def test_a_write_wakes_the_drains_only_once_its_transaction_commits(
    woken, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        hooks.drain_after_commit()
        assert woken == []
    assert woken == ["woken"]


def test_recommendations_registers_its_refresh_and_its_servers_wake_once(monkeypatch):
    monkeypatch.setattr(hooks, "_drains", list(hooks._drains))
    monkeypatch.setattr(hooks, "_wakes", list(hooks._wakes))
    hooks.register_drain(refresh_pending, wake=wake_drainer)  # registering again adds nothing
    assert hooks.registered_drains() == [refresh_pending]
    assert hooks._wakes == [wake_drainer]
