"""Settings for a pool of web processes that serves only the provider webhooks.

Run it beside the main pool and route `/webhooks/` to it (README.md, "Running in
production"):

    granian --interface wsgi --port 8001 --workers 2 --blocking-threads 1 --no-ws \
        config.wsgi_webhooks:application

(`gunicorn config.wsgi_webhooks:application` serves it too, at more CPU a request.)

Same database, secrets and apps as `config.settings`; what differs is what runs for each
request. The webhooks are signed and CSRF-exempt, and read no session, user or flash
message, so the pool keeps only the security middleware (HTTPS redirect, HSTS,
X-Frame-Options; the host check is Django's own) and a URLconf with nothing but the
webhooks and the health check: about a third less CPU a callback (bench/README.md), which
is what a provider's burst of status callbacks is made of.
"""

from config.settings import *  # noqa: F403

ROOT_URLCONF = "config.urls_webhooks"
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

# The admin is not served here, so its middleware checks do not apply; nor does CSRF
# middleware, which signed webhooks are exempt from.
SILENCED_SYSTEM_CHECKS = [
    "admin.E408",
    "admin.E409",
    "admin.E410",
    "security.W003",
]
