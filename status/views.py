"""`GET /status` (a page that refreshes itself from `/status.json`) and `GET /status.json`.

For operators: in production settings both need a staff login or a key
(betreco.auth.OperatorAccess); neither shows a secret (status.figures).
"""

from django.http import JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from drf_spectacular.utils import extend_schema
from rest_framework.decorators import api_view, permission_classes

from betreco.auth import OperatorAccess
from status.figures import REFRESH_SECONDS, status_figures


def operator_page(view):
    """`view` as a GET-only DRF view for operators, out of the API's schema, never cached."""
    return never_cache(
        extend_schema(exclude=True)(api_view(["GET"])(permission_classes([OperatorAccess])(view)))
    )


@operator_page
def status_page(request):
    """The status page, rendered with the figures of now; its script refreshes them."""
    figures = status_figures()
    return render(
        request,
        "status/status.html",
        {"figures": figures, "refresh_ms": int(REFRESH_SECONDS * 1000)},
    )


@operator_page
def status_json(request):
    """The same figures for machines."""
    return JsonResponse(status_figures())
