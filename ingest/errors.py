"""API error responses beyond DRF's own (which already names fields on a 400)."""

import logging

from django.db import DatabaseError
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from ingest.ids import IdUnavailable

logger = logging.getLogger(__name__)

# How long a client told 503 should wait before it tries again (the database, the broker).
RETRY_AFTER_SECONDS = 5


def unavailable(detail: str) -> Response:
    """A 503 saying what is unavailable, with the one Retry-After every 503 here carries."""
    return Response(
        {"detail": detail},
        status=status.HTTP_503_SERVICE_UNAVAILABLE,
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


def exception_handler(exc, context):
    """DRF's handler, plus a 503 instead of a 500 when the database is unreachable.

    When the failure was assigning an id (`IdUnavailable`), the answer says so.
    """
    response = drf_exception_handler(exc, context)
    if response is None and isinstance(exc, DatabaseError):
        cause = exc.__cause__ or exc
        logger.warning("database error answering %s: %s", context.get("request"), cause)
        detail = "The database is unavailable; try again shortly."
        if isinstance(exc, IdUnavailable):
            detail = f"{exc} Try again shortly, or send the record with its own id."
        return unavailable(detail)
    return response
