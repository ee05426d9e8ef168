"""docker/compose.yaml and docker/Dockerfile name only things that exist in the project.

No Docker engine runs here, so these tests check what `docker compose up`
would trip over: a file Compose rejects, a command, module, port or
variable the project does not have.
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import get_commands
from django.urls import Resolver404, resolve

from betreco.embedded_broker import free_port
from ingest.kafka.topics import DEAD_LETTER_SUFFIX, RECORD_KINDS
from tests.production import compose

BIN = Path(sys.executable).parent
READ_BY_PROJECT = (compose.REPO / "betreco" / "settings.py").read_text() + (
    compose.REPO / "docker" / "gunicorn.conf.py"
).read_text()
SERVICES = compose.our_services(compose.load({"SECRET_KEY": "x"}))


def test_compose_file_is_valid_against_the_compose_specification():
    # The schema ships inside check-jsonschema: this needs no network.
    result = subprocess.run(
        [BIN / "check-jsonschema", "--builtin-schema", "vendor.compose-spec", compose.COMPOSE_FILE],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_refuses_to_start_without_a_secret_key():
    with pytest.raises(compose.MissingVariable, match="SECRET_KEY"):
        compose.load({})


def test_every_manage_py_command_the_services_run_exists():
    commands = [
        s["command"] for s in SERVICES.values() if s["command"][:2] == ["python", "manage.py"]
    ]
    assert {command[2] for command in commands} >= {"migrate", "consume_topic"}
    missing = {command[2] for command in commands} - set(get_commands())
    assert not missing, f"manage.py has no command {missing}"


def test_the_image_and_the_web_services_run_gunicorn_with_the_config_file():
    image_command = re.search(r"^CMD (\[.*\])$", compose.DOCKERFILE.read_text(), re.M)[1]
    web = {name: s["command"] for name, s in SERVICES.items() if s["command"][0] == "gunicorn"}
    assert set(web) == {"api", "producer"}
    for command in web.values():
        assert str(command).replace("'", '"') == image_command
        assert (compose.REPO / command[command.index("--config") + 1]).is_file()


@pytest.mark.parametrize("service", ["api", "producer"])
def test_gunicorn_loads_the_wsgi_app_with_the_service_environment(service, tmp_path):
    command = SERVICES[service]["command"]
    env = {
        **os.environ,
        **compose.environment(SERVICES[service]),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
    }
    result = subprocess.run(
        [BIN / command[0], "--check-config", *command[1:]],
        cwd=compose.REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_variable_the_services_set_is_read_by_the_project():
    names = {name for s in SERVICES.values() for name in compose.environment(s)}
    unread = sorted(name for name in names if f'"{name}"' not in READ_BY_PROJECT)
    assert not unread, f"compose sets variables nothing reads: {unread}"


def test_every_variable_the_image_sets_is_read_by_the_project():
    dockerfile = compose.DOCKERFILE.read_text()
    block = re.findall(r"^ENV ((?:.*\\\n)*.*)$", dockerfile, re.M)[-1]
    names = re.findall(r"([A-Z_]+)=", block)
    ours = [n for n in names if not n.startswith(("PYTHON", "PIP_", "DJANGO_SETTINGS_MODULE"))]
    assert {"DEBUG", "PORT", "DATABASE_URL"} <= set(ours)
    assert all(f'"{name}"' in READ_BY_PROJECT for name in ours)


def test_each_web_role_publishes_and_health_checks_its_own_port():
    exposed = re.search(r"^EXPOSE (.*)$", compose.DOCKERFILE.read_text(), re.M)[1].split()
    for service, port in [("api", "8098"), ("producer", "8099")]:
        assert compose.environment(SERVICES[service])["PORT"] == port
        assert SERVICES[service]["ports"] == [f"{port}:{port}"]
        assert port in exposed
        assert "/healthz" in " ".join(SERVICES[service]["healthcheck"]["test"])
    assert compose.environment(SERVICES["producer"])["BETRECO_ROLE"] == "producer"


def test_each_consumer_serves_metrics_on_a_port_it_exposes_and_publishes():
    consumers = {n: s for n, s in SERVICES.items() if n.startswith("consumer-")}
    host_ports = []
    for name, service in consumers.items():
        env = compose.environment(service)
        port = env["CONSUMER_METRICS_PORT"]
        assert env["CONSUMER_METRICS_HOST"] == "0.0.0.0", name  # reachable from outside
        assert port in service["expose"], name
        [published] = service["ports"]
        assert published.rsplit(":", 1)[-1] == port, name
        host_ports += published.split(":")[:-1]
    assert len(host_ports) == len(set(host_ports)), "two consumers publish one host port"
    # Scaled out, a fixed host port would clash: the coupons consumer takes an ephemeral one.
    assert consumers["consumer-coupons"]["ports"] == [
        compose.environment(consumers["consumer-coupons"])["CONSUMER_METRICS_PORT"]
    ]


LONG_RUNNING = {
    name: service
    for name, service in compose.load({"SECRET_KEY": "x"})["services"].items()
    if service.get("restart") == "unless-stopped"
}
ROLE_URLCONF = {"api": "betreco.urls", "producer": "betreco.producer_urls"}


def test_every_long_running_service_has_a_healthcheck():
    assert set(SERVICES) - {"migrate"} <= set(LONG_RUNNING)
    for name, service in LONG_RUNNING.items():
        test = service.get("healthcheck", {}).get("test")
        assert test, f"{name} has no healthcheck"
        assert test[0] in ("CMD", "CMD-SHELL"), name


@pytest.mark.parametrize("name", [n for n in SERVICES if n != "migrate"])
def test_each_of_our_healthchecks_runs_something_the_project_has(name):
    service = SERVICES[name]
    test = service["healthcheck"]["test"]
    assert test[:2] == ["CMD", "python"], "the image has python, not necessarily curl"
    if test[2] == "manage.py":
        assert test[3] in get_commands(), f"manage.py has no command {test[3]}"
        return
    assert test[2] == "-c"
    compile(test[3], f"{name} healthcheck", "exec")
    path = re.search(r"'(/[\w/]*)'", test[3])[1]
    urlconf = ROLE_URLCONF[compose.environment(service).get("BETRECO_ROLE", "api")]
    try:
        resolve(path, urlconf=urlconf)
    except Resolver404:
        pytest.fail(f"{name} checks {path}, which {urlconf} does not route")


def test_the_consumer_healthcheck_fails_naming_an_unreachable_broker(tmp_path):
    # Its command with the service's production environment: the database answers
    # (a fresh SQLite file), the broker does not (a closed port).
    service = SERVICES["consumer-coupons"]
    env = {
        **os.environ,
        **compose.environment(service),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}",
    }
    env.pop("DJANGO_SETTINGS_MODULE", None)  # as in the image: manage.py chooses it
    result = subprocess.run(
        [sys.executable, *service["healthcheck"]["test"][2:]],
        cwd=compose.REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert json.loads(result.stdout)["checks"]["database"] == "ok"
    assert "not ready: broker unavailable" in result.stderr


def test_each_consumer_reads_its_topic_from_the_seeds_topics_variable():
    consumers = {n: s for n, s in SERVICES.items() if n.startswith("consumer-")}
    assert {compose.environment(s)["TOPICS"] for s in consumers.values()} == set(RECORD_KINDS)
    for service in consumers.values():
        assert service["command"] == ["python", "manage.py", "consume_topic"]
        # Long enough for consume_topic to finish its batch and commit on SIGTERM.
        assert service["stop_signal"] == "SIGTERM"
        assert int(service["stop_grace_period"].rstrip("s")) >= 30


def test_services_start_in_order_and_pass_signals_to_python():
    services = compose.load({"SECRET_KEY": "x"})["services"]
    assert services["kafka-init"]["depends_on"]["kafka"]["condition"] == "service_healthy"
    assert "kafka-broker-api-versions.sh" in str(services["kafka"]["healthcheck"]["test"])
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name, service in SERVICES.items():
        assert service["init"] is True
        assert "betreco-data:/data" in service["volumes"]
        if name != "migrate":
            assert service["depends_on"]["migrate"] == {
                "condition": "service_completed_successfully"
            }
            assert service["restart"] == "unless-stopped"


def test_topic_init_creates_every_record_topic_and_its_dead_letter_topic():
    script = compose.load({"SECRET_KEY": "x"})["services"]["kafka-init"]["command"][0]
    assert f"for kind in {' '.join(RECORD_KINDS)};" in script
    assert f'"${{KAFKA_TOPIC_PREFIX}}${{kind}}{DEAD_LETTER_SUFFIX}"' in script
    assert '--partitions "${KAFKA_TOPIC_PARTITIONS}"' in script
    assert '--replication-factor "${KAFKA_TOPIC_REPLICATION_FACTOR}"' in script


def test_topic_init_and_the_services_read_the_same_topic_settings():
    services = compose.load({"SECRET_KEY": "x"})["services"]
    init = compose.environment(services["kafka-init"])
    for name in ("KAFKA_TOPIC_PREFIX", "KAFKA_TOPIC_PARTITIONS", "KAFKA_TOPIC_REPLICATION_FACTOR"):
        assert init[name] == compose.environment(services["api"])[name], name


def test_every_database_url_the_file_documents_is_one_django_can_use():
    import environ

    postgres_url = re.search(r"DATABASE_URL=(postgres://\S+)", compose.COMPOSE_FILE.read_text())[1]
    default_url = compose.environment(SERVICES["api"])["DATABASE_URL"]
    assert environ.Env.db_url_config(postgres_url)["ENGINE"] == "django.db.backends.postgresql"
    assert environ.Env.db_url_config(default_url)["NAME"] == "/data/betreco.sqlite3"


def test_the_final_image_is_slim_pinned_and_runs_as_a_non_root_user():
    dockerfile = compose.DOCKERFILE.read_text()
    assert re.search(r"^ARG PYTHON_IMAGE=python:3\.11\.\d+-slim-bookworm$", dockerfile, re.M)
    final_stage = dockerfile.split("\nFROM ")[-1]
    assert "build-essential" in dockerfile
    assert "build-essential" not in final_stage
    assert "apt-get install" not in final_stage
    assert re.search(r"^USER betreco$", final_stage, re.M)
    for source in re.findall(r"^COPY (?!--from)(\S+) ", final_stage, re.M):
        assert (compose.REPO / source).exists()
    assert "collectstatic" in get_commands()


def test_the_images_collectstatic_step_builds_the_compressed_manifest(tmp_path):
    # The Dockerfile's build step, with production settings, into a temporary folder.
    command = re.search(
        r"^RUN (SECRET_KEY=\S+) (python manage.py collectstatic .*)$",
        compose.DOCKERFILE.read_text(),
        re.M,
    )
    assert command, "the Dockerfile collects static files at build time"
    code = (
        "import django; from django.conf import settings; django.setup(); "
        f"settings.STATIC_ROOT = {str(tmp_path)!r}; "
        "from django.core.management import call_command; "
        "call_command('collectstatic', interactive=False, verbosity=0)"
    )
    key, value = command[1].split("=", 1)
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "betreco.settings", "DEBUG": "0", key: value}
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=compose.REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    manifest = json.loads((tmp_path / "staticfiles.json").read_text())
    assert "admin/css/base.css" in manifest["paths"]
    assert list(tmp_path.glob("admin/css/base.*.css.gz"))
