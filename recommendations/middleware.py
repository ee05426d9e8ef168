"""A write request settles the recommendations it made stale before it answers (SPEC §7)."""

import logging

from django.db import DatabaseError

from betreco.crashpoints import crash_point
from recommendations.outbox import enqueued, refresh_pending

logger = logging.getLogger(__name__)


class RefreshAfterWriteMiddleware:
    """After a request whose committed writes added outbox rows, drain the outbox.

    Runs after the view, so after its transaction committed: a client that
    reads its recommendation after the response sees the change. If the
    drain fails, the rows stay in the outbox for the next drain (a
    consumer, the next write), and the response is unaffected.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = enqueued.set(False)
        try:
            response = self.get_response(request)
            if enqueued.get():
                crash_point("write-committed")
                try:
                    refresh_pending(rebuilds=False)
                except DatabaseError as error:
                    logger.warning("refresh left in the outbox for the next drain: %s", error)
            return response
        finally:
            enqueued.reset(token)
