"""PyTake settings: one module, configured from the environment (12-factor).

With no ``DATABASE_URL`` / ``REDIS_URL`` the embedded PostgreSQL and Redis under ``.data/``
are started (see ``pytake/embedded.py``). The README lists every variable.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import environ
from csp.constants import NONE, SELF
from django.utils.translation import gettext_lazy as _

from pytake import embedded, logs

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
env.read_env(BASE_DIR / ".env", overwrite=False) if (BASE_DIR / ".env").exists() else None

DEBUG = env.bool("DEBUG", default=False)
# The insecure default is for development only; `check --deploy` flags it (security.W009).
SECRET_KEY = env("SECRET_KEY", default="django-insecure-pytake-development-key-change-me-in-production")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
SITE_URL = env("SITE_URL", default="http://127.0.0.1:8000")

INSTALLED_APPS = [
    "daphne",
    "pytake.apps.PyTakeAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "template_partials",
    "csp",
    "axes",
    "channels",
    "django_celery_beat",
    "anymail",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "accounts",
    "conversations",
    "conversations.campaigns",
    "conversations.reports",
    "conversations.assistant",
    "conversations.contacts",
    "notifications",
    "notifications.webhooks",
    "scheduling",
]

MIDDLEWARE = [
    "pytake.logs.RequestIdMiddleware",
    "pytake.metrics.RequestMetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "accounts.tenancy.TenantMiddleware",
    "pytake.request_input.RequestInputMiddleware",
    "pytake.logs.RequestUserMiddleware",
    "accounts.tenancy.ReadOnlyOrganizationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "csp.middleware.CSPMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "pytake.urls"
ASGI_APPLICATION = "pytake.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "accounts.tenancy.tenant_context",
            ],
        },
    }
]

# --- Database: PostgreSQL only -------------------------------------------------------------
DATABASE_URL = env("DATABASE_URL", default="") or embedded.ensure_database_url()
_db = environ.Env.db_url_config(DATABASE_URL)
if _db["ENGINE"] != "django.db.backends.postgresql":
    raise environ.ImproperlyConfigured("PyTake runs on PostgreSQL only: DATABASE_URL must be postgres://…")
if not _db.get("HOST") and _db.get("OPTIONS", {}).get("host"):
    _db["HOST"] = _db["OPTIONS"].pop("host")  # unix socket directory given as ?host=
_db["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=0)
_db["TEST"] = {"NAME": env("TEST_DATABASE_NAME", default=f"test_{_db['NAME']}")}
DATABASES = {"default": _db}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: cache, Celery broker, Channels layer ------------------------------------------
REDIS_URL = env("REDIS_URL", default="") or embedded.ensure_redis_url()
REDIS_KEY_PREFIX = env("REDIS_KEY_PREFIX", default="pytake")


def _celery_broker_url(redis_url: str) -> str:
    """kombu spells a unix socket ``redis+socket://`` and its database ``virtual_host``."""
    parts = urlsplit(redis_url)
    if parts.scheme == "unix":
        query = parts.query.replace("db=", "virtual_host=")
        return f"redis+socket://{parts.path}" + (f"?{query}" if query else "")
    return redis_url


CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": REDIS_KEY_PREFIX,
    }
}
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {"hosts": [REDIS_URL], "prefix": f"{REDIS_KEY_PREFIX}:asgi"},
    }
}
SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"

CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="") or _celery_broker_url(REDIS_URL)
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
# Rows are claimed before sending and the relay recovers what a lost worker held, so a small
# prefetch is safe and keeps one worker busy between round-trips.
CELERY_WORKER_PREFETCH_MULTIPLIER = env.int("CELERY_PREFETCH_MULTIPLIER", default=4)
CELERY_TASK_DEFAULT_QUEUE = f"{REDIS_KEY_PREFIX}-default"
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600, "global_keyprefix": f"{REDIS_KEY_PREFIX}:celery:"}
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = "UTC"
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)

# --- Auth ----------------------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "accounts:login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
PASSWORD_RESET_TIMEOUT = 60 * 60 * 24

# Brute-force lockout (django-axes): 5 failures for one account from one address lock it for 15 min.
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_LOCKOUT_TEMPLATE = "registration/lockout.html"
AXES_RESET_ON_SUCCESS = True
AXES_USERNAME_FORM_FIELD = "username"
AXES_USERNAME_CALLABLE = "accounts.lockout.lockout_username"
AXES_IPWARE_META_PRECEDENCE_ORDER = ["REMOTE_ADDR"]

# --- Internationalization ------------------------------------------------------------------
LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("pt-br", _("Portuguese (Brazil)"))]
LOCALE_PATHS = [BASE_DIR / "locale"]  # apps keep their own strings in <app>/locale/
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static files --------------------------------------------------------------------------
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = env("STATIC_ROOT", default=str(BASE_DIR / "staticfiles"))
# Daphne serves /static/ itself only in development and tests; production uses the reverse proxy.
SERVE_STATIC = env.bool("SERVE_STATIC", default=DEBUG)

# --- Email (django-anymail for ESPs; SMTP by default) -----------------------------------------
# EMAIL_BACKEND may be any anymail backend, e.g. "anymail.backends.postmark.EmailBackend";
# ANYMAIL holds that ESP's settings (ANYMAIL_* variables).
EMAIL_BACKEND = env(
    "EMAIL_BACKEND",
    default="django.core.mail.backends.console.EmailBackend"
    if DEBUG
    else "django.core.mail.backends.smtp.EmailBackend",
)
EMAIL_HOST = env("SMTP_HOST", default="localhost")
EMAIL_PORT = env.int("SMTP_PORT", default=25)
EMAIL_HOST_USER = env("SMTP_USER", default="")
EMAIL_HOST_PASSWORD = env("SMTP_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("SMTP_USE_TLS", default=False)
EMAIL_USE_SSL = env.bool("SMTP_USE_SSL", default=False)
EMAIL_TIMEOUT = env.int("SMTP_TIMEOUT", default=10)
DEFAULT_FROM_EMAIL = env("SMTP_FROM_EMAIL", default="PyTake <noreply@pytake.local>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
ANYMAIL = env.json("ANYMAIL", default={})
if env("ANYMAIL_WEBHOOK_SECRET", default=""):
    ANYMAIL.setdefault("WEBHOOK_SECRET", env("ANYMAIL_WEBHOOK_SECRET"))

# --- Campaigns (conversations/campaigns/services.py documents each) ------------------------------
CAMPAIGNS_BATCH_SIZE = env.int("CAMPAIGNS_BATCH_SIZE", default=200)  # recipients handed to the outbox per dispatch
CAMPAIGNS_MAX_IN_FLIGHT = env.int("CAMPAIGNS_MAX_IN_FLIGHT", default=400)  # per campaign: bounds how long a pause takes
CAMPAIGNS_TICK_EVERY_SECONDS = env.int("CAMPAIGNS_TICK_EVERY_SECONDS", default=5)
CAMPAIGNS_WAKE_GRACE_SECONDS = env.int("CAMPAIGNS_WAKE_GRACE_SECONDS", default=5)

# --- AI assistant (conversations/assistant/crypto.py and client.py document each) ----------------
# Fernet keys, newest first: the first encrypts, all decrypt (rotate with `manage.py ai_rotate_keys`).
ASSISTANT_ENCRYPTION_KEYS = env.list("ASSISTANT_ENCRYPTION_KEYS", default=[])
ASSISTANT_MAX_RETRIES = env.int("ASSISTANT_MAX_RETRIES", default=2)  # the SDKs' retries on 429/5xx per provider

# --- Notifications (notifications/services.py documents each) ------------------------------
NOTIFICATIONS_MAX_RETRIES = env.int("NOTIFICATIONS_MAX_RETRIES", default=3)
NOTIFICATIONS_RETRY_BASE_SECONDS = env.float("NOTIFICATIONS_RETRY_BASE_SECONDS", default=1.0)  # × 5, 25, 125
NOTIFICATIONS_RELAY_AFTER_SECONDS = env.int("NOTIFICATIONS_RELAY_AFTER_SECONDS", default=120)
# A sending row whose lease is not renewed (its worker died) is sent again by the relay: with the lease
# equal to the relay period, a dead send is noticed within two relay periods.
NOTIFICATIONS_SENDING_LEASE_SECONDS = env.int("NOTIFICATIONS_SENDING_LEASE_SECONDS", default=30)
NOTIFICATIONS_RELAY_EVERY_SECONDS = env.int("NOTIFICATIONS_RELAY_EVERY_SECONDS", default=30)
NOTIFICATIONS_SMS_BACKEND = env("NOTIFICATIONS_SMS_BACKEND", default="console" if DEBUG else "http")
NOTIFICATIONS_SMS_GATEWAY_URL = env("NOTIFICATIONS_SMS_GATEWAY_URL", default="")
NOTIFICATIONS_SMS_GATEWAY_TOKEN = env("NOTIFICATIONS_SMS_GATEWAY_TOKEN", default="")
NOTIFICATIONS_WHATSAPP_API_BASE = env("NOTIFICATIONS_WHATSAPP_API_BASE", default="https://graph.facebook.com")
NOTIFICATIONS_WHATSAPP_API_VERSION = env("NOTIFICATIONS_WHATSAPP_API_VERSION", default="v21.0")
NOTIFICATIONS_WHATSAPP_PHONE_NUMBER_ID = env("NOTIFICATIONS_WHATSAPP_PHONE_NUMBER_ID", default="")
NOTIFICATIONS_WHATSAPP_ACCESS_TOKEN = env("NOTIFICATIONS_WHATSAPP_ACCESS_TOKEN", default="")
NOTIFICATIONS_HTTP_TIMEOUT = env.float("NOTIFICATIONS_HTTP_TIMEOUT", default=10.0)
# The notification plan's variable names: SMTP_USERNAME (= SMTP_USER) and SMTP_FROM_NAME.
EMAIL_HOST_USER = EMAIL_HOST_USER or env("SMTP_USERNAME", default="")
if env("SMTP_FROM_NAME", default="") and "<" not in DEFAULT_FROM_EMAIL:
    DEFAULT_FROM_EMAIL = f"{env('SMTP_FROM_NAME')} <{DEFAULT_FROM_EMAIL}>"

# --- The public API (pytake/api/) and outbound webhooks (notifications/webhooks/) -----------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.TokenAuthentication",
        "accounts.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["pytake.api.permissions.ScopePermission"],
    "DEFAULT_THROTTLE_CLASSES": ["pytake.api.ratelimit.PrincipalRateThrottle"],
    "DEFAULT_PARSER_CLASSES": ["pytake.api.parsers.StorableJSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PAGINATION_CLASS": None,
    "DEFAULT_SCHEMA_CLASS": "pytake.api.schema.ProblemAutoSchema",
    "EXCEPTION_HANDLER": "pytake.api.problems.exception_handler",
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_VERSIONING_CLASS": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "PyTake API",
    "DESCRIPTION": (
        "The public REST API of PyTake. Authenticate with `Authorization: Bearer <token>` (an organization "
        "or personal API token) or a browser session. Lists use cursor pagination (`cursor`, `page_size`); "
        "errors are RFC 9457 problem details; `POST` honours `Idempotency-Key` for 24 hours; every "
        "response carries `RateLimit-*` headers."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "ConversationStatusEnum": "conversations.models.Status",
        "CampaignStatusEnum": "conversations.campaigns.models.CampaignStatus",
        "AppointmentStatusEnum": "scheduling.models.AppointmentStatus",
        "TemplateStatusEnum": "conversations.models.TemplateStatus",
        "WebhookDeliveryStatusEnum": "notifications.webhooks.models.DeliveryStatus",
    },
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "DISABLE_ERRORS_AND_WARNINGS": False,
}
API_RATE_LIMIT_PER_MINUTE = env.int(
    "API_RATE_LIMIT_PER_MINUTE", default=600
)  # per token (or user); tokens may lower it
API_IDEMPOTENCY_TTL_SECONDS = env.int("API_IDEMPOTENCY_TTL_SECONDS", default=24 * 60 * 60)
API_PAGE_SIZE = env.int("API_PAGE_SIZE", default=25)
API_MAX_PAGE_SIZE = env.int("API_MAX_PAGE_SIZE", default=100)
# Outbound webhooks: who may be called, how long to wait, when to give up on an endpoint.
WEBHOOKS_ALLOW_PRIVATE_TARGETS = env.bool("WEBHOOKS_ALLOW_PRIVATE_TARGETS", default=False)
WEBHOOKS_TIMEOUT_SECONDS = env.float("WEBHOOKS_TIMEOUT_SECONDS", default=10.0)
WEBHOOKS_DISABLE_AFTER_FAILURES = env.int(
    "WEBHOOKS_DISABLE_AFTER_FAILURES", default=20
)  # consecutive failed deliveries
WEBHOOKS_SECRET_GRACE_HOURS = env.int(
    "WEBHOOKS_SECRET_GRACE_HOURS", default=24
)  # old secret still signs after rotation
# Seconds before each retry (Standard Webhooks' schedule, ~27 h in all), each with ±20 % jitter; × the scale.
WEBHOOKS_RETRY_SCHEDULE = env.list(
    "WEBHOOKS_RETRY_SCHEDULE", cast=float, default=[5, 300, 1800, 7200, 18000, 36000, 36000]
)
WEBHOOKS_RETRY_SCALE = env.float("WEBHOOKS_RETRY_SCALE", default=1.0)

# --- Security ------------------------------------------------------------------------------
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
        "base-uri": [SELF],
        "object-src": [NONE],
    }
}
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env.bool("BEHIND_TLS_PROXY", default=False) else None
# HTTPS: on by default in production (DEBUG=0); HTTPS=0 serves plain HTTP (development, tests).
HTTPS = env.bool("HTTPS", default=not DEBUG)
SECURE_SSL_REDIRECT = HTTPS
# Scrapers and load balancers talk plain HTTP to the processes inside the network.
SECURE_REDIRECT_EXEMPT = [r"^metrics$", r"^health/$"]
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=60 * 60 * 24 * 365) if HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS
SECURE_HSTS_PRELOAD = HTTPS

# --- Operations: /metrics (pytake/metrics.py) ------------------------------------------------
METRICS_TOKEN = env("METRICS_TOKEN", default="")  # sent as "Authorization: Bearer <token>"
METRICS_ALLOWED_NETWORKS = env.list("METRICS_ALLOWED_NETWORKS", default=["127.0.0.1/32", "::1/128"])
# Retention (accounts/retention.py): the periods are per organization; this is rows per transaction.
RETENTION_BATCH_SIZE = env.int("RETENTION_BATCH_SIZE", default=1000)

# Logs (pytake/logs.py): plain text, or LOG_FORMAT=json for one JSON object per line with the
# request id, organization id and user id; LOG_REQUESTS adds an access line per request.
LOG_FORMAT = env("LOG_FORMAT", default="plain")
LOG_REQUESTS = env.bool("LOG_REQUESTS", default=LOG_FORMAT == "json")
LOGGING = logs.logging_config(log_format=LOG_FORMAT, level=env("LOG_LEVEL", default="INFO"))
# Celery's own log set-up would replace the JSON handler in workers.
CELERY_WORKER_HIJACK_ROOT_LOGGER = LOG_FORMAT != "json"

# --- Conversations: media and the WhatsApp Cloud API ----------------------------------------
MEDIA_ROOT = env("MEDIA_ROOT", default=str(BASE_DIR / ".data" / "media"))
MEDIA_URL = "media/"
WHATSAPP_GRAPH_BASE_URL = env("WHATSAPP_GRAPH_BASE_URL", default="https://graph.facebook.com/v21.0")
WHATSAPP_HTTP_TIMEOUT = env.float("WHATSAPP_HTTP_TIMEOUT", default=10.0)
WHATSAPP_SEND_RETRIES = env.int("WHATSAPP_SEND_RETRIES", default=3)
WHATSAPP_RETRY_BACKOFF = env.float("WHATSAPP_RETRY_BACKOFF", default=0.5)  # seconds, doubled per retry
# WhatsApp's customer-service window: free text only this long after the customer's last message.
WHATSAPP_SERVICE_WINDOW_HOURS = env.int("WHATSAPP_SERVICE_WINDOW_HOURS", default=24)
WHATSAPP_WEBHOOK_MAX_BYTES = env.int("WHATSAPP_WEBHOOK_MAX_BYTES", default=1024 * 1024)
# On: a delivery is applied in its request (the answer counts what it stored). Off: answered once
# stored, applied by a Celery task (a Beat relay catches what a lost task left).
WHATSAPP_WEBHOOK_INLINE = env.bool("WHATSAPP_WEBHOOK_INLINE", default=True)
SLA_SWEEP_BATCH_SIZE = env.int("SLA_SWEEP_BATCH_SIZE", default=500)

# --- Scheduling: the public booking page's abuse guards ----------------------------------------
SCHEDULING_BOOKING_RATE_LIMIT = env.int("SCHEDULING_BOOKING_RATE_LIMIT", default=10)  # bookings per address…
SCHEDULING_BOOKING_RATE_WINDOW = env.int("SCHEDULING_BOOKING_RATE_WINDOW", default=600)  # …per this many seconds
SCHEDULING_BOOKING_MIN_FILL_SECONDS = env.float("SCHEDULING_BOOKING_MIN_FILL_SECONDS", default=3)  # faster = a bot
CSRF_FAILURE_VIEW = "pytake.errors.csrf_failure"
