"""Consent from an import: explicit columns or the operator's named declaration, nothing else.

profiles sits below compliance, so the ledger writer is reached through a setting naming it
(IMPORT_CONSENT_WRITER, default compliance.bulk.consent_import_many), never by an import.
"""

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Any

from django.conf import settings
from django.utils.module_loading import import_string

from profiles.imports.resource import CleanRow
from profiles.imports.widgets import OPT_IN, is_mobile
from profiles.models import Channel


@dataclass(slots=True)
class ConsentRequest:
    """One consent change an import asks for; the writer judges and records it."""

    profile_id: int | None  # None in a dry run, for a profile not created yet
    address: str
    channel: str
    action: str  # opt_in, opt_out, or cleaned (an undeliverable address)
    occurred_at: datetime
    evidence: str  # JSON text: rendered once here, stored as it is
    idempotency_key: str
    profile_is_new: bool = False  # made in this transaction: nobody else can hold it


@dataclass(slots=True)
class ConsentOutcome:
    applied: bool | None  # None: nothing to change (already in that state)
    outcome: str


@dataclass
class ConsentPolicy:
    """What the operator declared for this import, and where consent times come from."""

    job_id: int | None
    file_name: str
    source_name: str
    email_declared: bool = False
    sms_declared: bool = False
    declared_by: str = ""
    started_at: datetime | None = None
    columns: dict[str, list[str]] = field(default_factory=dict)  # field -> file columns
    _templates: dict = field(default_factory=dict, repr=False)

    def requests_for(
        self, row: CleanRow, profile_id: int | None, final: dict[str, Any], *, is_new=False
    ) -> tuple[list[ConsentRequest], list[str]]:
        """The row's consent requests, and notes on consent it asked for but cannot have.

        `final` is the profile's values after the row: consent is for the address the
        profile holds, so a row whose address was not taken (fill-empty) records none.
        """
        requests, notes = [], []
        for channel in (Channel.EMAIL, Channel.SMS):
            request = self._request(row, profile_id, final, channel, notes)
            if request:
                request.profile_is_new = is_new
                requests.append(request)
        return requests, notes

    def _request(self, row, profile_id, final, channel, notes) -> ConsentRequest | None:
        explicit = getattr(row, f"{channel}_consent")
        declared = self.email_declared if channel == Channel.EMAIL else self.sms_declared
        action = explicit or (OPT_IN if declared else None)
        name = "email" if channel == Channel.EMAIL else "phone"
        address = row.values.get(name)
        if action is None or address is None:
            return None
        if str(final.get(name) or "") != address:
            notes.append(f"{channel} consent not recorded: the profile keeps {final.get(name)}")
            return None
        mobile = row.mobile if row.mobile is not None else is_mobile(address)
        if channel == Channel.SMS and action == OPT_IN and not mobile:
            notes.append(f"SMS consent not recorded: {address} is not a mobile number")
            return None
        file_time = getattr(row, f"{channel}_consent_at")
        return ConsentRequest(
            profile_id=profile_id,
            address=address,
            channel=channel,
            action=action,
            occurred_at=file_time or self.started_at,
            evidence=self._evidence(row, channel, explicit, file_time),
            idempotency_key=f"import:{self.job_id}:{row.line}:{channel}",
        )

    def _evidence(self, row, channel, explicit, file_time) -> str:
        # JSON by template: the same object as json.dumps of a dict, in a tenth of the time.
        head = self._templates.get((channel, bool(explicit)))
        if head is None:
            head = self._templates[(channel, bool(explicit))] = self.evidence_head(
                channel, bool(explicit)
            )
        tail = (
            ', "time_from_file": true}' if file_time is not None else ', "time_from_file": false}'
        )
        return f"{head}{row.line}{tail}"

    def evidence_head(self, channel: str, explicit: bool) -> str:
        """The evidence JSON up to the line number: what every row of a channel shares."""
        columns = self.columns.get(f"{channel}_consent", [])
        basis = (
            f"file column {' / '.join(columns) or '(format default)'}"
            if explicit
            else f"operator declaration by {self.declared_by or 'the operator'}"
        )
        fixed = {
            "import_job": self.job_id,
            "file": self.file_name,
            "source_name": self.source_name,
            "basis": basis,
        }
        return json.dumps(fixed)[:-1] + ', "line": '


def write(requests: list[ConsentRequest], *, dry_run: bool) -> list[ConsentOutcome]:
    if not requests:
        return []
    return _writer()(requests=requests, dry_run=dry_run)


def staged_writer():
    """The writer's SQL form (see compliance.bulk.StagedConsent), or None if it has none."""
    return getattr(_writer(), "staged", None)


@cache
def _writer() -> Callable[..., list[ConsentOutcome]]:
    return import_string(settings.IMPORT_CONSENT_WRITER)
