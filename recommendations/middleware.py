"""A write request has the recommendations it made stale refreshed after its commit.

See docs/recommendations.md, "Fresh, through a durable outbox".
"""

from django.db import transaction

from betreco.crashpoints import crash_point
from recommendations.drainer import drainer
from recommendations.outbox import enqueued


class RefreshAfterWriteMiddleware:
    """After a request whose writes added outbox rows, wake this process's drainer.

    Runs after the view, once its transaction committed, and does not wait
    for the drain (`recommendations.drainer`). Inside a transaction that
    is still open (a test's), the wake waits for its commit.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = enqueued.set(False)
        try:
            response = self.get_response(request)
            if enqueued.get():
                crash_point("write-committed")
                transaction.on_commit(drainer.wake)
            return response
        finally:
            enqueued.reset(token)
