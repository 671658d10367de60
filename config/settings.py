"""Settings, read from the environment (django-environ). Nothing is required: the defaults run
the app on SQLite with eager Celery tasks. See `.env.example` for every variable."""

from datetime import timedelta
from pathlib import Path

import environ
from celery.schedules import crontab

from config.email import email_settings
from config.env import origin, proxy_ssl_header

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env(
    DEBUG=(bool, False),
    ALLOWED_HOSTS=(list, ["localhost", "127.0.0.1", "[::1]"]),
    CELERY_BROKER_URL=(str, ""),
    SITE_URL=(str, "http://127.0.0.1:8000"),
    PHONE_DEFAULT_REGION=(str, "NL"),
    PREFERENCE_LINK_MAX_AGE_DAYS=(int, 180),
    WEBHOOK_ALLOW_PRIVATE_TARGETS=(bool, False),
    ANYMAIL_WEBHOOK_SECRET=(str, ""),
)
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env("DEBUG")
# A development key is only acceptable while DEBUG is on; production must set SECRET_KEY.
SECRET_KEY = env(
    "SECRET_KEY", default="dev-insecure-key-change-me" if DEBUG else environ.Env.NOTSET
)
SUPPRESSION_HASH_KEY = env(
    "SUPPRESSION_HASH_KEY", default="dev-suppression-key" if DEBUG else environ.Env.NOTSET
)
ALLOWED_HOSTS = env("ALLOWED_HOSTS")
SITE_URL = env("SITE_URL")
PHONE_DEFAULT_REGION = env("PHONE_DEFAULT_REGION")
PREFERENCE_LINK_MAX_AGE_DAYS = env("PREFERENCE_LINK_MAX_AGE_DAYS")
# The consent load (DESIGN §3.8): the largest file accepted, and the migration mode's sources of
# subscriptions held by apps above consent (dotted paths of functions returning their SQL).
CONSENT_LOAD_MAX_BYTES = env.int("CONSENT_LOAD_MAX_BYTES", default=512 * 1024 * 1024)
CONSENT_MIGRATION_SOURCES = ["marketing_lists.consent_migration.subscription_members_sql"]
# Keys of the encrypted preference-center links (preference_center.tokens), comma-separated,
# newest first: the first encrypts, every one decrypts (rotation). Each at least 32 random
# characters. Empty: a key derived from SECRET_KEY (development; `check --deploy` objects).
PREFERENCE_LINK_KEYS = env.list("PREFERENCE_LINK_KEYS", default=[])

INSTALLED_APPS = [
    "modeltranslation",  # before the admin: its translation fields must exist when admin loads
    "config.apps.ConsentAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_filters",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI from our own static files (no CDN)
    "csp",
    "simple_history",
    "axes",
    "anymail",
    "subjects",
    "consent",
    "marketing_lists",
    "preference_center",
    "demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    "axes.middleware.AxesMiddleware",  # last: turns a locked-out login into a 429
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

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
            ],
        },
    },
]

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the dev server read while a management command or the worker writes; a writer
    # takes the lock when its transaction starts and the other waits for it (up to 20 s)
    # instead of failing with "database is locked" halfway.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        init_command="PRAGMA journal_mode=WAL;", transaction_mode="IMMEDIATE", timeout=20
    )
# Persistent connections: a new PostgreSQL connection costs a few milliseconds (fork, auth), more
# than a consent check itself; with CONN_MAX_AGE=0 every request paid it (docs/deployment.md).
# The health check (one `SELECT 1` per request that uses the database) replaces a connection the
# server dropped instead of failing the request.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = env.bool("CONN_HEALTH_CHECKS", default=True)
# The consent check's queries (common.prepared) run as server-side prepared statements on
# PostgreSQL: parsed and planned once per connection, not on every check. psycopg only
# prepares with a `prepare_threshold` (Django's default turns it off); Django's own cursors
# bind on the client and never prepare. Set PREPARED_STATEMENTS=false behind a pooler that
# cannot keep prepared statements (PgBouncer in transaction mode before 1.21).
PREPARED_STATEMENTS = env.bool("PREPARED_STATEMENTS", default=True)
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and PREPARED_STATEMENTS:
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("prepare_threshold", 5)
# A read replica (PostgreSQL streaming replication): reads wrapped in
# common.replica.reading_from_replica() go there (audiences, exports); writes never do.
READ_REPLICA = None
if env("DATABASE_REPLICA_URL", default=""):
    READ_REPLICA = "replica"
    DATABASES[READ_REPLICA] = {
        **env.db("DATABASE_REPLICA_URL"),
        "CONN_MAX_AGE": DATABASES["default"]["CONN_MAX_AGE"],
        "CONN_HEALTH_CHECKS": DATABASES["default"]["CONN_HEALTH_CHECKS"],
    }
    if PREPARED_STATEMENTS:
        DATABASES[READ_REPLICA].setdefault("OPTIONS", {}).setdefault("prepare_threshold", 5)
DATABASE_ROUTERS = ["common.replica.ReplicaRouter"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# django-axes first: it refuses a locked-out username+IP before any password is checked.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# Brute-force protection of the admin login: AXES_FAILURE_LIMIT failed passwords for one
# username from one IP lock that pair out for AXES_COOLOFF_HOURS (answered 429).
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = env.float("AXES_COOLOFF_HOURS", default=1.0)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
# The client IP as the public forms' rate limit sees it: behind a proxy, the last entry of
# PREFERENCE_CLIENT_IP_HEADER (below), else REMOTE_ADDR. Without it every login would seem to
# come from the proxy, and the lockout would be per username alone.
AXES_CLIENT_IP_CALLABLE = "preference_center.views.client_ip"
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False  # no start-up banner on every command; lockouts are still logged

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("nl", "Nederlands"), ("fr", "Français"), ("de", "Deutsch")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
# Customer-facing texts of profiles, purposes and topics (consent/translation.py): `name_en` is
# the base text; a language without its own text shows the base text.
MODELTRANSLATION_DEFAULT_LANGUAGE = "en"
MODELTRANSLATION_FALLBACK_LANGUAGES = ("en",)
# `Purpose(name=...)` also fills `name_en`, whatever language is active.
MODELTRANSLATION_AUTO_POPULATE = "default"
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]

# EMAIL_URL: an ESP's scheme (sendgrid://KEY, postmark://TOKEN, …) sends through
# django-anymail's backend for it; smtp://, consolemail://, … as django-environ parses them.
# Production must name its mail server: the console backend would print every link (and send
# nothing). Only development defaults to it; `check --deploy` also refuses a non-sending backend.
EMAIL_CONFIG, _ANYMAIL_ESP = email_settings(
    env("EMAIL_URL", default="consolemail://" if DEBUG else environ.Env.NOTSET)
)
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="privacy@localhost")

# django-simple-history: reasons can be long (notes, file names); no history without a change.
SIMPLE_HISTORY_HISTORY_CHANGE_REASON_USE_TEXT_FIELD = True
SIMPLE_HISTORY_REVERT_DISABLED = True
# Seals the history rows an audited service wrote, before it commits (the consent ledger).
HISTORY_SEALER = "consent.ledger.chain.ledger_append"

# Seconds a process keeps an API token's user and permissions (common.authentication): a
# revoked token or withdrawn permission can still work that long; 0 reads them every request.
API_TOKEN_CACHE_SECONDS = env.int("API_TOKEN_CACHE_SECONDS", default=10)

# Each process keeps the consent catalog (profiles, purposes, topics, notice versions) and a
# check reads only its stamp (consent.models.catalog): never stale, one query instead of two
# or three. False re-reads the catalog on every check.
CONSENT_CATALOG_CACHE = env.bool("CONSENT_CATALOG_CACHE", default=True)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "common.authentication.CachedTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    # Model permissions, reads included (view_<model>); see common.api.ModelPermissions.
    "DEFAULT_PERMISSION_CLASSES": ["common.api.ModelPermissions"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    # DRF's parsers, with deeply nested JSON answered 400 (common.api.JSONParser).
    "DEFAULT_PARSER_CLASSES": [
        "common.api.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    # JSON only: the browsable API would render every lead / contact into its filter forms.
    # People use the admin, or the interactive docs at /api/v1/docs/.
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # `?page=` with next/previous links and no COUNT(*) (million-row tables).
    "DEFAULT_PAGINATION_CLASS": "common.api.NoCountPagination",
    "EXCEPTION_HANDLER": "common.api.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Consent CRM API",
    "DESCRIPTION": (
        "Data subjects, data consents, contact-point consent and the consent check.\n\n"
        "Authenticate with `Authorization: Token <key>` (keys from "
        "`manage.py drf_create_token <user>`) or a session. Invalid input answers 400 with "
        '`{"<field>": ["message"]}` (errors of no single field under `non_field_errors`); '
        'other errors answer `{"detail": "message"}` — 409 when the object\'s state forbids '
        "the change (e.g. a read-only subject)."
    ),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # The schema and the docs: anyone in development, staff only with DEBUG off.
    "SERVE_PERMISSIONS": ["common.api.StaffOnlyUnlessDebug"],
    # Swagger UI from the app's own static files (drf-spectacular-sidecar): no CDN, no
    # third-party script on the admin's origin, works offline.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Choice fields shared by several models get one stable enum name each.
    "ENUM_NAME_OVERRIDES": {
        "ConsentLevelEnum": "subjects.models.ConsentLevel",
        "DataProtectionConsentEnum": "subjects.models.DataProtectionConsent",
        "SourceEnum": "common.audit.Source",
        "LeadStatusEnum": "subjects.models.Lead.Status",
        "ContactPointStatusEnum": "consent.models.contact_point.ContactPointConsent.Status",
        "DataSubjectRequestKindEnum": "consent.models.requests.DataSubjectRequest.Kind",
        "DataSubjectRequestStatusEnum": "consent.models.requests.DataSubjectRequest.Status",
        "WebhookEventTypeEnum": "consent.models.webhooks.WebhookEventType",
    },
}

# Celery: with no broker configured, tasks run eagerly in-process so the app works out of the box.
CELERY_BROKER_URL = env("CELERY_BROKER_URL")
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
if CELERY_BROKER_URL.startswith("filesystem://"):
    # `make run`: a worker beside the web server on kombu's filesystem transport, so jobs run
    # in the background with their progress as in production, with nothing else installed.
    _BROKER_DIR = BASE_DIR / ".broker"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_BROKER_DIR / "queue"),
        "data_folder_out": str(_BROKER_DIR / "queue"),
        "processed_folder": str(_BROKER_DIR / "processed"),
        "store_processed": False,
    }
    for _folder in ("queue", "processed"):
        (_BROKER_DIR / _folder).mkdir(parents=True, exist_ok=True)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TIMEZONE = "UTC"
CELERY_ENABLE_UTC = True
# Tasks are idempotent: acknowledge after the work, and re-queue if the worker dies mid-task.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=55 * 60)
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=60 * 60)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
DASHBOARD_REFRESH_MINUTES = env.int("DASHBOARD_REFRESH_MINUTES", default=10)
CELERY_BEAT_SCHEDULE = {
    "expire-data-consents": {
        "task": "consent.tasks.expire_data_consents",
        "schedule": crontab(hour=2, minute=0),
    },
    "expire-contact-point-consents": {
        "task": "consent.tasks.expire_contact_point_consents",
        "schedule": crontab(hour=2, minute=15),
    },
    # Stale previews, stuck and never-started loads: no uploaded file outlives its use.
    "sweep-consent-loads": {
        "task": "consent.tasks.sweep_consent_loads",
        "schedule": crontab(minute="*/15"),
    },
    # After the sweeps: the head then seals the night's expiries too.
    "publish-ledger-head": {
        "task": "consent.tasks.publish_ledger_head",
        "schedule": crontab(hour=3, minute=0),
    },
    # The dashboard's charts (DESIGN §5): computed in the background, read by the admin index.
    "refresh-dashboard-figures": {
        "task": "consent.tasks.refresh_dashboard_figures",
        "schedule": timedelta(minutes=DASHBOARD_REFRESH_MINUTES),
    },
    # Safety net of the webhook outbox: a delivery run for every endpoint with due retries.
    "dispatch-due-webhooks": {
        "task": "consent.tasks.dispatch_due_webhooks",
        "schedule": 60.0,
    },
}
# A load still `running` after this long lost its worker (the task limit is an hour).
CONSENT_LOAD_RUNNING_TIMEOUT = env.int("CONSENT_LOAD_RUNNING_TIMEOUT", default=2 * 60 * 60)

# common/prepared.py: also run every prepared query through the ORM and fail on any difference
# (the test settings turn it on; it doubles the queries of a check).
PREPARED_QUERY_VERIFY = False

# The cache holds job locks and rate-limit counters, so production shares it between
# processes (Redis); the default is per-process memory, fine for one dev server.
CACHES = {"default": env.cache_url("CACHE_URL", default="locmemcache://")}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    # Tokens, addresses, phone numbers and query-string values never reach a log line.
    "filters": {"redact": {"()": "common.redaction.RedactFilter"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "filters": ["redact"]}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
}

# Behind a TLS-terminating reverse proxy (issue 15 #17). SECURE_PROXY_SSL_HEADER names the
# header the proxy *sets* on every request and the value meaning HTTPS, as "HEADER,value" in
# Django's META spelling, e.g. "HTTP_X_FORWARDED_PROTO,https": without it Django sees every
# request as plain HTTP and SECURE_SSL_REDIRECT loops. Set it only when the proxy always sets
# (overwrites) that header, or a client could claim HTTPS. CSRF_TRUSTED_ORIGINS lists the
# public origins forms are posted from ("https://crm.example.org"); default: SITE_URL's origin.
SECURE_PROXY_SSL_HEADER = proxy_ssl_header(env("SECURE_PROXY_SSL_HEADER", default=""))
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[origin(SITE_URL)])

# Content-Security-Policy (django-csp) on every answer: admin, API, docs and public pages load
# scripts, styles, fonts and images from this origin only, run no inline script, and cannot
# be framed. Django's admin needs no inline script; the app's own pages have none either.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
    }
}

# The 500 report mailed to ADMINS, with query values, tokens and addresses hidden.
DEFAULT_EXCEPTION_REPORTER = "common.redaction.RedactingExceptionReporter"

if not DEBUG:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=60 * 60 * 24 * 365)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_CONTENT_TYPE_NOSNIFF = True
    SECURE_REFERRER_POLICY = "same-origin"
    X_FRAME_OPTIONS = "DENY"

# --- Preference center (issue 6, DESIGN §3.6) ------------------------------------------------
# Manage and unsubscribe links live PREFERENCE_LINK_MAX_AGE_DAYS (above); a sign-up's
# double opt-in confirmation link lives this long.
PREFERENCE_CONFIRM_MAX_AGE_DAYS = env.int("PREFERENCE_CONFIRM_MAX_AGE_DAYS", default=28)
# Link-request and sign-up forms: at most this many posts per client IP, and this many per
# address, in each window; more answer 429. Counters live in the cache (CACHE_URL).
PREFERENCE_RATE_LIMIT_WINDOW_SECONDS = env.int(
    "PREFERENCE_RATE_LIMIT_WINDOW_SECONDS", default=60 * 60
)
PREFERENCE_RATE_LIMIT_PER_IP = env.int("PREFERENCE_RATE_LIMIT_PER_IP", default=30)
PREFERENCE_RATE_LIMIT_PER_ADDRESS = env.int("PREFERENCE_RATE_LIMIT_PER_ADDRESS", default=5)
# Behind a reverse proxy: the request header holding the client IP as Django sees it (e.g.
# HTTP_X_FORWARDED_FOR, last entry used, or HTTP_X_REAL_IP); empty = REMOTE_ADDR.
PREFERENCE_CLIENT_IP_HEADER = env("PREFERENCE_CLIENT_IP_HEADER", default="")
# Optional second List-Unsubscribe target, e.g. unsubscribe@example.org (mailto:).
UNSUBSCRIBE_MAILTO = env("UNSUBSCRIBE_MAILTO", default="")
# --- end of preference center ----------------------------------------------------------------

# --- Integrations (DESIGN §3.10): outbound webhooks and ESP feedback ---------------------------
# Webhooks go to https URLs on public addresses only; true (development, tests) also allows
# http and private / loopback targets.
WEBHOOK_ALLOW_PRIVATE_TARGETS = env("WEBHOOK_ALLOW_PRIVATE_TARGETS")
WEBHOOK_TIMEOUT_SECONDS = env.float("WEBHOOK_TIMEOUT_SECONDS", default=10.0)
# Retries: base × 2^(n-1) seconds after the n-th failure, at most the max, for this many hours.
WEBHOOK_RETRY_BASE_SECONDS = env.float("WEBHOOK_RETRY_BASE_SECONDS", default=5.0)
WEBHOOK_RETRY_MAX_SECONDS = env.float("WEBHOOK_RETRY_MAX_SECONDS", default=60.0 * 60)
WEBHOOK_RETRY_HOURS = env.float("WEBHOOK_RETRY_HOURS", default=24.0)
# One delivery run's time budget; a run with more to do queues the next.
WEBHOOK_RUN_SECONDS = env.float("WEBHOOK_RUN_SECONDS", default=50.0)
# django-anymail: its tracking webhooks at /esp/<provider>/tracking/ require HTTP basic auth
# with ANYMAIL_WEBHOOK_SECRET ("user:password"); without it they answer 403.
# Mailgun signs its webhooks and anymail requires that key too (MAILGUN_WEBHOOK_SIGNING_KEY).
ANYMAIL = {"WEBHOOK_SECRET": env("ANYMAIL_WEBHOOK_SECRET"), **_ANYMAIL_ESP}
if env("MAILGUN_WEBHOOK_SIGNING_KEY", default=""):
    ANYMAIL["MAILGUN_WEBHOOK_SIGNING_KEY"] = env("MAILGUN_WEBHOOK_SIGNING_KEY")
