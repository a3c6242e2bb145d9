"""django-q2 entry points (thin): the minute tick, the immediate run after an event, and the
dispatch of the messages a tick queued."""

import logging
import time

from journeys import engine
from journeys.manual import scan_date_traits

logger = logging.getLogger(__name__)


def tick(batch_size: int = engine.BATCH_SIZE) -> dict:
    scan_date_traits()
    report = engine.tick(batch_size=batch_size)
    return {"enrollments": report.enrollments, "steps": report.steps, "batches": report.batches,
            "handed": report.handed}  # fmt: skip


def run_enrollments(ids: list[int]) -> dict:
    report = engine.run_ids(ids)
    return {"enrollments": report.enrollments, "steps": report.steps}


def dispatch_messages(ids: list[int]) -> dict:
    """Send the messages a tick handed over, then run on the enrollments waiting for them."""
    from journeys import sending  # channels loads after the step registry

    started = time.process_time()
    rows = sending.dispatch_handed(ids)
    sent = time.process_time()
    report = engine.resume(rows)
    # The split of this worker's CPU between delivery and the journeys (bench/tick.py reads it)
    logger.debug("dispatch task: %d messages, %.4f s CPU; ran on %d enrollments, %d steps, "
                 "%.4f s CPU", len(rows), sent - started, report.enrollments, report.steps,
                 time.process_time() - sent)  # fmt: skip
    return {"messages": len(rows), "enrollments": report.enrollments, "steps": report.steps}
