"""Inbound SMS keywords: normalise a reply and say what it asks for.

Pure: no models, no database; settings are read at call time only.

Rules, in order (see COMPLIANCE.md, "SMS keywords"):

1. Exact keywords after `normalise`: opt-out (plus the extras from the setting
   `SMS_EXTRA_OPT_OUT_KEYWORDS`), opt-in, confirm (YES / Y), help.
2. Opt-out intent (FCC: "any reasonable means"): at most `MAX_INTENT_WORDS` words, at least
   one `INTENT_PHRASES` entry (its words in order, not necessarily adjacent), and every other
   word in `FILLER_WORDS`. "please stop texting me" revokes. Negations ("don't", "not",
   "no") are not filler, so "don't stop" is never read as a revocation.
3. Unclear: a per-se word (`PER_SE_WORDS`, or "opt out") as a whole word anywhere, e.g.
   "can't stop smiling". The caller pauses marketing and queues the message for review.
4. Otherwise none: "stopwatch", "endless" and "quitting" contain no whole per-se word.
"""

import re
import unicodedata
from dataclasses import dataclass

from django.conf import settings
from django.db.models import TextChoices

OPT_OUT_KEYWORDS = frozenset(
    {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT", "REMOVE"}
)
DEFAULT_EXTRA_OPT_OUT_KEYWORDS = ("ARRET", "PARAR", "CANCELAR", "BAJA")
OPT_IN_KEYWORDS = frozenset({"START", "UNSTOP"})
# Counts only while a double opt-in is pending or the number is opted out: the caller decides.
CONFIRM_KEYWORDS = frozenset({"YES", "Y"})
HELP_KEYWORDS = frozenset({"HELP", "INFO"})

# FCC per-se revocation words, matched as whole words ("OPT OUT" is matched as a word pair).
PER_SE_WORDS = frozenset(
    {"STOP", "STOPALL", "QUIT", "END", "REVOKE", "CANCEL", "UNSUBSCRIBE", "OPTOUT"}
)
INTENT_PHRASES: tuple[tuple[str, ...], ...] = (
    *((word,) for word in sorted(PER_SE_WORDS)),
    ("REMOVE",),
    ("OPT", "OUT"),
    ("TAKE", "OFF"),
    ("NO", "MORE"),
    ("DON'T", "TEXT"),
    ("DON'T", "MESSAGE"),
    ("DO", "NOT", "TEXT"),
    ("DO", "NOT", "MESSAGE"),
)
FILLER_WORDS = frozenset(
    {
        *("PLEASE", "THANKS", "THANK", "YOU", "NOW", "ALL", "ANYMORE", "IT", "THIS", "THE"),
        *("I", "ME", "MY", "YOUR", "WANT", "WOULD", "LIKE", "TO", "OF", "OFF", "FROM"),
        *("TEXT", "TEXTS", "TEXTING", "MESSAGE", "MESSAGES", "SMS", "SEND", "SENDING"),
        *("LIST", "MAILING", "NUMBER", "SUBSCRIPTION"),
    }
)
WORD_ALIASES = {
    "DONT": "DON'T",
    "PLZ": "PLEASE",
    "PLS": "PLEASE",
    "THX": "THANKS",
    "TXT": "TEXT",
    "TXTS": "TEXTS",
    "MSG": "MESSAGE",
    "MSGS": "MESSAGES",
}
MAX_INTENT_WORDS = 8

# Whole-message joins, applied after upper-casing and collapsing spaces.
_JOINS = {"STOP ALL": "STOPALL", "OPT OUT": "OPTOUT", "OPT-OUT": "OPTOUT"}
# NFKC keeps these invisible characters; phones and copy-paste add them around words.
_ZERO_WIDTH = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff"))
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'"})
_WORD = re.compile(r"\w+(?:'\w+)*")


class KeywordKind(TextChoices):
    OPT_OUT = "opt_out", "Opt-out keyword"
    OPT_OUT_INTENT = "opt_out_intent", "Opt-out by intent"
    UNCLEAR_OPT_OUT = "unclear_opt_out", "Unclear, may be an opt-out"
    OPT_IN = "opt_in", "Opt-in keyword"
    CONFIRM = "confirm", "Confirmation (YES / Y)"
    HELP = "help", "Help keyword"
    NONE = "none", "No keyword"


@dataclass(frozen=True, slots=True)
class KeywordResult:
    kind: KeywordKind
    keyword: str = ""
    normalised: str = ""


def normalise(body: str) -> str:
    """NFKC, drop zero-width characters, strip edge symbols, collapse spaces, upper-case."""
    text = unicodedata.normalize("NFKC", body).translate(_ZERO_WIDTH)
    text = " ".join(_strip_edges(text).split()).upper()
    return _JOINS.get(text, text)


def opt_out_keywords() -> frozenset[str]:
    """The exact opt-out keywords, with the extras configured now."""
    extras = getattr(settings, "SMS_EXTRA_OPT_OUT_KEYWORDS", DEFAULT_EXTRA_OPT_OUT_KEYWORDS)
    return OPT_OUT_KEYWORDS | {normalise(keyword) for keyword in extras}


def classify(body: str) -> KeywordResult:
    """What an inbound SMS body asks for; see the module docstring for the rules."""
    text = normalise(body)
    kind = _exact_kind(text)
    if kind is not KeywordKind.NONE:
        return KeywordResult(kind=kind, keyword=text, normalised=text)
    words = _words(text)
    if phrase := _intent_phrase(words):
        return KeywordResult(kind=KeywordKind.OPT_OUT_INTENT, keyword=phrase, normalised=text)
    if word := _per_se_word(words):
        return KeywordResult(kind=KeywordKind.UNCLEAR_OPT_OUT, keyword=word, normalised=text)
    return KeywordResult(kind=KeywordKind.NONE, normalised=text)


def help_reply(*, brand: str, help_contact: str, frequency: str) -> str:
    """The HELP / INFO answer; about 110 GSM-7 characters for a typical brand."""
    frequency = frequency.strip().rstrip(".")
    return (
        f"{brand}: Help at {help_contact}. {frequency}. "
        "Msg & data rates may apply. Reply STOP to cancel."
    )


def _strip_edges(text: str) -> str:
    """Drop leading and trailing characters that are not letters or digits."""
    start, end = 0, len(text)
    while start < end and not text[start].isalnum():
        start += 1
    while end > start and not text[end - 1].isalnum():
        end -= 1
    return text[start:end]


def _exact_kind(text: str) -> KeywordKind:
    if text in opt_out_keywords():
        return KeywordKind.OPT_OUT
    if text in OPT_IN_KEYWORDS:
        return KeywordKind.OPT_IN
    if text in CONFIRM_KEYWORDS:
        return KeywordKind.CONFIRM
    if text in HELP_KEYWORDS:
        return KeywordKind.HELP
    return KeywordKind.NONE


def _words(text: str) -> list[str]:
    words = _WORD.findall(text.translate(_APOSTROPHES))
    return [WORD_ALIASES.get(word, word) for word in words]


def _intent_phrase(words: list[str]) -> str:
    """The first intent phrase found when the rest of the message is filler, else ""."""
    if len(words) > MAX_INTENT_WORDS:
        return ""
    matched: list[tuple[str, ...]] = []
    for phrase in INTENT_PHRASES:
        while (rest := _consume(words, phrase)) is not None:
            words = rest
            matched.append(phrase)
    if matched and set(words) <= FILLER_WORDS:
        return " ".join(matched[0])
    return ""


def _consume(words: list[str], phrase: tuple[str, ...]) -> list[str] | None:
    """Remove one in-order occurrence of the phrase's words; None when it does not occur."""
    rest, start = list(words), 0
    for part in phrase:
        if part not in rest[start:]:
            return None
        start = rest.index(part, start)
        del rest[start]
    return rest


def _per_se_word(words: list[str]) -> str:
    for index, word in enumerate(words):
        if word in PER_SE_WORDS:
            return word
        if word == "OPT" and words[index + 1 : index + 2] == ["OUT"]:
            return "OPTOUT"
    return ""
