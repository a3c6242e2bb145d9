"""Once per django-q2 worker process, at its start (django-q2's `post_spawn` signal)."""

from __future__ import annotations

import gc


def freeze_startup_heap(sender=None, proc_name: str = "", **kwargs) -> None:
    """Keep the start-up heap out of the cyclic garbage collector's full passes.

    A worker holds well over 100k long-lived objects (Django's apps, models, URL patterns, template
    and phone data), and a full collection walks all of them: in bench/dispatch.py
    (20,000 messages) one took ~75 ms, about once per 10,000 messages (~3% of dispatch's
    CPU). What exists when the worker starts is collected first and then frozen: it is not
    garbage. Frozen, the same full collections took ~3 ms. Objects made later are collected
    as usual, and reference counting still frees frozen ones. django-q2 recycles a worker
    after `recycle` tasks, and the new process freezes its own heap.
    """
    gc.collect()
    gc.freeze()
