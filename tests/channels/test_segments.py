import pytest

from channels.segments import count, estimate_template


@pytest.mark.parametrize(
    ("text", "encoding", "segments"),
    [
        ("A" * 160, "GSM-7", 1),
        ("A" * 161, "GSM-7", 2),
        ("A" * 306, "GSM-7", 2),
        ("A" * 307, "GSM-7", 3),
        ("€" * 80, "GSM-7", 1),
        ("€" * 81, "GSM-7", 2),
        ("😀" * 35, "UCS-2", 1),
        ("😀" * 36, "UCS-2", 2),
        ("’" + "A" * 69, "UCS-2", 1),
    ],
)
def test_compliance_vectors(text, encoding, segments):
    info = count(text)
    assert (info.encoding, info.segments) == (encoding, segments)


def test_extension_characters_take_two_septets():
    assert count("{}[]~|^\\€").units == 18


def test_an_extension_character_never_splits_across_segments():
    # 152 septets, then "€" (2) does not fit in the first 153-septet segment: it moves.
    info = count("A" * 152 + "€" + "A" * 10)
    assert info.units == 164
    assert info.segments == 2
    assert count("A" * 152 + "€" + "A" * 152).segments == 3


def test_an_emoji_never_splits_across_segments():
    # 66 units + an emoji (2) would need 68 > 67 units: it moves whole to segment two.
    assert count("Ж" * 66 + "😀" + "Ж" * 65).segments == 2
    assert count("Ж" * 66 + "😀" + "Ж" * 66).segments == 3


def test_the_characters_forcing_ucs2_are_named_once_each():
    assert count("Café ’quoted’ ’again’").non_gsm == "’"


def test_empty_text_is_no_segment():
    assert count("").segments == 0


def test_a_template_counts_links_at_their_short_length(settings):
    settings.PUBLIC_BASE_URL = "https://t.example"
    body = "Sale https://shop.example.com/a/very/long/path/that/goes/on?and=on&on=on"
    info = estimate_template(body)
    assert info.characters == len("Sale https://t.example/l/xxxxxxx")


def test_cost_is_segments_times_the_price(settings):
    settings.SMS_SEGMENT_PRICE = "0.0079"
    assert str(count("A" * 161).cost) == "0.0158"
