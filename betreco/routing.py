"""URL helpers: 64-bit record ids and paths that work with and without a trailing slash."""

from django.http import JsonResponse
from django.urls import path, register_converter

from ingest.ids import MAX_ID


class RecordIdConverter:
    """A positive 64-bit id; anything larger is no match (404), never an overflow (500)."""

    regex = "[0-9]{1,19}"

    def to_python(self, value: str) -> int:
        number = int(value)
        if number > MAX_ID:
            raise ValueError(f"{value} is out of the 64-bit id range")
        return number

    def to_url(self, value) -> str:
        return str(value)


register_converter(RecordIdConverter, "id")


def slash_optional(route: str, view, name: str):
    """Two patterns for `route`: without and with a trailing slash (no redirect)."""
    route = route.rstrip("/")
    return [path(route, view, name=name), path(f"{route}/", view)]


def without_trailing_slash_duplicates(endpoints, **kwargs):
    """drf-spectacular hook: list each path once, in its slash-less form."""
    return [
        endpoint for endpoint in endpoints if endpoint[0] == "/" or not endpoint[0].endswith("/")
    ]


def not_found(request, exception=None):
    """404 as JSON, like the API's own: every unknown path or out-of-range id gets a message."""
    return JsonResponse({"detail": f"Nothing at {request.path}."}, status=404)
