"""Settings for realtime_site, read from the environment (12-factor).

Development needs nothing: DEBUG is on, SQLite and the in-memory channel layer
are used. With DEBUG off the process refuses to start unless SECRET_KEY and
ALLOWED_HOSTS are set for real.
"""

import os
import re
import socket
from pathlib import Path

import dj_database_url
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from editor.live.limits import ApiRates, Rate, Rates
from editor.network import parse_networks
from realtime_site.redis_hosts import parse_redis_url

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    if value.lower() in {"1", "true", "yes", "on"}:
        return True
    if value.lower() in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, not {value!r}")


def env_int(name: str, default: int) -> int:
    return _env_parsed(name, default, int, "an integer")


def env_float(name: str, default: float) -> float:
    return _env_parsed(name, default, float, "a number")


def _env_parsed(name: str, default, parse, kind: str):
    value = os.environ.get(name, "")
    try:
        return parse(value) if value else default
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be {kind}, not {value!r}") from None


def env_list(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name)
    if value is None:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


DEBUG = env_bool("DEBUG", True)

_DEV_SECRET_KEY = "django-insecure-development-only-key-never-use-in-production"
SECRET_KEY = os.environ.get("SECRET_KEY") or _DEV_SECRET_KEY
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

if not DEBUG:
    if SECRET_KEY == _DEV_SECRET_KEY or len(SECRET_KEY) < 32:
        raise ImproperlyConfigured(
            "DEBUG is off: set SECRET_KEY to a random value of at least 32 characters "
            "(python -c 'import secrets; print(secrets.token_urlsafe(50))')"
        )
    if not ALLOWED_HOSTS:
        raise ImproperlyConfigured("DEBUG is off: set ALLOWED_HOSTS (comma-separated host names)")
    SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", True)
    CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE

# The site's edge (docs/security.md). With DEBUG off, plain HTTP is redirected to
# HTTPS and browsers are told to keep to HTTPS for a year (HSTS, which is only ever
# sent over HTTPS); a deployment served over plain HTTP, like the docker-compose
# demo on http://localhost:8000/, sets SECURE_SSL_REDIRECT=false.
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
# Health checks (compose's, a load balancer's) call a worker directly over plain HTTP.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 365 * 86400)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)
# The header a TLS-terminating proxy sets to "https" (deploy/nginx.conf: X-Forwarded-Proto).
# Django believes it from anyone: set it only where every request comes through that
# proxy, which overwrites what clients send.
_PROXY_SSL_HEADER = os.environ.get("SECURE_PROXY_SSL_HEADER", "").strip()
if _PROXY_SSL_HEADER and not re.fullmatch(r"[A-Za-z0-9-]+", _PROXY_SSL_HEADER):
    raise ImproperlyConfigured(
        f"SECURE_PROXY_SSL_HEADER must be a header name like X-Forwarded-Proto, not {_PROXY_SSL_HEADER!r}"
    )
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_" + _PROXY_SSL_HEADER.upper().replace("-", "_"), "https") if _PROXY_SSL_HEADER else None
)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = os.environ.get("SECURE_REFERRER_POLICY", "same-origin")
# Scripts, styles, images and sockets from this origin only, and no inline script or
# style: an injected <script> or onclick= does not run. Development too, so that a
# change that needs more shows up at once.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

INSTALLED_APPS = [
    # First: its runserver is Daphne's ASGI runserver with the editor's server.
    "editor",
    "daphne",  # before staticfiles, whose runserver it replaces
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "csp",
    "ninja",  # its Swagger UI files, served from here rather than a CDN the CSP refuses
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "realtime_site.static_storage.StaticFilesMiddleware",  # WhiteNoise's
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "realtime_site.urls"
ASGI_APPLICATION = "realtime_site.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
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

DATABASES = {
    "default": dj_database_url.config(
        default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
        conn_max_age=env_int("CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # A database that drops packets must not hold a connection attempt for psycopg's
    # default two minutes: outages are waited out by retrying (live/committer.py).
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("connect_timeout", 5)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # IMMEDIATE takes the write lock when a transaction starts, so two workers
    # accepting operations on one file serialise instead of failing mid-way.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT") or BASE_DIR / "staticfiles")
if not DEBUG:
    # Hashed names cached for good, from STATIC_ROOT only: a worker needs
    # `python manage.py collectstatic` first (the Dockerfile runs it) and refuses
    # to start without it (realtime_site/static_storage.py).
    STORAGES = {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {"BACKEND": "realtime_site.static_storage.HashedStaticFilesStorage"},
    }
# Only the hashed copies are collected: a name that escaped the rewriting (an
# import collectstatic did not recognise) is a 404 at once, not a file that
# goes stale for a minute in caches.
WHITENOISE_KEEP_ONLY_HASHED_FILES = True
# With DEBUG on, the apps' files as they are now, under their own names, no collectstatic.
WHITENOISE_USE_FINDERS = DEBUG
WHITENOISE_AUTOREFRESH = DEBUG

# The channel layer: in-memory for a single process, Redis as soon as
# REDIS_URL is set so that groups span every worker process. REDIS_URL is one
# Redis, several comma-separated (groups sharded over them: every worker lists
# them in the same order) or a redis+sentinel:// URL (realtime_site/redis_hosts.py).
REDIS_URL = os.environ.get("REDIS_URL", "").strip()
if REDIS_URL:
    try:
        REDIS_HOSTS = parse_redis_url(REDIS_URL)
    except ValueError as error:
        raise ImproperlyConfigured(f"REDIS_URL: {error}") from None
    CHANNEL_LAYERS = {
        "default": {
            # channels-redis' pub/sub layer, quicker to hear Redis back (editor/live/redis_layer.py).
            "BACKEND": "editor.live.redis_layer.RedisPubSubLayer",
            "CONFIG": {
                "hosts": REDIS_HOSTS,
                # Redis pub/sub ignores database numbers; the prefix keeps
                # deployments (and test runs) sharing one Redis apart.
                "prefix": os.environ.get("REDIS_PREFIX", "realtime"),
            },
        }
    }
else:
    # Its groups forget members after a day by default; a process's hub joins
    # each document's group once, for as long as the document is open.
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels.layers.InMemoryChannelLayer",
            "CONFIG": {"group_expiry": 10 * 365 * 86400},
        }
    }

# Identifies this process in session rows and log lines.
WORKER_ID = os.environ.get("WORKER_ID") or f"{socket.gethostname()}:{os.getpid()}"

# Proxies (addresses or networks) whose X-Forwarded-For is believed for the
# client address recorded in sessions, e.g. "10.0.0.0/8" for a load balancer.
TRUSTED_PROXIES = env_list("TRUSTED_PROXIES", [])
try:
    TRUSTED_PROXY_NETWORKS = parse_networks(TRUSTED_PROXIES)
except ValueError as error:
    raise ImproperlyConfigured(f"TRUSTED_PROXIES: {error}") from None

# Liveness: each worker vouches for its sessions every EDITOR_HEARTBEAT_SECONDS;
# a session nobody vouched for within EDITOR_SESSION_TIMEOUT_SECONDS is closed
# (its worker died), so within timeout + heartbeat seconds at most.
# On SIGTERM a worker closes its sockets (1012) and waits this long for them to leave.
EDITOR_SHUTDOWN_SECONDS = env_float("EDITOR_SHUTDOWN_SECONDS", 10)
# While the database is away, edits wait this long for it before their authors get an error.
EDITOR_DATABASE_WAIT_SECONDS = env_float("EDITOR_DATABASE_WAIT_SECONDS", 30)
# /readyz answers 503 when the database or the channel layer takes longer than this.
EDITOR_READY_TIMEOUT_SECONDS = env_float("EDITOR_READY_TIMEOUT_SECONDS", 2)
EDITOR_HEARTBEAT_SECONDS = env_float("EDITOR_HEARTBEAT_SECONDS", 10)
EDITOR_SESSION_TIMEOUT_SECONDS = env_float("EDITOR_SESSION_TIMEOUT_SECONDS", 30)
if not 0 < EDITOR_HEARTBEAT_SECONDS < EDITOR_SESSION_TIMEOUT_SECONDS:
    raise ImproperlyConfigured(
        "EDITOR_HEARTBEAT_SECONDS must be positive and below EDITOR_SESSION_TIMEOUT_SECONDS"
    )

# Limits of the editing engine.


def env_limit(name: str, default: int, *, most: int = 2**31 - 1) -> int:
    value = env_int(name, default)
    if not 1 <= value <= most:
        raise ImproperlyConfigured(f"{name} must be from 1 to {most}, not {value}")
    return value


EDITOR_MAX_DOCUMENT_CHARS = env_limit("EDITOR_MAX_DOCUMENT_CHARS", 1_000_000)
# A bigger message is refused by the server itself (close 1009).
EDITOR_MAX_FRAME_BYTES = env_limit("EDITOR_MAX_FRAME_BYTES", 256 * 1024, most=64 * 1024 * 1024)

# Limits of one connection (docs/security.md): frames a second and the
# burst saved up, per kind; refusals tolerated before closing with 1008.
EDITOR_RATES = Rates(
    frames=Rate(env_limit("EDITOR_FRAMES_PER_SECOND", 200), env_limit("EDITOR_FRAMES_BURST", 400)),
    edits=Rate(env_limit("EDITOR_EDITS_PER_SECOND", 50), env_limit("EDITOR_EDITS_BURST", 100)),
    presence=Rate(env_limit("EDITOR_PRESENCE_PER_SECOND", 20), env_limit("EDITOR_PRESENCE_BURST", 40)),
    fetches=Rate(env_limit("EDITOR_FETCHES_PER_SECOND", 5), env_limit("EDITOR_FETCHES_BURST", 20)),
    strikes=Rate(env_limit("EDITOR_STRIKES_FORGIVEN_PER_SECOND", 1), env_limit("EDITOR_STRIKES", 20)),
)
# Open connections of one worker per client address and per signed-in user.
EDITOR_MAX_CONNECTIONS_PER_ADDRESS = env_limit("EDITOR_MAX_CONNECTIONS_PER_ADDRESS", 100)
EDITOR_MAX_CONNECTIONS_PER_USER = env_limit("EDITOR_MAX_CONNECTIONS_PER_USER", 30)
# Frames received and not yet handled, per connection: past this the worker
# stops reading the socket until half of them are handled (backpressure).
EDITOR_INBOUND_QUEUE_FRAMES = env_limit("EDITOR_INBOUND_QUEUE_FRAMES", 100)
# The fallback transport (editor/fallback.py, where WebSockets are blocked): a long poll
# answers within EDITOR_FALLBACK_POLL_SECONDS; a session nobody asks about for
# EDITOR_FALLBACK_IDLE_SECONDS is closed (its client went away); it keeps at most
# EDITOR_FALLBACK_KEPT_EVENTS events its client has not confirmed (one further behind
# opens a new session); a POST of frames waits up to EDITOR_FALLBACK_WAIT_SECONDS for
# room in the consumer's queue (backpressure); a POST body holds at most
# EDITOR_FALLBACK_MAX_BODY_BYTES. Browsers on the fallback try the WebSocket again every
# EDITOR_FALLBACK_PROBE_SECONDS.
EDITOR_FALLBACK_POLL_SECONDS = env_float("EDITOR_FALLBACK_POLL_SECONDS", 25)
EDITOR_FALLBACK_IDLE_SECONDS = env_float("EDITOR_FALLBACK_IDLE_SECONDS", 45)
if not 0 < EDITOR_FALLBACK_POLL_SECONDS < EDITOR_FALLBACK_IDLE_SECONDS:
    raise ImproperlyConfigured(
        "EDITOR_FALLBACK_POLL_SECONDS must be positive and below EDITOR_FALLBACK_IDLE_SECONDS"
    )
EDITOR_FALLBACK_KEPT_EVENTS = env_limit("EDITOR_FALLBACK_KEPT_EVENTS", 1000)
EDITOR_FALLBACK_WAIT_SECONDS = env_float("EDITOR_FALLBACK_WAIT_SECONDS", 2)
EDITOR_FALLBACK_MAX_BODY_BYTES = env_limit(
    "EDITOR_FALLBACK_MAX_BODY_BYTES", 2 * EDITOR_MAX_FRAME_BYTES + 4096, most=256 * 1024 * 1024
)
EDITOR_FALLBACK_PROBE_SECONDS = env_float("EDITOR_FALLBACK_PROBE_SECONDS", 60)
# The HTTP API (editor/api/), per worker: requests a second per token (or per client
# address without one) and edits a second per token, with the bursts saved up; the
# largest request body; the most items a page of a list holds.
EDITOR_API_RATES = ApiRates(
    requests=Rate(
        env_limit("EDITOR_API_REQUESTS_PER_SECOND", 20), env_limit("EDITOR_API_REQUESTS_BURST", 60)
    ),
    edits=Rate(env_limit("EDITOR_API_EDITS_PER_SECOND", 10), env_limit("EDITOR_API_EDITS_BURST", 30)),
)
EDITOR_API_MAX_BODY_BYTES = env_limit(
    "EDITOR_API_MAX_BODY_BYTES", EDITOR_MAX_FRAME_BYTES, most=64 * 1024 * 1024
)
EDITOR_API_PAGE_SIZE = 100
# Idempotency-Key answers are kept this long, then a repeat of the key is a new request.
EDITOR_API_IDEMPOTENCY_HOURS = env_limit("EDITOR_API_IDEMPOTENCY_HOURS", 24)
# Webhooks (editor/webhooks/): document changes are gathered for this long before one
# event goes; a receiver that does not answer 2xx is tried again after each of these
# pauses (Standard Webhooks' schedule), then given up; each try waits this long.
EDITOR_WEBHOOK_DEBOUNCE_SECONDS = env_float("EDITOR_WEBHOOK_DEBOUNCE_SECONDS", 2)
EDITOR_WEBHOOK_RETRY_SECONDS = [
    float(pause)
    for pause in env_list("EDITOR_WEBHOOK_RETRY_SECONDS", ["5", "300", "1800", "7200", "18000", "36000"])
]
EDITOR_WEBHOOK_TIMEOUT_SECONDS = env_float("EDITOR_WEBHOOK_TIMEOUT_SECONDS", 5)
# How often each worker looks for deliveries due (its own are sent at once) and for new
# subscriptions made through other workers.
EDITOR_WEBHOOK_POLL_SECONDS = env_float("EDITOR_WEBHOOK_POLL_SECONDS", 5)
# Receivers on loopback or private addresses: refused unless allowed (a server's own
# network is not for its users to reach); development allows them.
EDITOR_WEBHOOK_ALLOW_PRIVATE_URLS = env_bool("EDITOR_WEBHOOK_ALLOW_PRIVATE_URLS", DEBUG)
# Subscriptions at most, per user and per document.
EDITOR_WEBHOOKS_PER_USER = env_limit("EDITOR_WEBHOOKS_PER_USER", 20)
EDITOR_WEBHOOKS_PER_DOCUMENT = env_limit("EDITOR_WEBHOOKS_PER_DOCUMENT", 10)
# A client further behind than this many revisions is sent the text instead.
EDITOR_MAX_CATCH_UP_OPS = env_limit("EDITOR_MAX_CATCH_UP_OPS", 500)
# The resume window: an operation among the last EDITOR_OPLOG_RETAIN revisions or younger
# than EDITOR_OPLOG_RETAIN_SECONDS is never forgotten, so a reconnecting tab is always told
# what became of its edits.
EDITOR_OPLOG_RETAIN = env_int("EDITOR_OPLOG_RETAIN", 1000)
EDITOR_OPLOG_RETAIN_SECONDS = env_int("EDITOR_OPLOG_RETAIN_SECONDS", 3600)
# History (store/history.py): every revision is kept, unless this is set: then operations
# older than this many days (and outside the resume window) are forgotten, and the history
# starts after them. 0 keeps only the resume window.
EDITOR_HISTORY_KEEP_DAYS = env_float("EDITOR_HISTORY_KEEP_DAYS", None)  # None: for ever
if EDITOR_HISTORY_KEEP_DAYS is not None and not 0 <= EDITOR_HISTORY_KEEP_DAYS < 10**6:
    raise ImproperlyConfigured("EDITOR_HISTORY_KEEP_DAYS must be a number of days, 0 or more, or empty")
# The text and its authorship are kept every this many revisions (milestones): reaching any
# revision replays fewer operations than this. Also how often the stored text catches up.
EDITOR_HISTORY_MILESTONE_EVERY = env_limit("EDITOR_HISTORY_MILESTONE_EVERY", 100)
# Named versions one document may have (each is a row and a mark on every timeslider).
EDITOR_MAX_VERSIONS = env_limit("EDITOR_MAX_VERSIONS", 1000)

# What everyone may do with a document a signed-in person creates by opening it
# (they own it and can change it): public, view-only or private. Documents created
# by someone not signed in, and the default one at /, are public (docs/security.md).
EDITOR_NEW_DOCUMENT_VISIBILITY = os.environ.get("EDITOR_NEW_DOCUMENT_VISIBILITY", "private")
if EDITOR_NEW_DOCUMENT_VISIBILITY not in ("public", "view-only", "private"):
    raise ImproperlyConfigured(
        "EDITOR_NEW_DOCUMENT_VISIBILITY must be public, view-only or private, "
        f"not {EDITOR_NEW_DOCUMENT_VISIBILITY!r}"
    )

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    # A client's mistake is one WARNING line, not a traceback (editor/logs.py).
    "filters": {
        "client_mistake": {"()": "editor.logs.ClientMistake"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain"},
        "client_mistakes": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["client_mistake"],
        },
    },
    "loggers": {
        "editor": {
            "handlers": ["console"],
            "level": os.environ.get("EDITOR_LOG_LEVEL", "INFO"),
            "propagate": False,
        },
        # DisallowedHost, SuspiciousOperation and CSRF refusals: every one a 400 or 403.
        # Not propagated, so that DEBUG's console handler does not print it a second time.
        "django.security": {"handlers": ["client_mistakes"], "level": "INFO", "propagate": False},
        # 4xx responses raised as exceptions lose their traceback; 5xx keep theirs.
        "django.request": {"filters": ["client_mistake"]},
    },
}

# Accounts (editor/accounts.py). Open sign-up lets anyone make an account: off unless wanted.
EDITOR_ALLOW_SIGNUP = env_bool("EDITOR_ALLOW_SIGNUP", False)
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/"
