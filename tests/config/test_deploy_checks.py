"""Guards on the project's configuration: migrations and Django's deployment checks."""

import secrets

import pytest
from django.core import checks
from django.core.management import call_command


@pytest.fixture
def production_settings(settings):
    settings.DEBUG = False
    settings.SECRET_KEY = secrets.token_urlsafe(50)
    settings.SECURE_SSL_REDIRECT = True
    settings.SESSION_COOKIE_SECURE = True
    settings.CSRF_COOKIE_SECURE = True
    settings.SECURE_HSTS_SECONDS = 31536000
    return settings


def _deploy_warnings() -> list[str]:
    issues = checks.run_checks(include_deployment_checks=True)
    return sorted(issue.id for issue in issues if issue.level >= checks.WARNING)


@pytest.mark.django_db
def test_no_model_change_is_missing_a_migration():
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)


def test_production_settings_pass_the_deploy_check_once_hsts_covers_subdomains(
    production_settings,
):
    # Both are opt-in environment variables (SECURE_HSTS_INCLUDE_SUBDOMAINS,
    # SECURE_HSTS_PRELOAD): a deploy that serves every subdomain over TLS sets them.
    production_settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    production_settings.SECURE_HSTS_PRELOAD = True

    call_command("check", "--deploy", "--fail-level", "WARNING", verbosity=0)


def test_with_default_hsts_scope_the_deploy_check_warns_only_about_hsts_scope(
    production_settings,
):
    assert _deploy_warnings() == ["security.W005", "security.W021"]


def test_the_development_secret_key_is_flagged_in_production(production_settings):
    production_settings.SECRET_KEY = "django-insecure-local-development-only"

    assert "security.W009" in _deploy_warnings()
