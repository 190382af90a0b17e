"""Settings for realtime_site, read from the environment (12-factor).

Development needs nothing: DEBUG is on, SQLite and the in-memory channel layer
are used. With DEBUG off the process refuses to start unless SECRET_KEY and
ALLOWED_HOSTS are set for real.
"""

import os
import socket
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from editor.network import parse_networks

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
    SECURE_CONTENT_TYPE_NOSNIFF = True

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
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
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
STATIC_ROOT = BASE_DIR / "staticfiles"
# Serve straight from the apps' static folders too, so a plain Daphne worker
# serves the page's JavaScript without a collectstatic step.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

# The channel layer: in-memory for a single process, Redis as soon as
# REDIS_URL is set so that groups span every worker process.
REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {
                "hosts": [REDIS_URL],
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
EDITOR_HEARTBEAT_SECONDS = env_float("EDITOR_HEARTBEAT_SECONDS", 10)
EDITOR_SESSION_TIMEOUT_SECONDS = env_float("EDITOR_SESSION_TIMEOUT_SECONDS", 30)
if not 0 < EDITOR_HEARTBEAT_SECONDS < EDITOR_SESSION_TIMEOUT_SECONDS:
    raise ImproperlyConfigured(
        "EDITOR_HEARTBEAT_SECONDS must be positive and below EDITOR_SESSION_TIMEOUT_SECONDS"
    )

# Limits of the editing engine.
EDITOR_MAX_DOCUMENT_CHARS = env_int("EDITOR_MAX_DOCUMENT_CHARS", 1_000_000)
EDITOR_MAX_FRAME_BYTES = env_int("EDITOR_MAX_FRAME_BYTES", 256 * 1024)
# The operation log keeps an operation while it is among the last
# EDITOR_OPLOG_RETAIN revisions or younger than EDITOR_OPLOG_RETAIN_SECONDS.
EDITOR_OPLOG_RETAIN = env_int("EDITOR_OPLOG_RETAIN", 1000)
EDITOR_OPLOG_RETAIN_SECONDS = env_int("EDITOR_OPLOG_RETAIN_SECONDS", 3600)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain"},
    },
    "loggers": {
        "editor": {
            "handlers": ["console"],
            "level": os.environ.get("EDITOR_LOG_LEVEL", "INFO"),
            "propagate": False,
        },
    },
}
