"""`GET /status` (a page that refreshes itself from `/status.json`) and `GET /status.json`."""

from django.http import JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from status.figures import REFRESH_SECONDS, status_figures


@require_safe
@never_cache
def status_page(request):
    """The status page, rendered with the figures of now; its script refreshes them."""
    figures = status_figures()
    return render(
        request,
        "status/status.html",
        {"figures": figures, "refresh_ms": int(REFRESH_SECONDS * 1000)},
    )


@require_safe
@never_cache
def status_json(request):
    """The same figures for machines."""
    return JsonResponse(status_figures())
