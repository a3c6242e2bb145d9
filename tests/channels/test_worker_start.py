"""A django-q2 worker freezes its start-up heap, and an import job gives it back."""

import gc

import pytest
from django_q.signals import post_spawn

from profiles.imports.jobs import _few_collections


@pytest.fixture
def unfrozen():
    gc.unfreeze()
    yield
    gc.unfreeze()


def test_a_spawned_worker_keeps_its_startup_heap_out_of_the_collector(unfrozen):
    assert gc.get_freeze_count() == 0

    post_spawn.send(sender="django_q", proc_name="Worker-1")  # as django_q.worker does

    assert gc.get_freeze_count() > 10_000  # Django's apps, models, URL patterns ...


def test_an_import_job_leaves_the_worker_heap_frozen(unfrozen):
    post_spawn.send(sender="django_q", proc_name="Worker-1")
    job_garbage = [[n] for n in range(1_000)]

    with _few_collections():
        del job_garbage

    assert gc.get_freeze_count() > 10_000


def test_an_import_job_outside_a_worker_unfreezes_what_it_froze(unfrozen):
    with _few_collections():
        assert gc.get_freeze_count() > 0

    assert gc.get_freeze_count() == 0
