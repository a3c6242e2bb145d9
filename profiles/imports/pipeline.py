"""Two writers: batch N's SQL on one connection while batch N+1's runs on another.

On PostgreSQL one backend on one core did most of an import's work while this process
waited. Here each batch is written in its own transaction by one of two writer threads,
each with its own connection, while this thread reads, cleans and dedupes the next one.
The rules stay those of the one-connection path (`Importer.run_batch`):

- Order: batches commit in file order, whatever order their SQL finishes in. A writer holds
  its transaction open once the SQL has answered, and commits (with the job's counters and
  `committed_offset`, on its own connection) only when this thread says so, after the batch
  before it committed. So `committed_offset` is always the end of a committed prefix of the
  file, and a resume after a worker restart starts right after it, as before.
- Dedupe: a batch is deduped against the file so far, including the batch still in the air
  (its rows' identifiers are known before its SQL runs). What the older batch's SQL learns
  (the other identifiers of the existing profiles it matched) arrives later: if the newer
  batch names one of them, the newer batch is rolled back and done again on this thread's
  connection once the older one has committed (the one-connection path: same lines, same
  reasons). A committed batch's identifiers go to the duplicate index in the background,
  once the next batch is handed out (`Importer.flush`); until then they count as in flight.
- Locks: the batches' rows name disjoint identifiers, so their inserts never wait on each
  other; both may touch one existing profile only in that case. The newer batch then waits
  for the older one's commit (harmless). The older one may wait on the newer one, which waits
  on this thread: `lock_timeout` ends that wait; the failed batch and every batch after it
  are rolled back and done again here, one by one.
- Any error in a writer's batch (IntegrityError: a profile stored meanwhile; a lock timeout)
  rolls back it and the batches after it; they are done again here as the one-connection
  path does them (with its row-by-row retry).
"""

import logging
import queue
import threading
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from dataclasses import dataclass, field

from django.db import DatabaseError, connection, transaction

from profiles.imports.fastpath import BatchResult, Importer, Prepared

LOCK_TIMEOUT = "3s"
logger = logging.getLogger(__name__)


class _Rollback(Exception):
    pass


@dataclass
class Flight:
    """A batch handed to a writer, until it commits or is rolled back."""

    prepared: Prepared
    result: BatchResult  # the failures found here (cleaning, dedupe)
    fresh: dict[int, int]  # identifiers the batch meets first -> line
    rows: list  # the rows to write (clean, not duplicates)
    answer: Future = field(default_factory=Future)  # the writer's: (BatchResult, claims)
    verdict: Future = field(default_factory=Future)  # ours: a commit step, or None
    ended: Future | None = None  # the writer's: True committed, False rolled back

    @property
    def records(self):
        return self.prepared.records


class Writer:
    """A thread with its own database connection, running one batch's transaction at a time."""

    def __init__(self, name: str):
        self._tasks: queue.SimpleQueue = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    def submit(self, work: Callable[[], bool]) -> Future:
        future: Future = Future()
        self._tasks.put((work, future))
        return future

    def close(self) -> None:
        self._tasks.put(None)
        self._thread.join()

    def _loop(self) -> None:
        try:
            while (task := self._tasks.get()) is not None:
                work, future = task
                try:
                    future.set_result(work())
                except BaseException as exc:  # noqa: BLE001 (handed to the waiting thread)
                    future.set_exception(exc)
        finally:
            connection.close()


def _transaction(importer: Importer, flight: Flight) -> bool:
    """In a writer: the batch's SQL, then wait for the verdict; commit or roll back."""
    rows, cells = flight.rows, dict(flight.records)
    try:
        with transaction.atomic():
            try:
                with connection.cursor() as cursor:
                    cursor.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
                answer = importer.write_rows(rows, cells, flight.prepared.staged)
            except BaseException as exc:
                flight.answer.set_exception(exc)
                raise _Rollback from exc
            flight.answer.set_result(answer)
            commit = flight.verdict.result()
            if commit is None:
                raise _Rollback
            commit()
    except _Rollback:
        return False
    return True


def run(
    importer: Importer,
    batches: Iterable[list],
    *,
    commit_step: Callable[[list, BatchResult], Callable[[], None]],
    landed: Callable[[list, BatchResult], bool],
    one_by_one: Callable[[list, Prepared], bool],
    writers: int = 2,
) -> bool:
    """Write the batches with `writers` writers; True once all are committed, False if
    `landed` (told of each committed batch, in order) asked to stop.

    `commit_step(records, result)`: what the batch's transaction does last on the writer's
    connection (the job's counters and offset); `one_by_one(records, prepared)`: the batch
    done on this thread's connection (the one-connection path), True to stop after it.
    """
    pool = [Writer(f"import-writer-{n}") for n in range(writers)]
    flights: deque[Flight] = deque()
    turn, counts = 0, {"written": 0, "redone": 0}

    def redo(records, prepared) -> bool:
        counts["redone"] += 1
        return one_by_one(records, prepared)

    try:
        for records in batches:
            prepared = importer.prepare(records)
            while len(flights) >= writers:
                if _land(importer, flights, commit_step, landed, redo):
                    return False
            pending: dict[int, int] = dict(importer.unindexed)  # landed, not yet indexed
            for flight in flights:
                pending.update(flight.fresh)
            result, rows, _, fresh = importer.dedupe(prepared, pending)
            flight = Flight(prepared, result, fresh, rows)
            flight.ended = pool[turn].submit(lambda flight=flight: _transaction(importer, flight))
            turn = (turn + 1) % writers
            flights.append(flight)
            counts["written"] += 1
            importer.flush()  # the index's COPY overlaps the next batch's cleaning
        while flights:
            if _land(importer, flights, commit_step, landed, redo):
                return False
        return True
    finally:
        _abandon(flights)
        for writer in pool:
            writer.close()
        logger.debug(
            "%s batches on %s writers, %s done again on one connection",
            counts["written"], writers, counts["redone"],
        )  # fmt: skip


def _abandon(flights: deque) -> None:
    """Roll back every batch still in the air (stopping, or redoing them here)."""
    for flight in flights:
        if not flight.verdict.done():
            flight.verdict.set_result(None)
    for flight in flights:
        try:
            flight.ended.result()
        except BaseException:  # noqa: BLE001, S110 (rolled back either way)
            pass
    flights.clear()


def _land(importer, flights: deque, commit_step, landed, one_by_one) -> bool:
    """The oldest batch in the air committed (or it and those after it done again here).
    True to stop."""
    flight = flights[0]
    try:
        written, claims = flight.answer.result()
    except DatabaseError:
        # A profile stored meanwhile, a lock wait cut short: this batch and the later ones
        # again, on this thread's connection.
        redo = list(flights)
        _abandon(flights)
        return _redo(importer, redo, one_by_one)
    result = flight.result
    result.add(written)
    flight.verdict.set_result(commit_step(flight.records, result))
    if not flight.ended.result():
        raise RuntimeError("an import batch was rolled back after its commit was asked")
    flights.popleft()
    others = importer.landed(flight.fresh, claims)
    stop = landed(flight.records, result)
    if others and any(not others.isdisjoint(later.fresh) for later in flights):
        # A later batch names a profile this one matched: it is a duplicate there.
        redo = list(flights)
        _abandon(flights)
        return stop or _redo(importer, redo, one_by_one)
    return stop


def _redo(importer, redo: list[Flight], one_by_one) -> bool:
    # The one-connection path asks the index alone, in transactions on this thread's
    # connection: the index's COPY must be done before the first one begins.
    importer.flush(background=False)
    for flight in redo:
        if one_by_one(flight.records, flight.prepared):
            return True
    return False
