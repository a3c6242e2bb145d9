"""The webhook pool (config.settings_webhooks): the webhooks only, with lean middleware."""

import pytest
from django.core.management import call_command
from django.urls import resolve

from channels.models import MessageStatus
from config import settings_webhooks as pool
from tests.channels.factories import MessageFactory, SmsTemplateFactory
from tests.channels.test_webhooks_twilio import SID, post_callback


@pytest.fixture
def webhook_pool(settings, twilio):
    settings.ROOT_URLCONF = pool.ROOT_URLCONF
    settings.MIDDLEWARE = pool.MIDDLEWARE
    settings.SILENCED_SYSTEM_CHECKS = pool.SILENCED_SYSTEM_CHECKS
    return settings


@pytest.mark.django_db
def test_the_pool_applies_a_signed_status_callback(client, webhook_pool):
    message = MessageFactory(template=SmsTemplateFactory(), status=MessageStatus.SENT,
                             provider="twilio", provider_message_id=SID)  # fmt: skip

    assert post_callback(client, "twilio_status_delivered.txt").status_code == 204
    message.refresh_from_db()
    assert message.status == MessageStatus.DELIVERED
    assert post_callback(client, "twilio_status_sent.txt", token="other").status_code == 403


@pytest.mark.django_db
def test_the_pool_serves_no_admin_no_api_and_no_customer_pages(client, webhook_pool):
    for path in ("/admin/", "/api/v1/track", "/preferences/x/", "/l/abc"):
        assert client.get(path).status_code == 404


def test_the_pool_passes_the_deploy_check_in_production(webhook_pool):
    webhook_pool.DEBUG = False
    webhook_pool.SECRET_KEY = "x" * 20 + "production-secret-key-for-the-check-" + "y" * 20
    webhook_pool.SECURE_SSL_REDIRECT = True
    webhook_pool.SESSION_COOKIE_SECURE = True
    webhook_pool.CSRF_COOKIE_SECURE = True
    webhook_pool.SECURE_HSTS_SECONDS = 31536000
    webhook_pool.SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    webhook_pool.SECURE_HSTS_PRELOAD = True

    call_command("check", "--deploy", "--fail-level", "WARNING", verbosity=0)


@pytest.mark.parametrize(
    "path",
    [
        "/webhooks/twilio/status/",
        "/webhooks/twilio/inbound/",
        "/webhooks/anymail/sendgrid/tracking/",
        "/webhooks/anymail/postmark/tracking/",
        "/healthz",
    ],
)
def test_the_pool_serves_each_webhook_path_with_the_main_sites_view(path):
    assert resolve(path, "config.urls_webhooks").func == resolve(path, "config.urls").func
