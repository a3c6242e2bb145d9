"""Tandem settings: everything that varies between machines comes from the environment.

django-environ reads `.env` in the project folder when present; `.env.example` lists
every variable with a one-line comment.
"""

from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
if (BASE_DIR / ".env").is_file():
    environ.Env.read_env(BASE_DIR / ".env")

DEBUG = env.bool("DEBUG", default=False)
# A fixed key only serves local development and tests; `check --deploy` flags it (W009)
# and production must set SECRET_KEY.
SECRET_KEY = env("SECRET_KEY", default="django-insecure-local-development-only")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
PUBLIC_BASE_URL = env("PUBLIC_BASE_URL", default="http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_q",
    "phonenumber_field",
    "import_export",
    "anymail",
    "profiles",
    "compliance",
    "channels",
    "journeys",
    "demo",
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
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database ---------------------------------------------------------------------------
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'tandem.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web server read while the django-q2 worker writes; IMMEDIATE takes the
    # write lock at BEGIN so two writers queue on the busy timeout instead of failing
    # with "database is locked" when a read transaction tries to upgrade.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": (
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=30000;"
        ),
    }
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
    # Off for a pool that only serves webhooks (bench/README.md, webhooks.py): one round trip
    # fewer a request; a connection the server dropped then fails one request, then is replaced.
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = env.bool("CONN_HEALTH_CHECKS", default=True)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Task queue (django-q2) ---------------------------------------------------------------
REDIS_URL = env("REDIS_URL", default="")
Q_CLUSTER = {
    "name": env("Q_CLUSTER_NAME", default="tandem"),
    "workers": env.int("Q_WORKERS", default=2),
    "recycle": 500,
    # A task may run 5 minutes; the broker hands it out again only after `retry`, so a
    # slow task is never run twice at once (timeout < retry).
    "timeout": 300,
    "retry": 360,
    # A task that keeps failing stops after 3 tries and stays in Failed tasks for review.
    "max_attempts": 3,
    "ack_failures": True,
    # Successful results are not stored: the default (250) makes the monitor prune the
    # success table after every task, which caps the cluster at ~67 tasks/s. Failures are
    # always stored. Our own models record what each task did.
    "save_limit": -1,
    "queue_limit": 200,
    "catch_up": False,
    "label": "Task queue",
    "poll": 0.5,
}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"

# --- Auth, i18n, static ---------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = env("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
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
MEDIA_ROOT = env("MEDIA_ROOT", default=str(BASE_DIR / "media"))
MEDIA_URL = "media/"

# --- Security ---------------------------------------------------------------------------------
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_X_FORWARDED_PROTO", "https") if env.bool("BEHIND_TLS_PROXY", default=False) else None
)
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SESSION_COOKIE_SECURE = env.bool("SECURE_COOKIES", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("SECURE_COOKIES", default=not DEBUG)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# --- Email (anymail: any ESP by configuration) --------------------------------------------------
EMAIL_BACKEND = env("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="Tandem <hello@example.com>")
ANYMAIL = env.dict("ANYMAIL", default={})
ANYMAIL_WEBHOOK_SECRET = env("ANYMAIL_WEBHOOK_SECRET", default="")
if ANYMAIL_WEBHOOK_SECRET:
    ANYMAIL["WEBHOOK_SECRET"] = ANYMAIL_WEBHOOK_SECRET

# --- SMS (Twilio) -----------------------------------------------------------------------------
TWILIO_ACCOUNT_SID = env("TWILIO_ACCOUNT_SID", default="")
TWILIO_AUTH_TOKEN = env("TWILIO_AUTH_TOKEN", default="")
TWILIO_AUTH_TOKEN_SECONDARY = env("TWILIO_AUTH_TOKEN_SECONDARY", default="")
TWILIO_MESSAGING_SERVICE_SID = env("TWILIO_MESSAGING_SERVICE_SID", default="")
TWILIO_FROM_NUMBER = env("TWILIO_FROM_NUMBER", default="")
# Status callbacks: verify, queue in Redis, answer 204, apply in batches (needs REDIS_URL;
# channels/webhooks/inbox.py). Off: each callback is applied before its request answers.
TWILIO_STATUS_QUEUE = env.bool("TWILIO_STATUS_QUEUE", default=False)

# --- Brand and compliance defaults ----------------------------------------------------------
COMPANY_NAME = env("COMPANY_NAME", default="Tandem Demo Shop")
COMPANY_POSTAL_ADDRESS = env(
    "COMPANY_POSTAL_ADDRESS", default="1 Example Street, Springfield, IL 62701, USA"
)
SMS_BRAND_NAME = env("SMS_BRAND_NAME", default="TandemShop")
PHONE_DEFAULT_REGION = env("PHONE_DEFAULT_REGION", default="US")
PHONENUMBER_DEFAULT_REGION = PHONE_DEFAULT_REGION
PHONENUMBER_DB_FORMAT = "E164"
PHONENUMBER_DEFAULT_FORMAT = "E164"
QUIET_HOURS_DEFAULT_TIME_ZONE = env("QUIET_HOURS_DEFAULT_TIME_ZONE", default="America/New_York")
FREQUENCY_CAP_PER_DAY = env.int("FREQUENCY_CAP_PER_DAY", default=3)
FREQUENCY_MIN_GAP_MINUTES = env.int("FREQUENCY_MIN_GAP_MINUTES", default=60)
# Who answers STOP/START with a confirmation text: "twilio" (Twilio's default handling or
# Advanced Opt-Out, or the carrier on toll-free) or "app" (we send it). Default: Twilio, so
# the app answers keywords with empty TwiML and never sends a second confirmation.
SMS_CONFIRMATION_OWNER = env("SMS_CONFIRMATION_OWNER", default="twilio")
SMS_HELP_CONTACT = env("SMS_HELP_CONTACT", default="help@example.com")
SMS_PROGRAM_NAME = env("SMS_PROGRAM_NAME", default="offers and order updates")
SMS_MESSAGE_FREQUENCY = env("SMS_MESSAGE_FREQUENCY", default="Up to 6 msgs/month")
SMS_EXTRA_OPT_OUT_KEYWORDS = env.list(
    "SMS_EXTRA_OPT_OUT_KEYWORDS", default=["ARRET", "PARAR", "CANCELAR", "BAJA"]
)
# Links to the hosted pages (preferences, unsubscribe, confirm) are signed and work this long.
HOSTED_LINK_MAX_AGE_DAYS = env.int("HOSTED_LINK_MAX_AGE_DAYS", default=400)
# Requests per minute per client IP on the hosted pages (0 turns the limit off).
HOSTED_PAGES_RATE_PER_MINUTE = env.int("HOSTED_PAGES_RATE_PER_MINUTE", default=60)

# --- API ------------------------------------------------------------------------------------------
# Segment limits a single call to 32 KB and a batch to 500 KB; we allow some headroom.
API_MAX_BODY_BYTES = env.int("API_MAX_BODY_BYTES", default=1_048_576)
API_MAX_BATCH_ITEMS = env.int("API_MAX_BATCH_ITEMS", default=1000)
DATA_UPLOAD_MAX_MEMORY_SIZE = max(API_MAX_BODY_BYTES, 2_621_440)

# --- Journeys --------------------------------------------------------------------------------
# Demo only: divide every journey wait, engagement window and send expiry by this (60 turns
# an hour into a minute, so the abandoned-cart flow plays out in about an hour). Keep 1 in
# production. Quiet hours and frequency caps always run on real time.
JOURNEY_TIME_SCALE = env.float("JOURNEY_TIME_SCALE", default=1.0)
# A tick's claim on an enrollment lasts this long; a killed worker's people are picked up
# by another tick after it. Longer than a batch takes.
JOURNEYS_LEASE_SECONDS = env.int("JOURNEYS_LEASE_SECONDS", default=300)
# A send step waits this long for the dispatch task its tick queued, then hands its message
# over again (a lost task strands nobody; the message's key and dispatch's claim send once).
JOURNEYS_HANDOFF_WAIT_SECONDS = env.int("JOURNEYS_HANDOFF_WAIT_SECONDS", default=300)

# --- Cache (rate limits, adapter send pacing) -------------------------------------------------
# Shared across processes with Redis; per process otherwise (one machine, one web process).
CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
        if REDIS_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    "loggers": {"django_q": {"level": env("Q_LOG_LEVEL", default="WARNING")}},
}

# --- CSV import (profiles.imports) ------------------------------------------------------------
# Rows per committed batch; a restarted worker resumes after the last committed one.
IMPORT_BATCH_SIZE = env.int("IMPORT_BATCH_SIZE", default=5000)
# PostgreSQL: batches written on this many connections at once, committed in file order
# (profiles.imports.pipeline); 1: one connection.
IMPORT_WRITERS = env.int("IMPORT_WRITERS", default=2)
# A background import works this long per task, then queues its next slice (below Q timeout).
IMPORT_TASK_SECONDS = env.int("IMPORT_TASK_SECONDS", default=240)
# A running job whose worker has been silent this long may be taken over by another.
IMPORT_JOB_STALE_SECONDS = env.int("IMPORT_JOB_STALE_SECONDS", default=120)
# The admin's row-by-row preview import takes files up to this many rows; bigger files go
# through a background import job.
IMPORT_ADMIN_MAX_ROWS = env.int("IMPORT_ADMIN_MAX_ROWS", default=5000)
# profiles is below compliance: the import reaches the consent ledger through this name.
IMPORT_CONSENT_WRITER = "compliance.bulk.consent_import_many"
# Exports open in spreadsheets: cells starting with = + - @ are escaped (CSV injection).
IMPORT_EXPORT_ESCAPE_FORMULAE_ON_EXPORT = True

# --- Channels: outbox, adapters, dispatch -----------------------------------------------------
# channel -> adapter class; an adapter that is not configured (no credentials) gives way to
# the channel's console adapter, which keeps the message readable in the admin outbox.
CHANNEL_ADAPTERS = {
    "email": "channels.adapters.email.EmailAdapter",
    "sms": "channels.adapters.twilio_sms.TwilioSmsAdapter",
    **env.dict("CHANNEL_ADAPTERS", default={}),
}
CHANNEL_CONSOLE_ADAPTERS = {
    "email": "channels.adapters.console.ConsoleEmailAdapter",
    "sms": "channels.adapters.console.ConsoleSmsAdapter",
}
# Messages per second per sender (Twilio: 1 long code, 3 toll-free, 100 short code); 0 = none.
SMS_SEND_RATE_PER_SECOND = env.float("SMS_SEND_RATE_PER_SECOND", default=1.0)
EMAIL_SEND_RATE_PER_SECOND = env.float("EMAIL_SEND_RATE_PER_SECOND", default=0.0)
# Append "Reply STOP to opt out" to every marketing SMS, not only the first to a number.
SMS_STOP_FOOTER_EVERY_MESSAGE = env.bool("SMS_STOP_FOOTER_EVERY_MESSAGE", default=False)
# Price of one SMS segment, for the admin's cost estimate.
SMS_SEGMENT_PRICE = env("SMS_SEGMENT_PRICE", default="0.0083")
# A message left in "sending" this long (a crash mid-send) becomes "unknown", never resent.
SENDING_TIMEOUT_MINUTES = env.int("SENDING_TIMEOUT_MINUTES", default=15)
# Transient provider errors: tries in all, and the first backoff (doubling, with jitter).
DISPATCH_MAX_ATTEMPTS = env.int("DISPATCH_MAX_ATTEMPTS", default=5)
DISPATCH_RETRY_BASE_SECONDS = env.int("DISPATCH_RETRY_BASE_SECONDS", default=30)
# Seconds before an outbound provider call gives up (Twilio and anymail's ESP APIs).
PROVIDER_TIMEOUT_SECONDS = env.float("PROVIDER_TIMEOUT_SECONDS", default=10.0)
ANYMAIL.setdefault("REQUESTS_TIMEOUT", PROVIDER_TIMEOUT_SECONDS)
