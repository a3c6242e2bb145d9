"""WSGI entry of the webhook pool (see config/settings_webhooks.py)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings_webhooks"
application = get_wsgi_application()
