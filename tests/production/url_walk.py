"""Every URL of this process's role, asked by each kind of caller: run in a fresh interpreter.

`python -m tests.production.url_walk` with the environment of a deployment
(DEBUG=0, BETRECO_ROLE, ...) migrates its database, makes a read key, a
write key and a staff user, and prints one JSON object a line:
`{"path", "method", "anonymous", "read key", "write key", "staff",
"metrics token"}` with the status each caller got. test_url_access.py runs it per role and mode.
"""

import json
import re

CALLERS = ("anonymous", "read key", "write key", "staff", "metrics token")
ID = re.compile(r"<(?:\w+:)?\w+>")
# The admin's own pages are walked through its front door and login page, not one by one.
ADMIN = ("admin/", "admin/login/")


def routes(resolver, prefix=""):
    """(route, view) of every URL pattern, nested ones included, admin's excepted."""
    from django.urls import URLResolver

    for pattern in resolver.url_patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            if not route.startswith("admin/"):
                yield from routes(pattern, route)
        else:
            yield route, pattern.callback


def has_admin() -> bool:
    """Whether this role serves the admin (the API role does, the producer role not)."""
    from django.urls import Resolver404, resolve

    try:
        resolve("/admin/")
    except Resolver404:
        return False
    return True


def methods(view) -> list[str]:
    """GET for every URL, and POST where the view writes (a DRF view with `post`)."""
    cls = getattr(view, "cls", None)
    return ["GET", *(["POST"] if cls is not None and hasattr(cls, "post") else [])]


def clients() -> dict:
    from django.conf import settings
    from django.contrib.auth.models import User as DjangoUser
    from django.test import Client

    from access.models import ApiKey

    _, read_key = ApiKey.objects.create_key(name="walk-read", scope="read")
    _, write_key = ApiKey.objects.create_key(name="walk-write", scope="write")
    staff = Client()
    staff.force_login(DjangoUser.objects.create_superuser("walk-staff", password="x" * 12))
    return {
        "anonymous": Client(),
        "read key": Client(HTTP_AUTHORIZATION=f"Bearer {read_key}"),
        "write key": Client(HTTP_AUTHORIZATION=f"Bearer {write_key}"),
        "staff": staff,
        "metrics token": Client(HTTP_AUTHORIZATION=f"Bearer {settings.METRICS_TOKEN}"),
    }


def records() -> None:
    """A user, an event and a coupon with id 1, so that reads of `<id>` find one."""
    from tests.factories import CouponFactory, EventFactory, UserFactory

    CouponFactory(id=1, user=UserFactory(id=1), selections=[(EventFactory(id=1), "1.5")])


def main() -> None:
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.urls import get_resolver

    # Who may see a page is the question here, not its static files (collected by the
    # image's build; tests/test_docs.py): the docs pages render without the manifest.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    call_command("migrate", verbosity=0)
    records()
    callers = clients()
    paths = [(ID.sub("1", route), view) for route, view in routes(get_resolver())]
    if has_admin():
        paths += [(route, None) for route in ADMIN]
    for path, view in paths:
        for method in methods(view):
            answers = {"path": f"/{path}", "method": method}
            for name, client in callers.items():
                ask = client.get if method == "GET" else client.post
                # secure: as behind the TLS proxy, so no redirect to https
                response = ask(f"/{path}", data={} if method == "POST" else None, secure=True)
                answers[name] = response.status_code
            print(json.dumps(answers), flush=True)


if __name__ == "__main__":
    main()
