"""The fast path: rows cleaned by ProfileResource, written in set-based batches.

Per batch: clean and dedupe in Python, one lookup of the profiles the batch names, one
insert of the new ones, one update of the changed ones, then the consent requests in bulk.
Unchanged rows write nothing. The caller holds the transaction (one per batch).
"""

from dataclasses import dataclass, field
from typing import Any

from django.db import IntegrityError, transaction

from profiles.imports import consent, store
from profiles.imports.formats import Plan
from profiles.imports.resource import (
    PERSON_FIELDS,
    CleanRow,
    ProfileResource,
    RowInvalid,
    profile_changes,
    row_values,
)


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


class SeenKeys:
    """The identifiers already met in this file, with the line that had them first.

    Holds the row's own identifiers and those of the existing profile it matched, so a
    later row naming that profile by another identifier is a duplicate too.
    """

    def __init__(self):
        self._lines: dict[int, int] = {}

    def first(self, keys: list[tuple[str, str]]) -> str | None:
        for name, value in keys:
            line = self._lines.get(hash((name, value)))
            if line is not None:
                return f"duplicate of line {line} (same {name.replace('_', ' ')})"
        return None

    def add(self, keys: list[tuple[str, str]], line: int) -> None:
        for key in keys:
            self._lines.setdefault(hash(key), line)


class Importer:
    def __init__(
        self,
        *,
        plan: Plan,
        headers: list[str],
        policy: consent.ConsentPolicy,
        overwrite: bool = False,
        dry_run: bool = False,
    ):
        self.resource = ProfileResource()
        self.values = row_values(plan, headers)
        self.width = len(headers)
        self.policy, self.overwrite, self.dry_run = policy, overwrite, dry_run
        self.seen = SeenKeys()

    def remember(self, records) -> None:
        """On resume: the identifiers of rows already committed, so duplicates stay caught.

        (A later row naming one of their profiles by another identifier is not caught.)
        """
        for line, cells in records:
            try:
                row = self.resource.clean_values(line, self.values(cells))
            except RowInvalid:
                continue
            self.seen.add(row.keys(), line)

    def run_batch(self, records: list[tuple[int, list[str]]]) -> BatchResult:
        result = BatchResult()
        rows = self._clean(records, result)
        cells = dict(records)
        attempt = BatchResult()
        try:
            with transaction.atomic():
                self._write(rows, cells, attempt)
        except IntegrityError:
            # Someone stored a profile this batch names since our lookup: row by row.
            return self._one_by_one(rows, cells, result)
        result.add(attempt)
        return result

    def _one_by_one(self, rows, cells, result) -> BatchResult:
        for row in rows:
            single = BatchResult()
            try:
                with transaction.atomic():
                    self._write([row], cells, single)
            except IntegrityError as exc:
                single = BatchResult(failed=1)
                reason = f"conflicts with a profile stored meanwhile: {exc}"
                single.problems.append((row.line, reason, cells[row.line]))
            result.add(single)
        return result

    def _clean(self, records, result: BatchResult) -> list[CleanRow]:
        rows = []
        for line, cells in records:
            try:
                row = self._clean_one(line, cells)
            except RowInvalid as exc:
                result.failed += 1
                result.problems.append((line, str(exc), cells))
                continue
            rows.append(row)
        return rows

    def _clean_one(self, line: int, cells: list[str]) -> CleanRow:
        if len(cells) > self.width and any(c.strip() for c in cells[self.width :]):
            raise RowInvalid(f"{len(cells)} cells, but the header has {self.width} columns")
        row = self.resource.clean_values(line, self.values(cells))
        duplicate = self.seen.first(row.keys())
        if duplicate:
            raise RowInvalid(duplicate)
        self.seen.add(row.keys(), line)
        return row

    def _write(self, rows: list[CleanRow], cells, result: BatchResult) -> None:
        index = ProfileIndex(rows)
        creates, updates, ids, finals = [], [], {}, {}
        claimed: dict[int, int] = {}
        for row in rows:
            try:
                current = index.match(row)
                self._claim(row, current, claimed)
            except RowInvalid as exc:
                result.failed += 1
                result.problems.append((row.line, str(exc), cells[row.line]))
                continue
            finals[row.line] = self._plan_row(row, current, creates, updates, ids, result)
        if not self.dry_run:
            store.update(updates)
            ids.update(self._insert(creates))
        self._consent([r for r in rows if r.line in ids], ids, finals, cells, result)

    def _claim(self, row: CleanRow, current, claimed: dict[int, int]) -> None:
        """A profile takes one row of the file; a second row naming it is a duplicate."""
        if current is None:
            return
        if current["id"] in claimed:
            raise RowInvalid(f"duplicate of line {claimed[current['id']]} (same profile)")
        claimed[current["id"]] = row.line
        keys = [(n, str(current[n])) for n in ("external_id", "email", "phone") if current[n]]
        self.seen.add(keys, row.line)

    def _plan_row(self, row, current, creates, updates, ids, result) -> dict[str, Any]:
        """Counts the row, queues its write, and returns the profile's values after it."""
        if current is None:
            values = new_profile(row)
            creates.append((row, values))
            ids[row.line] = None
            result.created += 1
            return values
        ids[row.line] = current["id"]
        changes = profile_changes(current, row, overwrite=self.overwrite)
        if changes:
            updates.append({**current, **changes})
            result.updated += 1
        else:
            result.unchanged += 1
        return {**current, **changes}

    def _insert(self, creates) -> dict[int, int]:
        stored = store.insert([values for _, values in creates])
        by_key = {}
        for pk, external_id, email, phone in stored:
            for key in (("external_id", external_id), ("email", email), ("phone", phone)):
                if key[1]:
                    by_key[key] = pk
        ids = {}
        for row, _ in creates:
            pk = next((by_key[k] for k in row.keys() if k in by_key), None)
            if pk is None:
                raise IntegrityError(f"line {row.line}: profile stored meanwhile")
            ids[row.line] = pk
        return ids

    def _consent(self, rows, ids, finals, cells, result: BatchResult) -> None:
        requests = []
        for row in rows:
            wanted, notes = self.policy.requests_for(row, ids[row.line], finals[row.line])
            requests += wanted
            result.problems += [(row.line, f"warning: {note}", cells[row.line]) for note in notes]
        for outcome in consent.write(requests, dry_run=self.dry_run):
            if outcome.applied:
                result.consent_applied += 1
            elif outcome.applied is False:
                result.consent_refused += 1


def new_profile(row: CleanRow) -> dict[str, Any]:
    values: dict[str, Any] = {"external_id": None, "email": None, "phone": None}
    values.update(dict.fromkeys(PERSON_FIELDS, ""))
    values.update(row.values)
    values["traits"] = dict(row.traits)
    return values


class ProfileIndex:
    """The existing profiles a batch names, found in one query."""

    def __init__(self, rows: list[CleanRow]):
        wanted: dict[str, set[str]] = {"external_id": set(), "email": set(), "phone": set()}
        for row in rows:
            for name, value in row.keys():
                wanted[name].add(value)
        self.by_key: dict[tuple[str, str], dict[str, Any]] = {}
        for profile in store.lookup(wanted):
            for name in wanted:
                if profile[name]:
                    self.by_key[(name, str(profile[name]))] = profile

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
