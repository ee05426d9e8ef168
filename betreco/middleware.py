"""Request counts and latencies by view, for `betreco_http_*` (betreco/metrics.py)."""

import time

from betreco.metrics import HTTP_REQUEST_DURATION, HTTP_REQUESTS

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "unmatched"


def view_label(request) -> str:
    """The URL pattern that answered, the same with and without a trailing slash.

    `users/<id:user_id>`, not `users/42`: one value per route of the project
    (a path that matches none is `unmatched`), so the label cannot grow with
    the ids or junk paths clients send.
    """
    match = getattr(request, "resolver_match", None)
    if match is None:
        return UNMATCHED
    return match.route.rstrip("/") or "/"


class RequestMetricsMiddleware:
    """Counts every request by view, method and status, and times it by view."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        view = view_label(request)
        method = request.method if request.method in METHODS else "other"
        HTTP_REQUESTS.labels(view, method, str(response.status_code)).inc()
        HTTP_REQUEST_DURATION.labels(view).observe(time.perf_counter() - started)
        return response
