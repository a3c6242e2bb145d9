import os

import pytest

from tests.factories import ProfileFactory

BROWSER_REQUIRED = os.environ.get("TANDEM_REQUIRE_BROWSER") == "1"


def pytest_sessionfinish(session, exitstatus):
    """In CI a run whose browser tests were skipped (or never ran) is a failed run."""
    if not BROWSER_REQUIRED or exitstatus != 0:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    passed = [r for r in reporter.stats.get("passed", []) if "tests/browser/" in r.nodeid]
    if not passed:
        reporter.write_line("TANDEM_REQUIRE_BROWSER=1 but no browser test passed", red=True)
        session.exitstatus = 1


@pytest.fixture
def profile(db):
    return ProfileFactory()
