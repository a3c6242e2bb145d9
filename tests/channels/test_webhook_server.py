"""The webhook pool as deployed: granian serving config.wsgi_webhooks, real HTTP on loopback."""

import http.client
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import parse_qsl

import pytest
import redis
from twilio.request_validator import RequestValidator

from channels.webhooks import inbox
from tests.channels.helpers import fixture_text
from tests.channels.test_webhooks_twilio import PATH

GRANIAN = Path(sys.executable).parent / "granian"
TOKEN = "server-test-token"
PUBLIC = "https://tandem.example.com"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def redis_url():
    url = os.environ.get("REDIS_URL")
    if not url:
        pytest.skip("needs Redis: REDIS_URL=redis://...")
    client = redis.Redis.from_url(url)
    client.delete(inbox.KEY, inbox.LOCK)
    yield url
    client.delete(inbox.KEY, inbox.LOCK)


@pytest.fixture
def server(tmp_path, redis_url):
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'unused.sqlite3'}",
        "SECRET_KEY": "webhook-server-test-" + "x" * 40,
        "DEBUG": "false",
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "false",
        "PUBLIC_BASE_URL": PUBLIC,
        "TWILIO_AUTH_TOKEN": TOKEN,
        "TWILIO_STATUS_QUEUE": "true",
        "REDIS_URL": redis_url,
    }
    env.pop("DJANGO_SETTINGS_MODULE", None)  # config.wsgi_webhooks sets its own
    command = [str(GRANIAN), "--interface", "wsgi", "--host", "127.0.0.1", "--port", str(port)]
    proc = subprocess.Popen(
        [
            *command,
            "--workers",
            "1",
            "--blocking-threads",
            "1",
            "--no-ws",
            "config.wsgi_webhooks:application",
        ],
        cwd=Path(__file__).resolve().parents[2],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"granian did not start:\n{proc.stdout.read().decode()[-3000:]}")
            time.sleep(0.1)
    yield port
    proc.terminate()
    proc.wait(timeout=20)


def post(port: int, fixture: str, signature: str | None = None) -> int:
    body = fixture_text(fixture)
    if signature is None:
        params = dict(parse_qsl(body))
        signature = RequestValidator(TOKEN).compute_signature(PUBLIC + PATH, params)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Twilio-Signature": signature,
        "Connection": "close",
    }
    conn.request("POST", PATH, body=body.encode(), headers=headers)
    status = conn.getresponse().status
    conn.close()
    return status


def test_granian_serves_the_webhook_pool_and_queues_a_signed_callback(server, redis_url):
    client = redis.Redis.from_url(redis_url)

    assert post(server, "twilio_status_delivered.txt", signature="bm90IGl0") == 403
    assert client.llen(inbox.KEY) == 0
    assert post(server, "twilio_status_delivered.txt") == 204
    assert post(server, "twilio_status_sent.txt") == 204

    queued = [json.loads(item) for item in client.lrange(inbox.KEY, 0, -1)]
    assert [status for _, status, *_ in queued] == ["delivered", "sent"]
