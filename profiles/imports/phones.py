"""Phone numbers for imports: E.164 and "may receive SMS" in one cached step.

phonenumbers costs ~55 us a number (parse, then find the region among 25 NANP regions, then
match its patterns). A list of 1M customers has ~1M distinct numbers, so NANP numbers
typed the usual ways skip `parse` and the region search: a North American area code
(NPA) belongs to exactly one region, so the region found for an NPA once is reused, and
its patterns are matched directly. Anything else, and any number the shortcut finds
invalid, goes the full way, so the shortcut only ever saves time.
"""

import re
from functools import cache, lru_cache

import phonenumbers
from phonenumbers import PhoneNumberFormat, PhoneNumberType

try:  # private helpers; without them every number takes the full (public) way
    from phonenumbers.phonenumberutil import PhoneMetadata, _number_type_helper
except ImportError:  # pragma: no cover
    _number_type_helper = None

MOBILE_TYPES = (PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE)
NANP_REGIONS = frozenset(phonenumbers.COUNTRY_CODE_TO_REGION_CODE[1])
# Digits with the separators people type: "+1 (415) 555-0123", "415.555.0123", "4155550123".
NANP_TYPED = re.compile(r"\+?1?[\s.\-]*\(?\d{3}\)?[\s.\-]*\d{3}[\s.\-]*\d{4}")
_NPA_REGION: dict[str, str] = {}
_MOBILE: dict[str, bool] = {}
MOBILE_KEPT = 20_000


@lru_cache(maxsize=32768)
def parse_phone(raw: str, region: str) -> tuple[str | None, bool]:
    """(E.164 or None when invalid, may receive SMS); cached, since lists repeat numbers."""
    found = _nanp(raw, region)
    if found is None:
        found = _full(raw, region)
    if found[0] is not None:
        # Kept for is_mobile() on the same batch's consent; bounded so that memory stays flat
        # over a 1M-row file (a 1M-entry dict was ~120 MB).
        if len(_MOBILE) >= MOBILE_KEPT:
            _MOBILE.clear()
        _MOBILE[found[0]] = found[1]
    return found


def is_mobile(e164: str) -> bool:
    known = _MOBILE.get(e164)
    return known if known is not None else parse_phone(e164, "ZZ")[1]


def _full(raw: str, region: str) -> tuple[str | None, bool]:
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        return None, False
    # number_type() is UNKNOWN exactly when is_valid_number() is False.
    kind = phonenumbers.number_type(number)
    if kind == PhoneNumberType.UNKNOWN:
        return None, False
    if number.country_code == 1:
        _NPA_REGION.setdefault(
            str(number.national_number)[:3], phonenumbers.region_code_for_number(number)
        )
    return phonenumbers.format_number(number, PhoneNumberFormat.E164), kind in MOBILE_TYPES


def _nanp(raw: str, region: str) -> tuple[str | None, bool] | None:
    """The shortcut's answer, or None to go the full way."""
    if _number_type_helper is None or not NANP_TYPED.fullmatch(raw):
        return None
    digits = re.sub(r"\D", "", raw)
    if len(digits) == 11 and digits[0] == "1":
        digits = digits[1:]
    elif len(digits) != 10 or (region not in NANP_REGIONS and not raw.startswith("+")):
        return None
    known = _NPA_REGION.get(digits[:3])
    if known is None:
        return None
    kind = number_type(digits, known)
    if kind == PhoneNumberType.UNKNOWN:
        return None
    return "+1" + digits, kind in MOBILE_TYPES


# _number_type_helper's order: the first of these whose pattern matches names the type.
TYPE_ORDER = (
    ("premium_rate", PhoneNumberType.PREMIUM_RATE), ("toll_free", PhoneNumberType.TOLL_FREE),
    ("shared_cost", PhoneNumberType.SHARED_COST), ("voip", PhoneNumberType.VOIP),
    ("personal_number", PhoneNumberType.PERSONAL_NUMBER), ("pager", PhoneNumberType.PAGER),
    ("uan", PhoneNumberType.UAN), ("voicemail", PhoneNumberType.VOICEMAIL),
    ("fixed_line", PhoneNumberType.FIXED_LINE), ("mobile", PhoneNumberType.MOBILE),
)  # fmt: skip
TYPE_BY_NAME = dict(TYPE_ORDER)


def number_type(digits: str, region: str) -> int:
    """phonenumbers' _number_type_helper, with its ~10 pattern tests made one regex call."""
    general, types, mobile = _type_patterns(region, len(digits))
    if general is None or not general.fullmatch(digits):
        return PhoneNumberType.UNKNOWN
    found = types.fullmatch(digits) if types else None
    if found is None:
        return PhoneNumberType.UNKNOWN
    kind = TYPE_BY_NAME[found.lastgroup]
    if kind == PhoneNumberType.FIXED_LINE and (
        mobile is True or mobile and mobile.fullmatch(digits)
    ):
        return PhoneNumberType.FIXED_LINE_OR_MOBILE
    return kind


@cache
def _type_patterns(region: str, length: int):
    """(general pattern, one alternation of the type patterns in order, mobile pattern)."""
    metadata = PhoneMetadata.metadata_for_region(region)

    def pattern(desc):
        if desc is None or not desc.national_number_pattern:
            return None
        if desc.possible_length and length not in desc.possible_length:
            return None
        return desc.national_number_pattern

    same = metadata.same_mobile_and_fixed_line_pattern
    parts = [
        f"(?P<{name}>{found})"
        for name, _ in TYPE_ORDER
        if (found := pattern(getattr(metadata, name))) and not (name == "mobile" and same)
    ]
    general = pattern(metadata.general_desc)
    mobile = True if same else (re.compile(p) if (p := pattern(metadata.mobile)) else None)
    return (
        re.compile(general) if general else None,
        re.compile("|".join(parts)) if parts else None,
        mobile,
    )


def same_as_phonenumbers(raw: str, region: str) -> tuple[str | None, bool]:
    """The full way only (tests compare the shortcut with it)."""
    return _full(raw, region)
