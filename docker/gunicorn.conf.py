"""Gunicorn settings for the API and producer roles (`gunicorn -c docker/gunicorn.conf.py ...`).

Everything a deployment tunes comes from the environment:
PORT (8098; the producer role uses 8099), HOST (0.0.0.0), WEB_CONCURRENCY
(worker processes, 2 per CPU core), GUNICORN_THREADS (threads per worker, 8),
GUNICORN_TIMEOUT (30 s per request) and GUNICORN_GRACEFUL_TIMEOUT (25 s to
finish in-flight requests after SIGTERM, under the compose stop_grace_period).
Access and error logs go to stdout/stderr, where the container runtime
collects them; with LOG_FORMAT=json they are JSON lines like Django's.

Metrics: every worker writes its values to files in PROMETHEUS_MULTIPROC_DIR
(a fresh temporary folder per server start unless the variable names one,
emptied at start either way), so `/metrics` sums all workers (betreco/metrics.py).
"""

import os
import shutil
import tempfile
from pathlib import Path

host = os.environ.get("HOST", "0.0.0.0")
port = int(os.environ.get("PORT", "8098"))
bind = [f"{host}:{port}"]

# Requests mostly wait (for the broker's acknowledgement, for the database):
# more workers and threads than cores keep the cores busy.
workers = int(os.environ.get("WEB_CONCURRENCY", str(2 * (os.cpu_count() or 1))))
threads = int(os.environ.get("GUNICORN_THREADS", "8"))
worker_class = "gthread" if threads > 1 else "sync"
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "25"))
keepalive = 5

# Off by default: a recycled worker reloads Django and reconnects its Kafka
# producer, which measured 1.2 s p99 latency at 1,000 requests a worker.
# Set it to bound a slow leak; the jitter keeps workers from restarting at once.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "0"))
max_requests_jitter = max_requests // 10

accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()

# Heartbeat files on tmpfs: a container's overlay /tmp can stall workers.
if os.path.isdir("/dev/shm"):
    worker_tmp_dir = "/dev/shm"

# The runtime control socket is not used; several servers on one host would
# otherwise share its default path under $HOME.
control_socket_disable = True

if os.environ.get("LOG_FORMAT", "plain") == "json":
    logconfig_dict = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "json": {
                "()": "pythonjsonlogger.json.JsonFormatter",
                "format": "%(asctime)s %(levelname)s %(name)s %(process)d %(message)s",
                "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
            }
        },
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stdout",
            },
            "error_console": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stderr",
            },
        },
        # Gunicorn replaces its defaults key by key: these names are its own.
        "root": {"level": loglevel.upper(), "handlers": ["console"]},
        "loggers": {
            "gunicorn.error": {
                "handlers": ["error_console"],
                "level": loglevel.upper(),
                "propagate": False,
            },
            "gunicorn.access": {"handlers": ["console"], "level": "INFO", "propagate": False},
        },
    }


def post_worker_init(worker):
    """Import the URLconf (every view with it) and connect the Kafka producer now.

    Django imports the URLconf on a worker's first request: without this,
    the first requests into each worker waited about a quarter of a second.
    """
    from django.urls import get_resolver

    from ingest.kafka.producer import warm_up

    get_resolver().url_patterns  # noqa: B018  (the import is the point)
    warm_up()
    from django.conf import settings

    if settings.BETRECO_ROLE == "api":
        from recommendations.drainer import drainer

        drainer.wake()  # what a worker that died before this one still owed


_metrics_dir_made_here: str | None = None


def on_starting(server):
    """Give this server's workers an empty metrics folder before any of them starts.

    Set in the master's environment, which the workers inherit; a folder
    named by PROMETHEUS_MULTIPROC_DIR is emptied, since files of a former
    run would be summed as if its workers were still counting.
    """
    global _metrics_dir_made_here
    configured = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if configured:
        folder = Path(configured)
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.glob("*.db"):
            stale.unlink()
    else:
        _metrics_dir_made_here = tempfile.mkdtemp(prefix="betreco-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = _metrics_dir_made_here
    server.log.info("metrics in %s", os.environ["PROMETHEUS_MULTIPROC_DIR"])


def child_exit(server, worker):
    """A worker has gone: its live gauges stop counting (its counters keep their totals)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    if _metrics_dir_made_here:
        shutil.rmtree(_metrics_dir_made_here, ignore_errors=True)
