"""Settings for BPO Back-Office: one module, driven entirely by environment variables.

Every variable is listed (with its default) in README.md. Development defaults are safe to
run on a laptop; production refuses to start without the variables that matter.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from csp.constants import NONCE, NONE, SELF
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG", False)

SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. In production (DEBUG=0) set SECRET_KEY to a long random "
            "string; for local development run with DEBUG=1 (the Makefile does)."
        )
    SECRET_KEY = "django-insecure-dev-only-key-do-not-use-in-production-0123456789abcdef"

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost" if DEBUG else "")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "bpo_backoffice.apps.BPOAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_filters",
    "import_export",
    "django_q",
    "crispy_forms",
    "crispy_bootstrap5",
    "axes",
    "csp",
    "core",
    "clients",
    "inventory",
    "orders",
    "fulfillment",
    "billing",
    "support",
    "reports",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_permissions_policy.PermissionsPolicyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # After auth and messages: it logs an idle user out and tells them why.
    "core.middleware.IdleSessionTimeoutMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: it turns a locked-out login into the lockout page.
    "axes.middleware.AxesMiddleware",
]

# django-axes checks every login attempt first (a locked-out user+IP is refused before the
# password is even compared), then Django's own backend authenticates.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

ROOT_URLCONF = "bpo_backoffice.urls"
WSGI_APPLICATION = "bpo_backoffice.wsgi.application"
ASGI_APPLICATION = "bpo_backoffice.asgi.application"

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
                "csp.context_processors.nonce",
                "support.context_processors.inbox",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
# SQLite by default: WAL lets readers run beside one writer, and IMMEDIATE transactions take
# the write lock up front so concurrent writers queue (busy timeout) instead of failing with
# "database is locked" half-way through a transaction.
SQLITE_PATH = os.environ.get("SQLITE_PATH", str(BASE_DIR / "db.sqlite3"))
DATABASE_URL = os.environ.get("DATABASE_URL", "")
if DATABASE_URL:
    DATABASES = {
        "default": dj_database_url.parse(
            DATABASE_URL, conn_max_age=int(os.environ.get("DB_CONN_MAX_AGE", "60"))
        )
    }
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": SQLITE_PATH,
        }
    }
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "transaction_mode": "IMMEDIATE",
            "timeout": 30,
            "init_command": (
                "PRAGMA journal_mode=WAL;"
                "PRAGMA synchronous=NORMAL;"
                "PRAGMA foreign_keys=ON;"
                "PRAGMA busy_timeout=30000;"
            ),
        }
    )

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
# One date format everywhere (2026-03-14 09:30): bpo_backoffice/formats/en/formats.py.
FORMAT_MODULE_PATH = ["bpo_backoffice.formats"]
TIME_ZONE = os.environ.get("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", str(BASE_DIR / "staticfiles")))
MEDIA_URL = "media/"
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", str(BASE_DIR / "media")))
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

LOGIN_URL = "admin:login"

# --- Login throttling (django-axes) ---------------------------------------------------------
# A BPO floor shares one office IP: lock the user name *from that IP* (never the IP alone, or
# one agent's typos would lock out the floor; never the user name alone, or anyone could lock
# an agent out from anywhere). The lock lifts by itself after the cool-off, or an admin lifts
# it (Admin → Axes → Access attempts → "Unlock", or `manage.py axes_reset_username NAME`).
AXES_ENABLED = env_bool("LOGIN_LOCKOUT_ENABLED", True)
AXES_FAILURE_LIMIT = int(os.environ.get("LOGIN_FAILURE_LIMIT", "5"))
LOGIN_COOLOFF_MINUTES = int(os.environ.get("LOGIN_COOLOFF_MINUTES", "15"))
AXES_COOLOFF_TIME = timedelta(minutes=LOGIN_COOLOFF_MINUTES)
if AXES_FAILURE_LIMIT < 1 or LOGIN_COOLOFF_MINUTES < 1:
    # django-axes reads a zero cool-off as "locked for ever": refuse it rather than surprise.
    raise ImproperlyConfigured("LOGIN_FAILURE_LIMIT and LOGIN_COOLOFF_MINUTES must be at least 1.")
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_ENABLE_ACCESS_FAILURE_LOG = True
AXES_ENABLE_ADMIN = False  # core/admin.py registers the admins, with an unlock action
AXES_LOCKOUT_CALLABLE = "core.security.lockout_response"
AXES_CLIENT_IP_CALLABLE = "core.security.client_ip"
# How many reverse proxies (load balancer, nginx) sit in front of gunicorn and append to
# X-Forwarded-For; 0 = use the TCP peer address (REMOTE_ADDR). Never trust more than you run.
TRUSTED_PROXY_COUNT = int(os.environ.get("TRUSTED_PROXY_COUNT", "0"))

# --- Sessions on shared workstations --------------------------------------------------------
# Idle timeout: core.middleware.IdleSessionTimeoutMiddleware logs a user out after this many
# minutes without a request of theirs (background polling does not count; see the middleware
# for why this is not SESSION_SAVE_EVERY_REQUEST). The session cookie also ends with the browser.
SESSION_IDLE_TIMEOUT = timedelta(minutes=int(os.environ.get("SESSION_IDLE_MINUTES", "30")))
SESSION_EXPIRE_AT_BROWSER_CLOSE = True

# --- Content-Security-Policy (django-csp) and Permissions-Policy -----------------------------
# Everything comes from our own origin: scripts and styles are static files; anything inline
# must carry the per-request nonce ({{ request.csp_nonce }}). No framing by anyone.
# object-src is left to default-src 'self' on purpose: 'none' stops Chromium's PDF viewer
# from showing our own PDFs (packing slips, pick lists) in a tab.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF, NONCE],
        "img-src": [SELF],
        "font-src": [SELF],
        "connect-src": [SELF],
        "form-action": [SELF],
        "base-uri": [SELF],
        "frame-ancestors": [NONE],
    },
}
# Powerful browser features this back-office never uses are switched off for every page.
PERMISSIONS_POLICY = {
    feature: []
    for feature in (
        "accelerometer",
        "autoplay",
        "bluetooth",
        "camera",
        "display-capture",
        "geolocation",
        "gyroscope",
        "hid",
        "idle-detection",
        "magnetometer",
        "microphone",
        "midi",
        "payment",
        "publickey-credentials-get",
        "screen-wake-lock",
        "serial",
        "usb",
        "xr-spatial-tracking",
    )
}

# --- E-mail ---------------------------------------------------------------------------------
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "25"))
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "BPO Back-Office <noreply@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# --- Customer communication (support) -------------------------------------------------------
# Base of the links in customer e-mails (tracking page, cancel link): the public host name.
PUBLIC_BASE_URL = os.environ.get("PUBLIC_BASE_URL", "http://127.0.0.1:8000")
# Signed tracking links expire after this many days (a new e-mail carries a fresh one).
TRACKING_LINK_MAX_AGE_DAYS = int(os.environ.get("TRACKING_LINK_MAX_AGE_DAYS", "120"))
# Requests per minute and IP to the public tracking pages (Django's cache counts them; with
# several web servers point CACHES at the shared Redis).
TRACKING_RATE_LIMIT_PER_MINUTE = int(os.environ.get("TRACKING_RATE_LIMIT_PER_MINUTE", "60"))

# --- Security (production) ------------------------------------------------------------------
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", "0" if DEBUG else "31536000"))
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", not DEBUG)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", not DEBUG)
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
if env_bool("BEHIND_TLS_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# --- Background tasks (django-q2) -----------------------------------------------------------
# The ORM broker by default (no extra service, has receipts); Redis when REDIS_URL is set.
# timeout < retry, or a slow task would be handed out twice (FIELD-NOTES).
REDIS_URL = os.environ.get("REDIS_URL", "")
Q_CLUSTER = {
    "name": os.environ.get("Q_CLUSTER_NAME", "bpo"),
    "workers": int(os.environ.get("Q_WORKERS", "2")),
    "timeout": int(os.environ.get("Q_TIMEOUT", "1800")),
    "retry": int(os.environ.get("Q_RETRY", "1900")),
    "max_attempts": 3,
    "queue_limit": 50,
    "bulk": 10,
    "catch_up": False,
    "label": "Background tasks",
    "save_limit": 1000,
}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
    # One cache for every web server (the tracking page's per-IP rate limit counts in it).
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
        }
    }
else:
    Q_CLUSTER["orm"] = "default"
    Q_CLUSTER["poll"] = 1.0
if env_bool("Q_SYNC", False):
    Q_CLUSTER["sync"] = True

# --- Libraries -------------------------------------------------------------------------------
CRISPY_ALLOWED_TEMPLATE_PACKS = "bootstrap5"
CRISPY_TEMPLATE_PACK = "bootstrap5"
IMPORT_EXPORT_SKIP_ADMIN_LOG = True
IMPORT_EXPORT_USE_TRANSACTIONS = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"require_debug_false": {"()": "django.utils.log.RequireDebugFalse"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler"},
        "mail_admins": {
            "level": "ERROR",
            "filters": ["require_debug_false"],
            "class": "django.utils.log.AdminEmailHandler",
        },
    },
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # Django's default config gives "django" its own console handler and lets it
        # propagate to ours: every line twice. One handler, the root's.
        "django": {"handlers": ["mail_admins"], "level": "INFO", "propagate": True},
    },
}
IMPORT_BACKGROUND_ROWS = int(os.environ.get("IMPORT_BACKGROUND_ROWS", "5000"))
# An import whose worker sent no heartbeat for this long is taken for dead (interrupted,
# resumable); a confirmed import not picked up by any worker after the patience, likewise.
IMPORT_LEASE_SECONDS = int(os.environ.get("IMPORT_LEASE_SECONDS", "300"))
IMPORT_QUEUE_PATIENCE_SECONDS = int(os.environ.get("IMPORT_QUEUE_PATIENCE_SECONDS", "3600"))

# Replenishment: schedule period (minutes), one run's time limit (seconds, below Q retry), and
# up to how many rules "Run now" plans in the request instead of in a worker.
REPLENISHMENT_EVERY_MINUTES = int(os.environ.get("REPLENISHMENT_EVERY_MINUTES", "60"))
REPLENISHMENT_TIMEOUT = int(os.environ.get("REPLENISHMENT_TIMEOUT", "900"))
REPLENISHMENT_INLINE_RULES = int(os.environ.get("REPLENISHMENT_INLINE_RULES", "5000"))
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024

# Signed webhooks (core/webhooks.py): after a secret is rotated, the previous one stays valid
# this long so that calls already signed, queued or retried by the sender are not dropped.
WEBHOOK_SECRET_OVERLAP_HOURS = int(os.environ.get("WEBHOOK_SECRET_OVERLAP_HOURS", "24"))

# Support tickets: the inbound e-mail provider's webhook secrets (comma-separated: several
# while rotating), checked by core/webhooks.py; empty = the endpoint refuses every call.
SUPPORT_INBOUND_WEBHOOK_SECRETS = [
    s for s in os.environ.get("SUPPORT_INBOUND_WEBHOOK_SECRETS", "").split(",") if s.strip()
]
# Right-hand side of the Message-ID of ticket replies (replies thread back by it).
SUPPORT_MESSAGE_ID_DOMAIN = os.environ.get("SUPPORT_MESSAGE_ID_DOMAIN", "bpo-backoffice.invalid")
