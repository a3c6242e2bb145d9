"""The identifiers already met in a file, with the line that had them first.

`SeenKeys` is a plain dict, for the admin's small files. The fast path's index holds a 1M-row
file's ~2.5M identifiers, each as an 8-byte hash and the line that had it first: on
PostgreSQL `SeenTable`, a temporary table of the import's connection, so the worker's memory
stays flat however long the file; on SQLite `SeenIndex`, sorted numpy runs (~12 bytes an
identifier, merged as they grow like an LSM tree). Both answer a whole batch at once.
"""

from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import suppress

import numpy as np
from django.db import DatabaseError, connection, transaction

Key = tuple[str, str]


def describe(name: str, line: int) -> str:
    return f"duplicate of line {line} (same {name.replace('_', ' ')})"


class SeenKeys:
    """Row by row; holds the row's identifiers and those of the existing profile it matched."""

    def __init__(self):
        self._lines: dict[int, int] = {}

    def first(self, keys: list[Key]) -> str | None:
        for name, value in keys:
            line = self._lines.get(hash((name, value)))
            if line is not None:
                return describe(name, line)
        return None

    def add(self, keys: list[Key], line: int) -> None:
        for key in keys:
            self._lines.setdefault(hash(key), line)


class SeenIndex:
    """Batch by batch: `earlier` before a batch is judged, `add` once it is done."""

    def __init__(self):
        self._runs: list[tuple[np.ndarray, np.ndarray]] = []  # (sorted hashes, lines)

    def __len__(self) -> int:
        return sum(len(hashes) for hashes, _ in self._runs)

    def maybe(self, hashes: list[int]) -> list[int]:
        """Those of `hashes` the index may hold (here: all, it has no filter)."""
        return hashes

    def earlier(self, hashes: list[int], filtered: bool = False) -> dict[int, int]:
        """hash -> line, for those of `hashes` seen in earlier batches."""
        if not hashes or not self._runs:
            return {}
        wanted = np.fromiter(hashes, dtype=np.int64, count=len(hashes))
        found: dict[int, int] = {}
        for run, lines in self._runs:
            at = np.searchsorted(run, wanted).clip(max=len(run) - 1)
            hit = run[at] == wanted
            found.update(zip(wanted[hit].tolist(), lines[at[hit]].tolist(), strict=True))
        return found

    def add(self, first_lines: dict[int, int], *, background: bool = False) -> None:
        """New hashes (none seen before) with their first line (`background`: as
        `SeenTable.add`; here always at once)."""
        if not first_lines:
            return
        hashes = np.fromiter(first_lines.keys(), dtype=np.int64, count=len(first_lines))
        lines = np.fromiter(first_lines.values(), dtype=np.int32, count=len(first_lines))
        order = np.argsort(hashes)
        self._runs.append((hashes[order], lines[order]))
        while len(self._runs) > 1 and len(self._runs[-2][0]) <= 2 * len(self._runs[-1][0]):
            self._merge_last_two()

    def settle(self) -> None:
        """Nothing in the air here (`add` is always at once)."""

    def close(self) -> None:
        self._runs = []

    def _merge_last_two(self) -> None:
        (small, small_lines), (big, big_lines) = self._runs.pop(), self._runs.pop()
        at = np.searchsorted(big, small)
        self._runs.append((np.insert(big, at, small), np.insert(big_lines, at, small_lines)))


class SeenTable:
    """`SeenIndex` kept by PostgreSQL: a temporary table, made empty for each importer.

    The table lives as long as the connection; were the connection replaced mid-file, the
    next batch fails on the missing table (and a resumed run rebuilds it) rather than
    letting duplicates through.
    """

    TABLE = "tandem_import_seen"
    FILTER_BITS = 1 << 26  # 8 MB: ~0.5% false "maybe" at 2.5M hashes (1M rows), 2 probes

    def __init__(self):
        # A Bloom filter in front of the table: only hashes it may hold are asked of it, so a
        # file with 2% duplicates asks about ~3% of its identifiers, not all of them.
        self._filter = np.zeros(self.FILTER_BITS // 8, dtype=np.uint8)
        self._analyzed = False
        self._copying: Future | None = None  # a COPY sent by `add(background=True)`
        self._sender: ThreadPoolExecutor | None = None
        _more_temp_buffers()
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {self.TABLE}")
            cursor.execute(f"CREATE TEMP TABLE {self.TABLE} (h bigint, line integer)")
            # A hash index: the keys are random, a btree would touch a random leaf per insert.
            cursor.execute(f"CREATE INDEX ON {self.TABLE} USING hash (h)")

    def maybe(self, hashes: list[int]) -> list[int]:
        """Those of `hashes` the Bloom filter may hold (no database: safe in any thread)."""
        if not hashes:
            return []
        wanted = np.fromiter(hashes, dtype=np.int64, count=len(hashes))
        return wanted[self._may_hold(wanted)].tolist()

    def earlier(self, hashes: list[int], filtered: bool = False) -> dict[int, int]:
        """hash -> line of those held; `filtered`: `hashes` came through `maybe` already."""
        if not filtered:
            hashes = self.maybe(hashes)
        if not hashes:
            return {}
        self.settle()
        with connection.cursor() as cursor:
            # An array literal: psycopg's list adapter costs ~7 us an element, this ~0.2 us.
            wanted = "{" + ",".join(map(str, hashes)) + "}"
            cursor.execute(
                f"SELECT h, line FROM {self.TABLE} WHERE h = ANY(%s::bigint[])", [wanted]
            )
            return dict(cursor.fetchall())

    def add(self, first_lines: dict[int, int], *, background: bool = False) -> None:
        """`background`: the COPY is sent from a helper thread on this connection while the
        caller goes on (its Python work overlaps the server's inserts, ~2.5 a row into the
        hash index); the next use of the index waits for it. Only outside a transaction
        (the COPY commits by itself), and only once the table is analyzed."""
        if not first_lines:
            return
        self.settle()
        for bits in self._bits(np.fromiter(first_lines, dtype=np.int64, count=len(first_lines))):
            np.bitwise_or.at(self._filter, bits >> 3, (1 << (bits & 7)).astype(np.uint8))
        # Hashes absent from the table by construction.
        data = _binary_copy(first_lines)
        if background and self._analyzed and not connection.in_atomic_block:
            if self._sender is None:
                self._sender = ThreadPoolExecutor(1, thread_name_prefix="import-seen")
            self._copying = self._sender.submit(_copy, connection.connection, self.TABLE, data)
            return
        with connection.cursor() as cursor:
            _copy(connection.connection, self.TABLE, data)
            if not self._analyzed:
                # Autovacuum never analyzes a temporary table: without statistics the planner
                # takes `h = ANY(<a few hundred hashes>)` to match ~half the table and scans
                # all of it, every batch (40 ms a batch at 500k hashes, the file's rows
                # squared overall). Once analyzed, h is known to be unique (a fraction of the
                # rows, whatever their number later): the hash index, ~0.5 ms.
                cursor.execute(f"ANALYZE {self.TABLE}")
                self._analyzed = True

    def close(self) -> None:
        """Drop the table now: a 1M-row file's is ~100 MB, and the worker's connection outlives
        the job. A connection already lost has dropped it already."""
        with suppress(DatabaseError):
            self.settle()
        if self._sender is not None:
            self._sender.shutdown()
            self._sender = None
        with suppress(DatabaseError), connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {self.TABLE}")

    def settle(self) -> None:
        """The COPY sent in the background, if any, done (its error raised here)."""
        if self._copying is not None:
            copying, self._copying = self._copying, None
            with connection.wrap_database_errors:
                copying.result()

    def _bits(self, hashes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mask = self.FILTER_BITS - 1
        return hashes & mask, (hashes >> 32) & mask

    def _may_hold(self, hashes: np.ndarray) -> np.ndarray:
        found = np.ones(len(hashes), dtype=bool)
        for bits in self._bits(hashes):
            found &= (self._filter[bits >> 3] >> (bits & 7)) & 1 == 1
        return found


# COPY's binary format for (h bigint, line integer) rows: each row its field count, then
# each field's length and value, big-endian. numpy lays a batch out in one step (formatting
# text in Python cost ~0.5 us an identifier, and the server's parsing of it more).
_COPY_ROW = np.dtype([("fields", ">i2"), ("h_size", ">i4"), ("h", ">i8"), ("line_size", ">i4"),
                      ("line", ">i4")])  # fmt: skip
_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)  # signature, flags, header extension
_COPY_TRAILER = b"\xff\xff"


def _binary_copy(first_lines: dict[int, int]) -> bytes:
    rows = np.empty(len(first_lines), dtype=_COPY_ROW)
    rows["fields"], rows["h_size"], rows["line_size"] = 2, 8, 4
    rows["h"] = np.fromiter(first_lines.keys(), dtype=np.int64, count=len(first_lines))
    rows["line"] = np.fromiter(first_lines.values(), dtype=np.int32, count=len(first_lines))
    return _COPY_HEADER + rows.tobytes() + _COPY_TRAILER


def _copy(raw, table: str, data: bytes) -> None:
    """On the psycopg connection `raw`: from `add`, or from its helper thread (autocommit)."""
    copy_sql = f"COPY {table} (h, line) FROM STDIN (FORMAT binary)"
    with raw.cursor() as cursor, cursor.copy(copy_sql) as copy:
        copy.write(data)


TEMP_BUFFERS_MB = 128


def _more_temp_buffers() -> None:
    """Let the session's temporary tables grow to TEMP_BUFFERS_MB in memory (PostgreSQL's
    default is 8 MB). The index's hash index takes ~20 MB a million identifiers: once it
    outgrows the buffers, every insert evicts a random page to disk and reads one back (a
    hash inserted cost 5-9 us at 1.9M instead of ~2). The server allocates them only as the
    tables grow, and only for this connection. PostgreSQL refuses the change once the
    session has touched a temporary table (a worker's earlier job): then it stays as it is.
    """
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT setting::bigint * 8 / 1024 FROM pg_settings WHERE name = 'temp_buffers'"
        )
        if cursor.fetchone()[0] >= TEMP_BUFFERS_MB:
            return
    with suppress(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"SET temp_buffers = '{TEMP_BUFFERS_MB}MB'")


def seen_index() -> "SeenIndex | SeenTable":
    return SeenTable() if connection.vendor == "postgresql" else SeenIndex()
