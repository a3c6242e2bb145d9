"""SMS segment counting: GSM-7 (160 / 153 septets) or UCS-2 (70 / 67 units).

A multipart message loses room to the concatenation header (UDH), and a character is
never split across two segments: a GSM-7 extension character (escape + char, 2 septets)
or an astral character such as an emoji (a UTF-16 surrogate pair, 2 units) moves whole
to the next segment. The admin's live counter (static/channels/segments.js) mirrors this.
"""

from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("^{}\\[~]|€\f")
LIMITS = {"GSM-7": (160, 153), "UCS-2": (70, 67)}
# A tracked short link as it will appear in the SMS: PUBLIC_BASE_URL + "/l/" + 7 chars.
SHORT_LINK_CODE_LENGTH = 7


@dataclass(frozen=True)
class SegmentInfo:
    encoding: str  # "GSM-7" or "UCS-2"
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2)
    segments: int
    characters: int
    non_gsm: str = ""  # the characters that forced UCS-2, in order of appearance

    @property
    def per_segment(self) -> int:
        single, multi = LIMITS[self.encoding]
        return single if self.segments <= 1 else multi

    @property
    def cost(self) -> Decimal:
        return Decimal(settings.SMS_SEGMENT_PRICE) * self.segments


def _gsm_width(char: str) -> int | None:
    if char in GSM7_BASIC:
        return 1
    if char in GSM7_EXTENSION:
        return 2
    return None


def _ucs2_width(char: str) -> int:
    return 2 if ord(char) > 0xFFFF else 1


def _pack(widths: list[int], single: int, multi: int) -> int:
    """Segments needed, filling each to `multi` without splitting a character."""
    if sum(widths) <= single:
        return 1 if widths else 0
    segments, used = 1, 0
    for width in widths:
        if used + width > multi:
            segments, used = segments + 1, 0
        used += width
    return segments


def count(text: str) -> SegmentInfo:
    gsm = [_gsm_width(char) for char in text]
    if None not in gsm:
        widths, encoding, non_gsm = gsm, "GSM-7", ""
    else:
        widths = [_ucs2_width(char) for char in text]
        encoding = "UCS-2"
        non_gsm = "".join(dict.fromkeys(c for c, w in zip(text, gsm, strict=True) if w is None))
    single, multi = LIMITS[encoding]
    return SegmentInfo(
        encoding=encoding,
        units=sum(widths),  # type: ignore[arg-type]
        segments=_pack(widths, single, multi),  # type: ignore[arg-type]
        characters=len(text),
        non_gsm=non_gsm,
    )


def estimate_template(body: str) -> SegmentInfo:
    """Segments of a template body before rendering: links counted at their short length."""
    from channels.links import URL_PATTERN

    short = f"{settings.PUBLIC_BASE_URL}/l/{'x' * SHORT_LINK_CODE_LENGTH}"
    return count(URL_PATTERN.sub(short, body or ""))
