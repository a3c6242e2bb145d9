"""The fast path: rows cleaned by ProfileResource, written in set-based batches.

Per batch: clean, dedupe against the file so far, then write. On PostgreSQL the write is
`fastsql`: the rows staged once and everything else in one round trip of SQL, while this
process reads and cleans the next batch (`read_ahead`). Elsewhere (SQLite) it is Python
here: one lookup of the profiles the batch names, one insert of the new ones, one update of
the changed ones, then the consent requests in bulk. Either way unchanged rows write
nothing. The caller holds the transaction (one per batch).
"""

from collections import Counter
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from profiles.imports import consent, store
from profiles.imports.fastsql import SqlBatch
from profiles.imports.formats import Plan
from profiles.imports.resource import (
    PERSON_FIELDS,
    CleanRow,
    ProfileResource,
    RowInvalid,
    profile_changes,
)
from profiles.imports.seen import SeenKeys, describe, seen_index  # noqa: F401 (SeenKeys: admin)


@dataclass
class BatchResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: int = 0
    consent_applied: int = 0
    consent_refused: int = 0
    # (line, reason, cells): failed rows, and rows that landed with a note
    problems: list[tuple[int, str, list[str]]] = field(default_factory=list)

    def add(self, other: "BatchResult") -> None:
        for name in ("created", "updated", "unchanged", "failed"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.consent_applied += other.consent_applied
        self.consent_refused += other.consent_refused
        self.problems += other.problems


Cleaned = tuple[list[CleanRow], list[tuple[int, str]]]  # rows, and (line, reason) failures


@dataclass
class Prepared:
    """A batch, read and cleaned; read ahead, also with what its dedupe and stage need."""

    records: list[tuple[int, list[str]]] | None
    cleaned: Cleaned | None = None
    hashes: list[list[int]] | None = None  # each clean row's identifier hashes
    maybe: list[int] | None = None  # those the duplicate index may hold (Bloom filter)
    staged: dict[int, tuple] | None = None  # line -> stage row (PostgreSQL)


class Importer:
    def __init__(
        self,
        *,
        plan: Plan,
        headers: list[str],
        policy: consent.ConsentPolicy,
        overwrite: bool = False,
        dry_run: bool = False,
        announce_created: bool = False,
    ):
        self.clean_row = ProfileResource().row_cleaner(plan, headers)
        self.width = len(headers)
        self.policy, self.overwrite, self.dry_run = policy, overwrite, dry_run
        # "Enrol in journeys": new profiles are announced like any created profile
        # (journeys' "profile created" trigger); by default an import announces nothing.
        self.announce_created = announce_created
        self.seen = seen_index()
        # PostgreSQL: everything after the COPY in SQL (fastsql); SQLite: the Python path.
        staged = consent.staged_writer() if store.is_postgres() else None
        self.sql = None
        if staged is not None:
            announce = announce_created and not dry_run
            self.sql = SqlBatch(plan=plan, headers=headers, policy=policy, overwrite=overwrite,
                                dry_run=dry_run, consent_sql=staged, announce=announce)  # fmt: skip
        self._source = None  # the batches still to come (read_ahead)
        self._ahead: Prepared | None = None  # the next batch, read and cleaned early
        self._prepared: Prepared | None = None  # the batch read_ahead yielded last
        self._recent: dict[int, int] = {}  # what the last batch added to the duplicate index
        # Two writers: identifiers of landed batches not sent to the duplicate index yet
        # (`flush` sends them in the background, after the next batch is handed out).
        self.unindexed: dict[int, int] = {}
        self._staged: dict[int, tuple] = {}  # line -> the batch's stage rows, made early

    def read_ahead(self, batches):
        """The batches, in order. On PostgreSQL each batch's SQL runs while the next batch is
        read and cleaned here (the two sides of the import overlap: ~half the wall time)."""
        self._source, self._ahead = iter(batches), None
        while True:
            ahead, self._ahead = self._ahead, None
            records = ahead.records if ahead else next(self._source, None)
            if not records:
                return
            self._prepared = ahead
            yield records

    def _read_next(self) -> None:
        """While the database works: read and clean the next batch, hash its identifiers,
        filter them through the duplicate index's Bloom filter and make its stage rows; all
        without the database (the rest of the dedupe waits for the answer)."""
        if self._source is None or self._ahead is not None:
            return
        records = next(self._source, None)
        if not records:
            self._ahead = Prepared(records=None)
            return
        cleaned = self.clean(records)
        hashes = [row.hashes() for row in cleaned[0]]
        maybe = self.seen.maybe([h for row_hashes in hashes for h in row_hashes])
        staged = {row.line: self.sql.stage_row(row) for row in cleaned[0]}
        self._ahead = Prepared(records, cleaned, hashes, maybe, staged)

    def clean(self, records: list[tuple[int, list[str]]]) -> Cleaned:
        """The widgets' work on a batch; touches no database, so it may run in a thread."""
        rows, failures = [], []
        keep, clean_row, width = rows.append, self.clean_row, self.width
        for line, cells in records:
            try:
                if len(cells) > width and any(c.strip() for c in cells[width:]):
                    raise RowInvalid(f"{len(cells)} cells, but the header has {width} columns")
                keep(clean_row(line, cells))
            except RowInvalid as exc:
                failures.append((line, str(exc)))
        return rows, failures

    def close(self) -> None:
        """Free what the importer holds for the file (its duplicate index)."""
        self.seen.close()

    def remember(self, records) -> None:
        """On resume: the identifiers of rows already committed, and those of the profiles
        they landed on, so duplicates stay caught as in an uninterrupted run (a later row
        naming one of those profiles by another of its identifiers is a duplicate too)."""
        while batch := list(islice(records, 5000)):
            fresh: dict[int, int] = {}
            rows = self._dedupe(self.clean(batch)[0], BatchResult(), {}, fresh)
            self.seen.add(fresh)
            for start in range(0, len(rows), 300):  # within SQLite's bound on parameters
                self._remember_profiles(rows[start : start + 300])

    def _remember_profiles(self, rows: list[CleanRow]) -> None:
        """The claims `_claim` recorded for these rows: every identifier of each profile
        they name, under the first line naming it."""
        first: dict[tuple[str, str], int] = {}
        for row in rows:
            for key in row.keys():
                first.setdefault(key, row.line)
        values: dict[str, set[str]] = {}
        for name, value in first:
            values.setdefault(name, set()).add(value)
        claims: dict[int, int] = {}
        for profile in store.lookup(values):
            keys = [(name, str(profile[name])) for name in store.KEYS if profile[name]]
            lines = [first[key] for key in keys if key in first]
            for key in keys if lines else ():
                claims.setdefault(hash(key), min(lines))
        earlier = self.seen.earlier(list(claims))
        self.seen.add({h: line for h, line in claims.items() if h not in earlier})

    def run_batch(self, records: list[tuple[int, list[str]]], cleaned: Cleaned | None = None):
        prepared, self._prepared = self._prepared, None
        if prepared is None or prepared.records is not records:
            prepared = Prepared(records, cleaned or self.clean(records))
        self._staged = prepared.staged or {}
        result, rows, cells, fresh = self._begin(prepared, maybe=prepared.maybe)
        claims: list[tuple[int, int]] = []  # identifiers of the existing profiles matched
        attempt = BatchResult()
        try:
            with transaction.atomic():
                self._write(rows, cells, attempt, claims)
        except IntegrityError:
            # Someone stored a profile this batch names since our lookup: row by row.
            claims.clear()
            self._one_by_one(rows, cells, result, claims)
        else:
            result.add(attempt)
        self._remember_batch(fresh, claims)
        return result

    def _begin(self, prepared: Prepared, *, maybe=None, pending=None):
        """A batch's cleaning failures, then its rows deduped: (result so far, rows to write,
        cells by line, identifiers first met in this batch -> line)."""
        result = BatchResult()
        cells = dict(prepared.records)
        rows, failures = prepared.cleaned
        for line, reason in failures:
            result.failed += 1
            result.problems.append((line, reason, cells[line]))
        fresh: dict[int, int] = {}
        rows = self._dedupe(rows, result, cells, fresh, prepared.hashes, maybe, pending)
        return result, rows, cells, fresh

    def _dedupe(
        self, rows: list[CleanRow], result, cells, fresh, hashes=None, maybe=None, pending=None
    ):
        if hashes is None:
            hashes = [row.hashes() for row in rows]
        every = [h for row_hashes in hashes for h in row_hashes]
        if maybe is None:
            earlier = self.seen.earlier(every)
            unindexed = pending  # batches written but not committed yet (two writers)
        else:
            # `maybe` went through the Bloom filter before the last batch's additions.
            earlier = self.seen.earlier(maybe, filtered=True)
            unindexed = self._recent
        if unindexed:
            earlier.update((h, unindexed[h]) for h in unindexed.keys() & every)
        # A row can be a duplicate only if one of its identifiers was met before or another
        # row of the batch has it too: those are judged in order; the rest (~all) are kept.
        suspects = set(earlier)
        if fresh:
            suspects.update(fresh.keys() & every)
        if len(set(every)) < len(every):
            suspects.update(h for h, count in Counter(every).items() if count > 1)
        kept, plain = [], []
        for row, row_hashes in zip(rows, hashes, strict=True):
            if suspects.isdisjoint(row_hashes):
                kept.append(row)
                plain.append((row.line, row_hashes))
                continue
            duplicate = _first_seen(row, row_hashes, earlier, fresh)
            if duplicate:
                result.failed += 1
                result.problems.append((row.line, duplicate, cells.get(row.line, [])))
                continue
            for h in row_hashes:
                fresh[h] = row.line
            kept.append(row)
        # No other row has a plain row's identifiers: they are met first on its line.
        fresh.update((h, line) for line, row_hashes in plain for h in row_hashes)
        return kept

    def _remember_batch(
        self, fresh: dict[int, int], claims: list[tuple[int, int]], *, later: bool = False
    ) -> None:
        """The batch's identifiers into the duplicate index; `later`: into `unindexed`,
        which `flush` sends."""
        # A claim already in `fresh` (most: the row named its profile by them) is in no
        # earlier batch, since `fresh` holds only hashes new to the file: no need to ask.
        unindexed = self.unindexed
        claims = [(h, line) for h, line in claims if h not in fresh and h not in unindexed]
        earlier = self.seen.earlier([h for h, _ in claims])
        for h, line in claims:
            if h not in earlier:
                fresh.setdefault(h, line)
        if later:
            unindexed.update(fresh)
            return
        self.seen.add(fresh)
        self._recent = fresh

    def _one_by_one(self, rows, cells, result, claims) -> None:
        for row in rows:
            single = BatchResult()
            try:
                with transaction.atomic():
                    self._write([row], cells, single, claims)
            except IntegrityError as exc:
                single = BatchResult(failed=1)
                reason = f"conflicts with a profile stored meanwhile: {exc}"
                single.problems.append((row.line, reason, cells[row.line]))
            result.add(single)

    def _write(self, rows: list[CleanRow], cells, result: BatchResult, claims) -> None:
        if not rows:
            return
        if self.sql is not None:
            self._write_sql(rows, cells, result, claims)
            return
        news = {row.line: new_profile(row) for row in rows}
        store.stage_batch(news.items())
        index = ProfileIndex(store.lookup_staged())
        updates, ids, finals, claimed, skip = [], {}, {}, {}, []
        for row in rows:
            try:
                current = index.match(row)
                self._claim(row, current, claimed, claims)
            except RowInvalid as exc:
                result.failed += 1
                result.problems.append((row.line, str(exc), cells[row.line]))
                skip.append(row.line)
                continue
            if current is not None:
                skip.append(row.line)
            finals[row.line] = self._plan_row(row, current, news, updates, ids, result)
        creates = [row for row in rows if row.line in ids and ids[row.line] is None]
        if not self.dry_run:
            store.update(updates)
            if creates:
                ids.update(self._insert(creates, skip))
                if self.announce_created:
                    _announce([ids[row.line] for row in creates])
        landed = [row for row in rows if row.line in ids]
        self._consent(landed, ids, finals, {row.line for row in creates}, cells, result)

    def _write_sql(self, rows: list[CleanRow], cells, result: BatchResult, claims) -> None:
        staged = [self._staged.get(row.line) or self.sql.stage_row(row) for row in rows]
        outcome = self.sql.run(staged, timezone.now(), meanwhile=self._read_next)
        _take(outcome, cells, result, claims)

    # --- Two writers (profiles.imports.pipeline): the batch's steps one by one ---

    def can_pipeline(self) -> bool:
        """Whether batches may be written on other connections than this thread's: on
        PostgreSQL, for real (a dry run rolls back), announcing nothing (on_commit hooks
        belong to the caller's connection), and outside any transaction of the caller."""
        return (
            self.sql is not None and not self.dry_run and not self.announce_created
            and not connection.in_atomic_block
        )  # fmt: skip

    def prepare(self, records: list[tuple[int, list[str]]]) -> Prepared:
        """Read and cleaned, with identifier hashes and stage rows: no database."""
        cleaned = self.clean(records)
        hashes = [row.hashes() for row in cleaned[0]]
        staged = {row.line: self.sql.stage_row(row) for row in cleaned[0]}
        return Prepared(records, cleaned, hashes, None, staged)

    def dedupe(self, prepared: Prepared, pending: dict[int, int]):
        """The batch's failures so far, the rows to write and the identifiers it meets first
        (`fresh`); `pending`: those of batches written but not committed yet, earlier in the
        file (nothing here is remembered until the batch lands: see `landed`)."""
        return self._begin(prepared, pending=pending)

    def write_rows(self, rows, cells, staged: dict[int, tuple]):
        """The batch's SQL on this thread's connection, in its transaction: (result, claims).
        Raises what the SQL raises (IntegrityError: the caller redoes the batch)."""
        result, claims = BatchResult(), []
        if rows:
            outcome = self.sql.run([staged[row.line] for row in rows], timezone.now())
            _take(outcome, cells, result, claims)
        return result, claims

    def landed(self, fresh: dict[int, int], claims: list[tuple[int, int]]) -> set[int]:
        """A written batch committed: its identifiers remembered (in `unindexed` until
        `flush`). Returns the hashes of the existing profiles it matched that its rows did not
        name (a later batch naming one of them is a duplicate: written meanwhile, it must be
        done again)."""
        others = {h for h, _ in claims if h not in fresh}
        self._remember_batch(fresh, claims, later=True)
        return others

    def flush(self, *, background: bool = True) -> None:
        """Send the landed batches' identifiers to the duplicate index, in the background:
        the server inserts them while this thread cleans the next batch (a dedupe before
        then counts `unindexed` among the identifiers in flight). `background=False`: done
        when this returns, as before this thread opens a transaction on its connection (a
        COPY still in the air would land inside it and go with its rollback)."""
        if self.unindexed:
            self.seen.add(self.unindexed, background=background)
            self.unindexed = {}
        if not background:
            self.seen.settle()  # an earlier flush's COPY too

    def _claim(self, row: CleanRow, current, claimed: dict[int, int], claims) -> None:
        """A profile takes one row of the file; a second row naming it is a duplicate."""
        if current is None:
            return
        if current["id"] in claimed:
            raise RowInvalid(f"duplicate of line {claimed[current['id']]} (same profile)")
        claimed[current["id"]] = row.line
        for name in ("external_id", "email", "phone"):
            if current[name]:
                claims.append((hash((name, str(current[name]))), row.line))

    def _plan_row(self, row, current, news, updates, ids, result) -> dict[str, Any]:
        """Counts the row, queues its write, and returns the profile's values after it."""
        if current is None:
            ids[row.line] = None
            result.created += 1
            return news[row.line]
        ids[row.line] = current["id"]
        changes = profile_changes(current, row, overwrite=self.overwrite)
        if changes:
            updates.append({**current, **changes})
            result.updated += 1
        else:
            result.unchanged += 1
        return {**current, **changes}

    def _insert(self, creates: list[CleanRow], skip: list[int]) -> dict[int, int]:
        by_key = {}
        for pk, external_id, email, phone in store.insert_staged(skip):
            for key in (("external_id", external_id), ("email", email), ("phone", phone)):
                if key[1]:
                    by_key[key] = pk
        ids = {}
        for row in creates:
            pk = next((by_key[k] for k in row.keys() if k in by_key), None)
            if pk is None:
                raise IntegrityError(f"line {row.line}: profile stored meanwhile")
            ids[row.line] = pk
        return ids

    def _consent(self, rows, ids, finals, created, cells, result: BatchResult) -> None:
        requests = []
        for row in rows:
            wanted, notes = self.policy.requests_for(
                row, ids[row.line], finals[row.line], is_new=row.line in created
            )
            requests += wanted
            result.problems += [(row.line, f"warning: {note}", cells[row.line]) for note in notes]
        for outcome in consent.write(requests, dry_run=self.dry_run):
            if outcome.applied:
                result.consent_applied += 1
            elif outcome.applied is False:
                result.consent_refused += 1


def _take(outcome, cells, result: BatchResult, claims) -> None:
    """An SqlBatch outcome added to the batch's result and claims."""
    for name, count in outcome.counts.items():
        setattr(result, name, getattr(result, name) + count)
    result.failed += len(outcome.failures)
    result.problems += [(line, reason, cells[line]) for line, reason in outcome.failures]
    for line, _, note in sorted(outcome.notes):
        result.problems.append((line, f"warning: {note}", cells[line]))
    result.consent_applied += outcome.consent[0]
    result.consent_refused += outcome.consent[1]
    claims += outcome.claims
    if outcome.created:
        _announce(outcome.created)


def _announce(pks: list[int]) -> None:
    from profiles import hooks
    from profiles.models import Profile

    def announce():
        for profile in Profile.objects.filter(pk__in=pks).iterator():
            hooks.announce_profile_created(profile)

    transaction.on_commit(announce)


def _first_seen(row: CleanRow, hashes: list[int], earlier, fresh) -> str | None:
    for (name, _), h in zip(row.keys(), hashes, strict=True):
        line = earlier.get(h) or fresh.get(h)
        if line is not None:
            return describe(name, line)
    return None


def new_profile(row: CleanRow) -> dict[str, Any]:
    values: dict[str, Any] = {"external_id": None, "email": None, "phone": None}
    values.update(dict.fromkeys(PERSON_FIELDS, ""))
    values.update(row.values)
    values["traits"] = dict(row.traits)
    return values


class ProfileIndex:
    """Existing profiles by identifier: those a staged batch names, or `for_rows(rows)`."""

    def __init__(self, profiles: list[dict[str, Any]]):
        self.by_key: dict[tuple[str, str], dict[str, Any]] = {}
        for profile in profiles:
            for name in ("external_id", "email", "phone"):
                if profile[name]:
                    self.by_key[(name, str(profile[name]))] = profile

    @classmethod
    def for_rows(cls, rows: list[CleanRow]) -> "ProfileIndex":
        wanted: dict[str, set[str]] = {"external_id": set(), "email": set(), "phone": set()}
        for row in rows:
            for name, value in row.keys():
                wanted[name].add(value)
        return cls(store.lookup(wanted))

    def match(self, row: CleanRow) -> dict[str, Any] | None:
        found = {id(p): p for k in row.keys() if (p := self.by_key.get(k))}
        if len(found) > 1:
            ids = ", ".join(str(p["id"]) for p in found.values())
            raise RowInvalid(
                f"the row names two existing profiles ({ids}); an import does not merge people"
            )
        profile = next(iter(found.values()), None)
        external_id = row.values.get("external_id")
        if profile and external_id and profile["external_id"] not in (None, external_id):
            raise RowInvalid(
                f"profile {profile['id']} has external id {profile['external_id']!r}, "
                f"the row {external_id!r}"
            )
        return profile
