"""Settings for betreco, read from the environment (see docs/configuration.md).

Local use needs no variables at all: SQLite in the project folder, the
embedded broker on localhost, DEBUG on. Production is `DEBUG=0`, which
requires `SECRET_KEY` and turns on the secure defaults below.
"""

import hashlib
import os
import tempfile
import warnings
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

from betreco.kafka_environment import properties_from_environment

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()

DEBUG = env.bool("DEBUG", default=True)

SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Production settings (DEBUG=0) refuse to start "
            "without it: export SECRET_KEY to a long random string."
        )
    SECRET_KEY = "django-insecure-local-development-only"

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# Production security (docs/production.md): on when DEBUG is off, so that
# `manage.py check --deploy` is clean with the defaults. Behind a proxy that
# terminates TLS, set TRUST_X_FORWARDED_PROTO=1; with no TLS at all (the
# compose file), SECURE_SSL_REDIRECT=0. Health probes are never redirected.
if not DEBUG:
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_REDIRECT_EXEMPT = [r"^healthz/?$", r"^readyz/?$", r"^metrics/?$"]
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
    SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
if env.bool("TRUST_X_FORWARDED_PROTO", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Who may do what (betreco/auth.py, docs/production.md "Access"). With this on
# (default: in production) every endpoint but the probes and the docs needs a
# credential: an API key (read or write scope; API_KEYS are write keys), a DRF
# token, or a staff login. REQUIRE_WRITE_TOKEN is its former name.
REQUIRE_CREDENTIALS = env.bool(
    "REQUIRE_CREDENTIALS", default=env.bool("REQUIRE_WRITE_TOKEN", default=not DEBUG)
)
# PUBLIC_READS=1: the data API's GETs answer anonymous clients (the seed's behaviour).
PUBLIC_READS = env.bool("PUBLIC_READS", default=False)
API_KEYS = env.list("API_KEYS", default=[])
# `Authorization: Bearer <METRICS_TOKEN>` opens /metrics of the web roles in
# production; unset, they refuse every scrape (a consumer's metrics port needs none).
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")

# "api" serves the data API; "producer" serves the seed-compatible
# POST /users, /events, /coupons that publish to Kafka.
BETRECO_ROLE = env.str("BETRECO_ROLE", default="api")
if BETRECO_ROLE not in {"api", "producer"}:
    raise ImproperlyConfigured(f"BETRECO_ROLE must be 'api' or 'producer', not {BETRECO_ROLE!r}.")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "rest_framework_api_key",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI and ReDoc served from here (no CDN)
    "django_filters",
    "access",
    "ingest",
    "recommendations",
    "status",
]

MIDDLEWARE = [
    # First, so its latencies include every other middleware (docs/operations.md).
    "betreco.middleware.RequestMetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "betreco.producer_urls" if BETRECO_ROLE == "producer" else "betreco.urls"
# Paths work with and without a trailing slash: the URL patterns accept
# both, so no redirect (which would lose a POST body) is needed.
APPEND_SLASH = False

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        # Project-wide template overrides (the ReDoc page without web fonts).
        "DIRS": [BASE_DIR / "betreco" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

WSGI_APPLICATION = "betreco.wsgi.application"
ASGI_APPLICATION = "betreco.asgi.application"

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Several writer processes (the API and a consumer per topic) share the
    # file: WAL lets readers run beside a writer, IMMEDIATE takes the write
    # lock at BEGIN so no transaction fails half-way with "database is
    # locked", and the busy timeout makes writers queue instead of failing.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": env.int("SQLITE_BUSY_TIMEOUT", default=30),
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    DATABASES["default"]["TEST"] = {"NAME": env.str("TEST_SQLITE_NAME", default="")}
    if not DATABASES["default"]["TEST"]["NAME"]:
        del DATABASES["default"]["TEST"]
# Kept across requests on SQLite too: opening one runs its PRAGMAs and registers
# Django's functions, a tenth of a data API write when every request paid it.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
# Locally (DEBUG) WhiteNoise serves straight from the apps' static folders, so
# the admin and the browsable API are styled under gunicorn without a
# collectstatic; the production image collects them at build time.
WHITENOISE_USE_FINDERS = DEBUG
WHITENOISE_AUTOREFRESH = DEBUG
if DEBUG:
    warnings.filterwarnings("ignore", message="No directory at", category=UserWarning)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "ingest.pagination.StandardPagination",
    "PAGE_SIZE": env.int("PAGE_SIZE", default=50),
    "COERCE_DECIMAL_TO_STRING": False,
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "betreco.auth.ApiKeyAuthentication",
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["betreco.auth.ScopedAccess"],
    "EXCEPTION_HANDLER": "ingest.errors.exception_handler",
}

# The default cache holds DRF's throttle counts of anonymous requests. Never the
# main database: counting there made every anonymous GET a write transaction,
# queued behind the consumers' batches on SQLite (docs/production.md, "Throttling").
# Default: files in a folder of the system's temporary folder, one per database,
# that every gunicorn worker and server of the host on that database shares; Redis
# when CACHE_URL names one (`redis://host:6379/0`), for counts shared by every host.
_database = DATABASES["default"]
_database_digest = hashlib.sha256(
    f"{_database.get('HOST', '')}:{_database.get('PORT', '')}/{_database['NAME']}".encode()
).hexdigest()[:12]
CACHES = {
    "default": env.cache(
        "CACHE_URL",
        default=f"filecache://{Path(tempfile.gettempdir()) / f'betreco-cache-{_database_digest}'}",
    )
}
if CACHES["default"]["BACKEND"].endswith(("DatabaseCache", "FileBasedCache")):
    # One throttle counter per client: the default 300 entries would cull a third of
    # them as soon as more than 300 clients are counted, and throttling stop working.
    CACHES["default"].setdefault("OPTIONS", {}).setdefault("MAX_ENTRIES", 10_000)

if not DEBUG:
    # Throttling of anonymous requests, in production only (docs/configuration.md).
    REST_FRAMEWORK["DEFAULT_THROTTLE_CLASSES"] = ["rest_framework.throttling.AnonRateThrottle"]
    REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] = {
        "anon": env.str("THROTTLE_ANON_RATE", default="300/minute")
    }
    # Clients are told apart by REMOTE_ADDR; behind N proxies, set it to N (X-Forwarded-For).
    REST_FRAMEWORK["NUM_PROXIES"] = env.int("THROTTLE_NUM_PROXIES", default=0)

SPECTACULAR_SETTINGS = {
    "TITLE": "betreco",
    "DESCRIPTION": (
        "Users, events and coupons of a sports-betting platform, ingested "
        "through Kafka, and each user's recommended events."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # /docs and /redoc load their scripts and styles from this service's own
    # static files (drf-spectacular-sidecar, pinned in requirements.in), so the
    # pages work without internet access and never change under us.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # No call to the public validator.swagger.io from the docs page.
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
    "PREPROCESSING_HOOKS": ["betreco.routing.without_trailing_slash_duplicates"],
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "betreco.openapi.document_error_responses",
    ],
}

# Kafka (docs/kafka.md, docs/configuration.md). The seed's BOOTSTRAP_SERVER is accepted too.
KAFKA_BOOTSTRAP_SERVERS = env.str(
    "KAFKA_BOOTSTRAP_SERVERS",
    default=env.str("BOOTSTRAP_SERVER", default="127.0.0.1:9092"),
)
KAFKA_TOPIC_PREFIX = env.str("KAFKA_TOPIC_PREFIX", default="")
KAFKA_TOPIC_PARTITIONS = env.int("KAFKA_TOPIC_PARTITIONS", default=3)
KAFKA_TOPIC_REPLICATION_FACTOR = env.int("KAFKA_TOPIC_REPLICATION_FACTOR", default=1)
KAFKA_CONSUMER_GROUP = env.str("KAFKA_CONSUMER_GROUP", default="betreco")
KAFKA_SESSION_TIMEOUT_MS = env.int("KAFKA_SESSION_TIMEOUT_MS", default=6000)
# A consumer that does not poll for this long leaves its group; one waiting out
# an outage keeps polling (partitions paused), so only a stuck one leaves.
KAFKA_MAX_POLL_INTERVAL_MS = env.int("KAFKA_MAX_POLL_INTERVAL_MS", default=300_000)
# cooperative-sticky (default), or range when processes over different topics share a
# group on a Kafka cluster (docs/consumers.md#assignment: why both, and why this default).
KAFKA_ASSIGNMENT_STRATEGY = env.str("KAFKA_ASSIGNMENT_STRATEGY", default="cooperative-sticky")
if KAFKA_ASSIGNMENT_STRATEGY not in ("cooperative-sticky", "range"):
    raise ImproperlyConfigured(
        f"KAFKA_ASSIGNMENT_STRATEGY={KAFKA_ASSIGNMENT_STRATEGY!r}: "
        "expected cooperative-sticky or range"
    )
KAFKA_PRODUCE_TIMEOUT = env.float("KAFKA_PRODUCE_TIMEOUT", default=5.0)
# Production Kafka: TLS and SASL for every client, and any other librdkafka
# property from the environment (read by betreco.kafka_environment, merged
# into every client's configuration by ingest.kafka.client_config).
KAFKA_SECURITY_PROTOCOL = env.str("KAFKA_SECURITY_PROTOCOL", default="")
KAFKA_SSL_CA_LOCATION = env.str("KAFKA_SSL_CA_LOCATION", default="")
KAFKA_SSL_CERTIFICATE_LOCATION = env.str("KAFKA_SSL_CERTIFICATE_LOCATION", default="")
KAFKA_SSL_KEY_LOCATION = env.str("KAFKA_SSL_KEY_LOCATION", default="")
KAFKA_SSL_KEY_PASSWORD = env.str("KAFKA_SSL_KEY_PASSWORD", default="")
KAFKA_SASL_MECHANISM = env.str("KAFKA_SASL_MECHANISM", default="")
KAFKA_SASL_USERNAME = env.str("KAFKA_SASL_USERNAME", default="")
KAFKA_SASL_PASSWORD = env.str("KAFKA_SASL_PASSWORD", default="")
# KAFKA_CLIENT_<PROPERTY> (dots as underscores) and KAFKA_CLIENT_CONFIG (JSON).
KAFKA_CLIENT_PROPERTIES = properties_from_environment(os.environ)
CONSUMER_BATCH_SIZE = env.int("CONSUMER_BATCH_SIZE", default=5000)
# `consume_topic --metrics-port` (or this) serves the consumer's /metrics; 0: none.
# The host is 127.0.0.1 unless set (a container needs 0.0.0.0 to be scraped).
CONSUMER_METRICS_PORT = env.int("CONSUMER_METRICS_PORT", default=0)
CONSUMER_METRICS_HOST = env.str("CONSUMER_METRICS_HOST", default="127.0.0.1")
CONSUMER_DRAIN_INTERVAL = env.float("CONSUMER_DRAIN_INTERVAL", default=1.0)
# A consumer's progress line comes every 5 s while records flow, and only
# this often (seconds) while it is idle.
CONSUMER_IDLE_LOG_INTERVAL = env.float("CONSUMER_IDLE_LOG_INTERVAL", default=60.0)
PARKED_TIMEOUT_SECONDS = env.int("PARKED_TIMEOUT_SECONDS", default=3600)
# A fetch that skips offsets makes the consumer seek back; a gap still there after
# this many seconds is accepted (docs: gap-free consumption).
CONSUMER_GAP_WAIT_SECONDS = env.float("CONSUMER_GAP_WAIT_SECONDS", default=5.0)
TOPICS = env.list("TOPICS", default=[])

RECOMMENDATIONS_PER_USER = env.int("RECOMMENDATIONS_PER_USER", default=3)
# A full rebuild renews its lease after every chunk of users; one whose
# process died is taken over by the next drain once the lease runs out.
RECOMMENDATION_REBUILD_LEASE_SECONDS = env.float(
    "RECOMMENDATION_REBUILD_LEASE_SECONDS", default=120.0
)
# Users per transaction of a full rebuild: each holds the recommendations write
# lock, and a consumer told to stop stops its rebuild only between two of them.
RECOMMENDATION_REBUILD_CHUNK_SIZE = env.int("RECOMMENDATION_REBUILD_CHUNK_SIZE", default=2000)
RECOMMENDATION_ENGINE = env.str(
    "RECOMMENDATION_ENGINE",
    default="recommendations.engines.frequency.FrequencyEngine",
)

LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
# LOG_FORMAT=json: one JSON object per line (python-json-logger), for log shippers.
LOG_FORMAT = env.str("LOG_FORMAT", default="plain")
if LOG_FORMAT not in {"plain", "json"}:
    raise ImproperlyConfigured(f"LOG_FORMAT must be 'plain' or 'json', not {LOG_FORMAT!r}.")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s %(process)d %(message)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django": {"handlers": ["console"], "level": "INFO", "propagate": False},
        "django.db.backends": {"level": "INFO"},
    },
}
