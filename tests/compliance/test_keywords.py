import pytest

from compliance.keywords import KeywordKind, KeywordResult, classify, help_reply, normalise

OPT_OUT = [
    "STOP",
    "STOPALL",
    "UNSUBSCRIBE",
    "CANCEL",
    "END",
    "QUIT",
    "REVOKE",
    "OPTOUT",
    "REMOVE",
    "ARRET",
    "PARAR",
    "CANCELAR",
    "BAJA",
]


def fullwidth(text: str) -> str:
    return "".join(chr(ord(char) + 0xFEE0) for char in text)


FORMS = {
    "plain": lambda word: word,
    "lower": str.lower,
    "title_punctuated": lambda word: f"{word.title()}!!",
    "quoted": lambda word: f'"{word.lower()}."',
    "curly_quoted": lambda word: f"\u201c{word}\u201d",
    "emoji": lambda word: f"\U0001f6d1 {word.lower()} \U0001f44b\U0001f3fd",
    "nbsp_padded": lambda word: f"\u00a0 {word}\u00a0\n",
    "zero_width_padded": lambda word: f"\ufeff\u200b{word.lower()}\u200d\u2060",
    "fullwidth": fullwidth,
}


def exact(kind: KeywordKind, keyword: str) -> KeywordResult:
    return KeywordResult(kind=kind, keyword=keyword, normalised=keyword)


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("keyword", OPT_OUT)
def test_opt_out_keyword_in_any_form_opts_out(keyword, form):
    body = FORMS[form](keyword)

    assert classify(body) == exact(KeywordKind.OPT_OUT, keyword)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("  stop  ", "STOP"),
        ("ＳＴＯＰ", "STOP"),
        ("\u200bStop\ufeff", "STOP"),
        ("St\u200bop", "STOP"),
        ("...STOP!!! \U0001f621", "STOP"),
        ("stop   all", "STOPALL"),
        ("Stop\u00a0All!", "STOPALL"),
        ("opt out", "OPTOUT"),
        ("Opt-Out", "OPTOUT"),
        ("'OPT  OUT'", "OPTOUT"),
        ("please   stop\ttexting\nme.", "PLEASE STOP TEXTING ME"),
        ("can't stop smiling \U0001f600", "CAN'T STOP SMILING"),
        ("\u2728\u2728", ""),
        ("", ""),
    ],
)
def test_normalise(body, expected):
    assert normalise(body) == expected


@pytest.mark.parametrize(
    ("body", "kind", "keyword"),
    [
        ("STOP ALL", KeywordKind.OPT_OUT, "STOPALL"),
        ("opt out", KeywordKind.OPT_OUT, "OPTOUT"),
        ("Opt-Out", KeywordKind.OPT_OUT, "OPTOUT"),
        ("start", KeywordKind.OPT_IN, "START"),
        ("Unstop!", KeywordKind.OPT_IN, "UNSTOP"),
        ("ＳＴＡＲＴ", KeywordKind.OPT_IN, "START"),
        ("yes", KeywordKind.CONFIRM, "YES"),
        ("Y", KeywordKind.CONFIRM, "Y"),
        ("YES!!", KeywordKind.CONFIRM, "YES"),
        ("help", KeywordKind.HELP, "HELP"),
        ("Help?", KeywordKind.HELP, "HELP"),
        ("info", KeywordKind.HELP, "INFO"),
    ],
)
def test_exact_keyword_kinds(body, kind, keyword):
    assert classify(body) == exact(kind, keyword)


@pytest.mark.parametrize(
    ("body", "keyword", "normalised"),
    [
        ("stop please", "STOP", "STOP PLEASE"),
        ("Please stop texting me", "STOP", "PLEASE STOP TEXTING ME"),
        ("remove me", "REMOVE", "REMOVE ME"),
        ("Stop texting me!", "STOP", "STOP TEXTING ME"),
        ("unsubscribe me", "UNSUBSCRIBE", "UNSUBSCRIBE ME"),
        ("No more texts", "NO MORE", "NO MORE TEXTS"),
        ("opt me out", "OPT OUT", "OPT ME OUT"),
        ("opt-out pls", "OPT OUT", "OPT-OUT PLS"),
        ("Take me off your list", "TAKE OFF", "TAKE ME OFF YOUR LIST"),
        ("Please remove me from your list.", "REMOVE", "PLEASE REMOVE ME FROM YOUR LIST"),
        ("dont text me", "DON'T TEXT", "DONT TEXT ME"),
        ("Do not text me anymore", "DO NOT TEXT", "DO NOT TEXT ME ANYMORE"),
        ("stop stop stop", "STOP", "STOP STOP STOP"),
        ("I want to cancel", "CANCEL", "I WANT TO CANCEL"),
    ],
)
def test_short_instruction_is_opt_out_intent(body, keyword, normalised):
    assert classify(body) == KeywordResult(
        kind=KeywordKind.OPT_OUT_INTENT, keyword=keyword, normalised=normalised
    )


@pytest.mark.parametrize(
    ("body", "keyword"),
    [
        ("can't stop smiling", "STOP"),
        ("can\u2019t stop smiling", "STOP"),
        ("When does the sale end?", "END"),
        ("don't stop texting me", "STOP"),
        ("How do I opt out of the loyalty club?", "OPTOUT"),
        ("I had to cancel my order, can you refund it?", "CANCEL"),
        ("please stop sending me so many texts every single day", "STOP"),
    ],
)
def test_per_se_word_in_unclear_message_is_unclear(body, keyword):
    result = classify(body)

    assert (result.kind, result.keyword) == (KeywordKind.UNCLEAR_OPT_OUT, keyword)


@pytest.mark.parametrize(
    "body",
    [
        "stopwatch",
        "endless",
        "quitting",
        "Thanks!",
        "No",
        "yes please",
        "opt me in",
        "",
        "   \u00a0\u200b",
        "\U0001f44d",
    ],
)
def test_message_without_keyword_is_none(body):
    assert classify(body) == KeywordResult(kind=KeywordKind.NONE, normalised=normalise(body))


def test_overriding_the_setting_replaces_the_extras(settings):
    settings.SMS_EXTRA_OPT_OUT_KEYWORDS = ["stopp", "Avslutt"]

    assert classify("STOPP") == exact(KeywordKind.OPT_OUT, "STOPP")
    assert classify("avslutt!") == exact(KeywordKind.OPT_OUT, "AVSLUTT")
    assert classify("BAJA") == KeywordResult(kind=KeywordKind.NONE, normalised="BAJA")
    assert classify("stop") == exact(KeywordKind.OPT_OUT, "STOP")


def test_empty_extras_setting_keeps_the_builtin_keywords(settings):
    settings.SMS_EXTRA_OPT_OUT_KEYWORDS = []

    assert classify("PARAR") == KeywordResult(kind=KeywordKind.NONE, normalised="PARAR")
    assert classify("revoke") == exact(KeywordKind.OPT_OUT, "REVOKE")


def test_help_reply_for_a_typical_brand_fits_one_gsm7_segment():
    reply = help_reply(
        brand="TandemShop", help_contact="help@tandem.shop", frequency="Up to 6 msgs/month."
    )

    assert reply == (
        "TandemShop: Help at help@tandem.shop. Up to 6 msgs/month. "
        "Msg & data rates may apply. Reply STOP to cancel."
    )
    assert len(reply) <= 160
    assert reply.isascii() and not set(reply) & set("^{}[]~\\|`")
