"""Phone numbers for imports: E.164 and "may receive SMS" in one step.

phonenumbers costs ~55 us a number (parse, then find the region among the country code's
regions, then match its patterns). A list of 1M customers has ~1M distinct numbers, so the
numbers typed the usual ways skip `parse`: digits with the usual separators, either North
American (a North American area code (NPA) belongs to exactly one region, so the region
found for an NPA once is reused) or international with a "+" and a country code (its
region found as phonenumbers finds it), and their patterns matched directly. A North
American number of under seven digits is invalid without asking. Anything else, and any
number a shortcut finds invalid, goes the full way, so the shortcuts only ever save time.
"""

import re
from functools import cache

import phonenumbers
from phonenumbers import PhoneNumberFormat, PhoneNumberType

try:  # private helpers; without them every number takes the full (public) way
    from phonenumbers.phonenumberutil import PhoneMetadata, _number_type_helper
except ImportError:  # pragma: no cover
    _number_type_helper = None

MOBILE_TYPES = (PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE)
REGIONS = phonenumbers.COUNTRY_CODE_TO_REGION_CODE
NANP_REGIONS = frozenset(REGIONS[1])
# Digits with the separators people type: "+1 (415) 555-0123", "415.555.0123", "4155550123".
NANP_TYPED = re.compile(r"\+?1?[\s.\-]*\(?\d{3}\)?[\s.\-]*\d{3}[\s.\-]*\d{4}")
INTERNATIONAL_TYPED = re.compile(r"\+\d[\d\s.\-()]*")  # "+44 7911 123456"
LOCAL_TYPED = re.compile(r"[2-9][\d\s.\-]*")  # "555-012": too short for North America
SEPARATORS = str.maketrans("", "", " \t\n\r\f\v.-()+")
_NPA_REGION: dict[str, str] = {}


def parse_phone(raw: str, region: str) -> tuple[str | None, bool]:
    """(E.164 or None when invalid, may receive SMS)."""
    found = _nanp(raw, region) or _international(raw) if _number_type_helper else None
    return found or _full(raw, region)


def is_mobile(e164: str) -> bool:
    return parse_phone(e164, "ZZ")[1]


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
    """The North American shortcut's answer, or None to go the full way."""
    if not NANP_TYPED.fullmatch(raw):
        if region in NANP_REGIONS and LOCAL_TYPED.fullmatch(raw):
            if len(raw.translate(SEPARATORS)) < 7:
                return None, False  # no North American number is shorter (a few are seven)
        return None
    digits = raw.translate(SEPARATORS)
    if len(digits) == 11 and digits[0] == "1":
        digits = digits[1:]
    elif len(digits) != 10 or region not in NANP_REGIONS or raw.startswith("+"):
        return None  # "+303 313 5702" is country code 30, not the area code 303
    known = _NPA_REGION.get(digits[:3])
    if known is None:
        return None
    kind = number_type(digits, known)
    if kind == PhoneNumberType.UNKNOWN:
        return None
    return "+1" + digits, kind in MOBILE_TYPES


def _international(raw: str) -> tuple[str, bool] | None:
    """The shortcut for "+<country code> <number>" outside North America, or None."""
    if not INTERNATIONAL_TYPED.fullmatch(raw):
        return None
    digits = raw.translate(SEPARATORS)
    if digits[0] == "0":
        return None
    for size in (1, 2, 3):  # as phonenumbers reads a country code: the first that exists
        regions = REGIONS.get(int(digits[:size]))
        if regions:
            break
    else:
        return None
    national = digits[size:]
    if regions[0] in NANP_REGIONS or "001" in regions or not national or national[0] == "0":
        return None  # North America, numbers of no region, leading zeros: the full way
    if _strips_prefix(regions[0], national):
        return None
    region = _region_of(national, regions)
    kind = number_type(national, region) if region else PhoneNumberType.UNKNOWN
    if kind == PhoneNumberType.UNKNOWN:
        return None
    return f"+{digits[:size]}{national}", kind in MOBILE_TYPES


@cache
def _prefix_pattern(region: str):
    prefix = PhoneMetadata.metadata_for_region(region).national_prefix_for_parsing
    return re.compile(prefix) if prefix else None


def _strips_prefix(region: str, national: str) -> bool:
    """Whether phonenumbers would take a national prefix off this number (then: full way)."""
    pattern = _prefix_pattern(region)
    return bool(pattern and pattern.match(national))


@cache
def _leading_digits(region: str):
    leading = PhoneMetadata.metadata_for_region(region).leading_digits
    return re.compile(leading) if leading else None


def _region_of(national: str, regions: tuple[str, ...]) -> str | None:
    """phonenumbers' region for a number of a country code shared by several regions."""
    if len(regions) == 1:
        return regions[0]
    for region in regions:
        leading = _leading_digits(region)
        if leading is not None:
            if leading.match(national):
                return region
        elif number_type(national, region) != PhoneNumberType.UNKNOWN:
            return region
    return None


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
