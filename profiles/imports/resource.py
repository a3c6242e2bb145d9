"""ProfileResource: the one declaration of how an import row becomes profile fields.

The fast path calls `clean_values` and `profile_changes` row by row and writes in batches;
the admin's django-import-export flow (admin_flow.ProfileImportResource) uses the same
fields and widgets one row at a time.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from import_export import resources
from import_export.fields import Field

from profiles.imports import widgets as w
from profiles.imports.formats import IDENTIFIERS, TRAIT_PREFIX, Plan
from profiles.models import Profile

PERSON_FIELDS = ("first_name", "last_name", "time_zone", "locale", "country")
WRITABLE = (*IDENTIFIERS, *PERSON_FIELDS)


class RowInvalid(ValueError):
    """The row cannot be imported; the message is the reason the error file shows."""


@dataclass(slots=True)
class CleanRow:
    line: int
    values: dict[str, str]  # identifiers and person fields that are set
    traits: dict[str, str] = field(default_factory=dict)
    email_consent: str | None = None
    email_consent_at: datetime | None = None
    sms_consent: str | None = None
    sms_consent_at: datetime | None = None
    mobile: bool | None = None  # whether the phone may receive SMS (None: not known yet)
    _keys: list[tuple[str, str]] | None = None
    _hashes: list[int] | None = None

    def keys(self) -> list[tuple[str, str]]:
        """Identifier keys for dedupe: email case-insensitive (already lower), phone E.164."""
        if self._keys is None:
            self._keys = [(n, self.values[n]) for n in IDENTIFIERS if n in self.values]
        return self._keys

    def hashes(self) -> list[int]:
        """hash() of each of `keys()`, in order: what the duplicate index holds."""
        if self._hashes is None:
            self._hashes = [hash(key) for key in self.keys()]
        return self._hashes


def _field(name: str, widget, attribute: str | None = None, **kwargs) -> Field:
    return Field(attribute=attribute, column_name=name, widget=widget, **kwargs)


class ProfileResource(resources.ModelResource):
    external_id = _field("external_id", w.TextWidget(255, "external id"), "external_id")
    email = _field("email", w.EmailWidget(), "email")
    phone = _field("phone", w.PhoneWidget(), "phone")
    first_name = _field("first_name", w.TextWidget(150, "first name"), "first_name")
    last_name = _field("last_name", w.TextWidget(150, "last name"), "last_name")
    full_name = _field("full_name", w.TextWidget(301, "name"))
    time_zone = _field("time_zone", w.TimeZoneWidget(), "time_zone")
    locale = _field("locale", w.TextWidget(35, "locale"), "locale")
    country = _field("country", w.CountryWidget(), "country")
    traits = _field("traits", w.TraitsWidget(), "traits", readonly=True)
    created_at = _field("created_at", w.Widget(), "created_at", readonly=True)
    email_consent = _field("email_consent", w.ConsentWidget("email"))
    email_consent_at = _field("email_consent_at", w.ConsentTimeWidget())
    sms_consent = _field("sms_consent", w.ConsentWidget("SMS"))
    sms_consent_at = _field("sms_consent_at", w.ConsentTimeWidget())

    class Meta:
        model = Profile
        fields = (
            *WRITABLE,
            "full_name",
            "traits",
            "created_at",
            "email_consent",
            "email_consent_at",
            "sms_consent",
            "sms_consent_at",
        )
        export_order = ("id", *WRITABLE, "traits", "created_at")
        import_id_fields = ()
        skip_unchanged = True
        report_skipped = True

    def get_export_fields(self, selected_fields=None):
        return [f for f in super().get_export_fields(selected_fields) if f.attribute]

    def row_cleaner(self, plan: Plan, headers: list[str]) -> Callable[[int, list[str]], CleanRow]:
        """`clean_values(line, row_values(plan, headers)(cells))`, compiled for one file.

        The same widgets in the same order; the fields whose values repeat across a list
        (names, consent, country, zone) remember each distinct value's answer. The function
        is made for the file's columns (`_compile`): each field reads its cells straight
        from the record, and the row is built with its identifier keys and their hashes
        (the duplicate index's) in the same pass.
        """
        fields, traits = [], []
        for name, positions, constant in field_sources(plan, headers):
            if name.startswith(TRAIT_PREFIX):
                traits.append((name[len(TRAIT_PREFIX) :], positions, constant))
                continue
            widget = self.fields[name].widget
            if name == "phone":  # (E.164, mobile): the row keeps both
                clean = widget.clean_phone
            else:
                clean = widget.clean if name in UNIQUE_PER_ROW else Remembered(widget.clean)
            fields.append((name, positions, constant, clean))
        return _compile(fields, traits)

    def clean_values(self, line: int, values: dict[str, str]) -> CleanRow:
        """One row's canonical values (field -> raw text) cleaned, or RowInvalid with why."""
        cleaned: dict[str, Any] = {}
        reasons: list[str] = []
        for name, raw in values.items():
            if name.startswith(TRAIT_PREFIX):
                continue
            try:
                cleaned[name] = self.fields[name].widget.clean(raw)
            except ValueError as exc:
                reasons.append(str(exc))
        if reasons:
            raise RowInvalid("; ".join(reasons))
        return self._build(line, cleaned, values)

    def _build(self, line: int, cleaned: dict[str, Any], values: dict[str, str]) -> CleanRow:
        traits = {
            n[len(TRAIT_PREFIX) :]: v.strip()
            for n, v in values.items()
            if n.startswith(TRAIT_PREFIX) and v and v.strip()
        }
        return self._build_row(line, cleaned, traits)

    def _build_row(self, line: int, cleaned: dict[str, Any], traits: dict[str, str]) -> CleanRow:
        if "full_name" in cleaned:
            _split_full_name(cleaned)
        values = {n: value for n in WRITABLE if (value := cleaned.get(n))}
        if "email" not in values and "phone" not in values and "external_id" not in values:
            raise RowInvalid("no email, phone or external id")
        get = cleaned.get
        return CleanRow(line, values, traits, get("email_consent"), get("email_consent_at"),
                        get("sms_consent"), get("sms_consent_at"))  # fmt: skip


UNIQUE_PER_ROW = frozenset(IDENTIFIERS)  # remembering these would only cost memory


class Remembered:
    """A widget's clean() remembering each distinct text's answer: (value, None) or (None,
    the reason). Called, it answers as clean() does; the compiled cleaner reads `answers`
    itself and calls `answer` only for a text it has not met."""

    def __init__(self, clean: Callable[[str], Any], limit: int = 50_000):
        self.clean, self.limit = clean, limit
        self.answers: dict[str, tuple[Any, str | None]] = {}

    def answer(self, text: str) -> tuple[Any, str | None]:
        try:
            answer = (self.clean(text), None)
        except ValueError as exc:
            answer = (None, str(exc))
        if len(self.answers) >= self.limit:
            self.answers.clear()
        self.answers[text] = answer
        return answer

    def __call__(self, text: str) -> Any:
        answer = self.answers.get(text) or self.answer(text)
        if answer[1] is not None:
            raise ValueError(answer[1])
        return answer[0]


# The values a cleaned row is built from (`_build_row`), whether or not the file has them.
ROW_PARTS = (*WRITABLE, "full_name", "email_consent", "email_consent_at", "sms_consent",
             "sms_consent_at")  # fmt: skip


def _compile(fields, traits) -> Callable[[int, list[str]], CleanRow]:
    """One file's row cleaner as straight-line code: `clean_values` and `_build_row` for
    these columns, without a loop over the fields or a dict of cleaned values between them,
    and the identifier hashes made here (cleaning, hashing and dedupe of a Shopify export:
    10.8 -> 9.0 us a row).

    `fields`: (field, cell positions, constant, cleaner); `traits`: (name, positions,
    constant). Only field names (ProfileResource's, checked) and cell positions (ints) are
    written into the source; cleaners, constants and trait names (a file's header text) are
    handed in as variables.
    """
    scope: dict[str, Any] = {"RowInvalid": RowInvalid, "CleanRow": CleanRow}
    names = [name for name, *_ in fields]
    if not all(name.isidentifier() for name in names):  # pragma: no cover (fields' names)
        raise ValueError(f"not field names: {names}")
    code = ["def clean(line, cells):", "    size = len(cells)", "    reasons = None"]
    code += [f"    v_{name} = None" for name in dict.fromkeys([*ROW_PARTS, *names])]
    for name, positions, constant, cleaner in fields:
        scope[f"clean_{name}"], scope[f"constant_{name}"] = cleaner, constant
        code += _pick(positions, constant, f"constant_{name}", "text is not None")
        if isinstance(cleaner, Remembered):  # its answers read here: no call for a repeat
            scope[f"answers_{name}"] = cleaner.answers
            code += [
                f"        answer = answers_{name}.get(text) or clean_{name}.answer(text)",
                "        if answer[1] is None:",
                f"            v_{name} = answer[0]",
                "        else:",
                "            reasons = [answer[1]] if reasons is None else [*reasons, answer[1]]",
            ]
            continue
        code += [
            "        try:",
            f"            v_{name} = clean_{name}(text)",
            "        except ValueError as exc:",
            "            reasons = [str(exc)] if reasons is None else [*reasons, str(exc)]",
        ]
    code += ["    if reasons:", '        raise RowInvalid("; ".join(reasons))']
    if "full_name" in names:
        code += [
            "    if v_full_name and not v_first_name and not v_last_name:",
            '        first, _, last = v_full_name.partition(" ")',
            "        v_first_name, v_last_name = first[:150], last.strip()[:150]",
        ]
    code.append("    mobile = None")
    if "phone" in names:  # the compiled phone cleaner's (E.164, mobile)
        code += ["    if v_phone is not None:", "        v_phone, mobile = v_phone"]
    settable = set(names) | ({"first_name", "last_name"} if "full_name" in names else set())
    code.append("    values = {}")
    for name in WRITABLE:
        if name in settable:
            code += [f"    if v_{name}:", f"        values[{name!r}] = v_{name}"]
    identifiers = [name for name in IDENTIFIERS if name in names]
    code += [
        f"    if not ({' or '.join(f'v_{name}' for name in identifiers) or 'False'}):",
        '        raise RowInvalid("no email, phone or external id")',
        "    keys = []",
    ]
    for name in identifiers:
        code += [f"    if v_{name}:", f"        keys.append(({name!r}, v_{name}))"]
    code.append("    traits = {}")
    for number, (trait, positions, constant) in enumerate(traits):
        scope[f"trait_{number}"], scope[f"constant_trait_{number}"] = trait, constant
        code += _pick(positions, constant, f"constant_trait_{number}", "text")
        code += ["        if text := text.strip():", f"            traits[trait_{number}] = text"]
    code.append(
        "    return CleanRow(line, values, traits, v_email_consent, v_email_consent_at, "
        "v_sms_consent, v_sms_consent_at, mobile, keys, [hash(key) for key in keys])"
    )
    exec(compile("\n".join(code), "<import row cleaner>", "exec"), scope)  # noqa: S102
    return scope["clean"]


def _pick(positions: list[int], constant, constant_name: str, test: str) -> list[str]:
    """Code leaving in `text` the first filled cell of `positions` (else the constant) and
    entering the block that follows when `test` holds of it."""
    if constant is None and len(positions) == 1:  # the usual case: one column
        return [f"    if size > {positions[0]} and (text := cells[{positions[0]}]):"]
    code = [f"    text = {constant_name}"]
    for number, position in enumerate(positions):
        code.append(f"    {'elif' if number else 'if'} size > {position} and cells[{position}]:")
        code.append(f"        text = cells[{position}]")
    return [*code, f"    if {test}:"]


def _split_full_name(cleaned: dict[str, Any]) -> None:
    full = cleaned.pop("full_name", "")
    if full and not cleaned.get("first_name") and not cleaned.get("last_name"):
        first, _, last = full.partition(" ")
        cleaned["first_name"], cleaned["last_name"] = first[:150], last.strip()[:150]


def field_sources(plan: Plan, headers: list[str]) -> list[tuple[str, list[int], str | None]]:
    """(field, the cells feeding it in order, the plan's constant for it or None)."""
    index = {name: i for i, name in reversed(list(enumerate(headers)))}
    sources: dict[str, list[int]] = {}
    for column, target in plan.mapping.items():
        sources.setdefault(target, []).append(index[column])
    names = [*plan.constants, *(t for t in sources if t not in plan.constants)]
    return [(name, sources.get(name, []), plan.constants.get(name)) for name in names]


def row_values(plan: Plan, headers: list[str]):
    """A function turning a record's cells into field -> raw text, per the plan."""
    sources = field_sources(plan, headers)

    def values(cells: list[str]) -> dict[str, str]:
        out = {}
        size = len(cells)
        for target, positions, text in sources:
            for position in positions:
                if position < size and cells[position]:
                    text = cells[position]
                    break
            if text is not None:
                out[target] = text
        return out

    return values


def profile_changes(current: dict[str, Any], row: CleanRow, *, overwrite: bool) -> dict[str, Any]:
    """The fields to write on an existing profile: empty ones only, unless overwriting."""
    changes: dict[str, Any] = {}
    for name, new in row.values.items():
        old = current.get(name) or ""
        if str(old) != new and (overwrite or not old):
            changes[name] = new
    if row.traits:
        old_traits = current.get("traits") or {}
        merged = {**old_traits, **row.traits} if overwrite else {**row.traits, **old_traits}
        if merged != old_traits:
            changes["traits"] = merged
    return changes
