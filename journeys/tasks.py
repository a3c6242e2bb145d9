"""django-q2 entry points (thin): the minute tick and the immediate run after an event."""

from journeys import engine
from journeys.manual import scan_date_traits


def tick(batch_size: int = engine.BATCH_SIZE) -> dict:
    scan_date_traits()
    report = engine.tick(batch_size=batch_size)
    return {"enrollments": report.enrollments, "steps": report.steps, "batches": report.batches}


def run_enrollments(ids: list[int]) -> dict:
    report = engine.run_ids(ids)
    return {"enrollments": report.enrollments, "steps": report.steps}
