"""Every URL of both roles, asked anonymously and with each credential, under production settings.

docs/production.md, "Access": with DEBUG=0 everything but the probes, the
schema and the docs needs a credential; a read key reads, a write key also
writes; the status figures take a staff login or a key; `/metrics` only
METRICS_TOKEN. `PUBLIC_READS=1` opens the data API's reads; DEBUG (`make
run`) opens everything. Settings are read at start, so each mode runs
tests/production/url_walk.py in a fresh interpreter with its environment.
"""

import json

import pytest

from tests.production.test_settings import run_python

REFUSED = {401, 403}
METRICS_TOKEN = "walk-metrics-token-0123456789"
OPEN = {
    "/healthz",
    "/readyz",
    "/openapi.json",
    "/docs",
    "/redoc",
    "/api-auth/login/",
    "/admin/login/",
}
LOGOUT = "/api-auth/logout/"  # Django's logout takes POST only: 405 to every GET
OPERATOR = {"/status", "/status.json"}
DATA_READS = ("/users", "/events", "/coupons", "/recommendation", "/recommendations")


def walk(tmp_path, bootstrap: str, **env) -> list[dict]:
    result = run_python(
        "from tests.production.url_walk import main; main()",
        tmp_path,
        KAFKA_BOOTSTRAP_SERVERS=bootstrap,
        METRICS_TOKEN=METRICS_TOKEN,
        CACHE_URL=f"filecache://{tmp_path / 'cache'}",
        **env,
    )
    assert result.returncode == 0, result.stderr
    answers = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert answers, result.stdout
    return answers


def base(path: str) -> str:
    """The path without its trailing slash (both forms are walked), the API-auth pages kept."""
    return path if path.startswith(("/api-auth/", "/admin/")) else path.rstrip("/")


def is_data_read(answer: dict) -> bool:
    return answer["method"] == "GET" and base(answer["path"]).startswith(DATA_READS)


@pytest.mark.parametrize("role", ["api", "producer"])
def test_production_lets_no_one_in_where_they_do_not_belong(tmp_path, kafka_bootstrap, role):
    answers = walk(tmp_path, kafka_bootstrap, BETRECO_ROLE=role)

    for answer in answers:
        path, method = base(answer["path"]), answer["method"]
        where = f"{method} {answer['path']}: {answer}"
        if path in OPEN:  # the login pages too (staff, logged in already, go past them)
            assert answer["anonymous"] == 200, where
        elif path == LOGOUT:
            assert answer["anonymous"] == 405, where
        elif path == "/admin/":
            assert answer["anonymous"] == 302, where  # to the admin's login page
            assert answer["staff"] == 200, where
        elif path == "/metrics":
            assert answer["metrics token"] == 200, where
            assert {answer[c] for c in ("anonymous", "read key", "write key", "staff")} == {401}
        else:
            assert answer["anonymous"] == 401, where
            assert answer["write key"] not in REFUSED, where
            assert answer["staff"] not in REFUSED, where
            assert (answer["read key"] == 403) == (method == "POST"), where
    paths = {base(answer["path"]) for answer in answers}
    if role == "api":
        assert OPERATOR | {"/users/1", "/recommendation/1", "/produce/users"} <= paths
    else:
        assert {"/users", "/events", "/coupons", "/metrics"} <= paths


def test_public_reads_open_the_data_apis_reads_and_nothing_else(tmp_path, kafka_bootstrap):
    answers = walk(tmp_path, kafka_bootstrap, PUBLIC_READS="1")

    answered = {base(a["path"]) for a in answers if a["anonymous"] == 200}
    reads = {base(a["path"]) for a in answers if is_data_read(a) and a["read key"] == 200}
    assert {"/users/1", "/coupons/user/1", "/recommendation/1"} <= reads
    assert answered == OPEN | reads
    assert {a["anonymous"] for a in answers if a["method"] == "POST"} == {401}
    assert {a["anonymous"] for a in answers if base(a["path"]) in OPERATOR} == {401}


def test_local_settings_open_everything_as_the_seed_did(tmp_path, kafka_bootstrap):
    answers = walk(tmp_path, kafka_bootstrap, DEBUG="1", SECRET_KEY=None)

    refused = [a for a in answers if a["anonymous"] in REFUSED and base(a["path"]) != "/admin/"]
    assert refused == []
