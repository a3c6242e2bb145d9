"""django-q2 entry points (thin): the minute tick, the immediate run after an event, and the
dispatch of the messages a tick queued."""

from journeys import engine
from journeys.manual import scan_date_traits


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

    rows = sending.dispatch_handed(ids)
    report = engine.resume(rows)
    return {"messages": len(rows), "enrollments": report.enrollments, "steps": report.steps}
