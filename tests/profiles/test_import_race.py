"""An import worker meets a profile someone else stored while its batch was being written.

The test holds a SHARE lock on the profile table: the worker (a real process) looks its
rows up, then waits at its INSERT; the test stores one of the file's people and lets go,
so the worker's INSERT collides on the unique email for real.
"""

import subprocess
import sys

import pytest
from django.db import connection, transaction

from profiles.models import Profile
from tests.factories import ProfileFactory
from tests.postgres import require_postgres, wait_until_blocked, worker_env
from tests.profiles.test_import_helpers import make_job, media  # noqa: F401, F811

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

WORKER = """
import sys
import django

django.setup()
from profiles.imports.jobs import import_job_run

job = import_job_run(job_id=int(sys.argv[1]))
print(job.status, job.created, job.updated, job.failed)
"""


@pytest.fixture(autouse=True)
def _postgres_only():
    require_postgres()


def test_a_profile_stored_meanwhile_sends_the_batch_row_by_row_and_loses_nobody(media):  # noqa: F811
    job = make_job("email,first_name\nada@example.com,Ada\nbob@example.com,Bob\n")
    env = worker_env(MEDIA_ROOT=str(media))

    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("LOCK TABLE profiles_profile IN SHARE MODE")
        worker = subprocess.Popen([sys.executable, "-c", WORKER, str(job.pk)], env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
        wait_until_blocked(1, "its INSERT")
        ProfileFactory(email="ada@example.com", first_name="")
    out, err = worker.communicate(timeout=60)

    assert worker.returncode == 0, err.decode()
    assert out.decode().split() == ["done", "1", "1", "0"]
    assert sorted(Profile.objects.values_list("email", "first_name")) == [
        ("ada@example.com", "Ada"),
        ("bob@example.com", "Bob"),
    ]
