"""SMS segment counting: GSM-7 versus UCS-2, single versus concatenated messages."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.core.sms_segments import GSM7_BASIC, GSM7_EXTENSION, SegmentInfo, fits, segment_info

BASIC = sorted(GSM7_BASIC)
EXTENSION = "^{}\\[~]|€\f"


def test_empty_text_is_zero_segments() -> None:
    assert segment_info("") == SegmentInfo("GSM-7", 0, 0)
    assert fits("", 0)


@pytest.mark.parametrize(
    ("length", "segments"),
    [(1, 1), (160, 1), (161, 2), (306, 2), (307, 3), (459, 3), (460, 4)],
)
def test_gsm7_boundaries(length: int, segments: int) -> None:
    info = segment_info("a" * length)
    assert info == SegmentInfo("GSM-7", length, segments)


@pytest.mark.parametrize(
    ("length", "segments"),
    [(1, 1), (70, 1), (71, 2), (134, 2), (135, 3), (201, 3), (202, 4)],
)
def test_ucs2_boundaries(length: int, segments: int) -> None:
    info = segment_info("ж" * length)
    assert info == SegmentInfo("UCS-2", length, segments)


def test_nordic_letters_stay_gsm7() -> None:
    text = "Hej Åsa och Øystein! Välkommen: åäö ÅÄÖ æø ÆØ é É ü Ü ñ Ñ ß à è ù ì ò Ç ¿¡ £¥§¤ @_ ΔΦΓΛΩΠΨΣΘΞ"
    info = segment_info(text)
    assert info.encoding == "GSM-7"
    assert info.units == len(text)


@pytest.mark.parametrize("char", ["ç", "á", "í", "ó", "ú", "ê", "õ", "â", "Ë", "–", "’", "“", "\t", "`", "\x1b"])
def test_characters_outside_the_alphabet_switch_to_ucs2(char: str) -> None:
    assert segment_info("Hej " + char).encoding == "UCS-2"


def test_one_emoji_switches_to_ucs2_and_counts_two_units() -> None:
    text = "Välkommen! 🙂"
    info = segment_info(text)
    assert info.encoding == "UCS-2"
    assert info.units == len(text) + 1
    assert segment_info("a" * 69 + "🙂") == SegmentInfo("UCS-2", 71, 2)
    assert segment_info("a" * 68 + "🙂") == SegmentInfo("UCS-2", 70, 1)


@pytest.mark.parametrize("char", list(EXTENSION))
def test_extension_characters_count_two(char: str) -> None:
    assert char in GSM7_EXTENSION
    assert segment_info(char) == SegmentInfo("GSM-7", 2, 1)
    assert segment_info("a" * 158 + char) == SegmentInfo("GSM-7", 160, 1)
    assert segment_info("a" * 159 + char) == SegmentInfo("GSM-7", 161, 2)


def test_extension_pair_is_not_split_across_segments() -> None:
    # 152 septets, then € (2): it does not fit into the first segment's last septet.
    text = "a" * 152 + "€" + "a" * 152
    info = segment_info(text)
    assert info.units == 306
    assert info.segments == 3  # 152 | 2 + 151 | 1; 306 septets alone would fit in two segments
    assert segment_info("a" * 151 + "€" + "a" * 153).segments == 2


def test_surrogate_pair_is_not_split_across_segments() -> None:
    text = "a" * 66 + "🙂" + "a" * 66
    info = segment_info(text)
    assert info == SegmentInfo("UCS-2", 134, 3)
    assert segment_info("a" * 65 + "🙂" + "a" * 67).segments == 2


def test_fits() -> None:
    assert fits("a" * 160, 1)
    assert not fits("a" * 161, 1)
    assert fits("a" * 306, 2)
    assert not fits("Kod 🙂" + "a" * 66, 1)
    with pytest.raises(ValueError):
        fits("a", -1)


def test_dollar_and_currency_sign_are_basic_but_not_euro() -> None:
    assert segment_info("$¤").units == 2
    assert segment_info("€").units == 2


text_strategy = st.text(alphabet=st.characters(codec="utf-8"), max_size=400)
gsm_basic_text = st.text(alphabet=st.sampled_from(BASIC), max_size=500)


@given(text_strategy, st.characters(codec="utf-8"))
def test_appending_a_character_never_reduces_segments(text: str, char: str) -> None:
    before, after = segment_info(text), segment_info(text + char)
    assert after.segments >= before.segments
    assert after.segments >= 1


@given(gsm_basic_text)
def test_basic_gsm_text_has_one_unit_per_character(text: str) -> None:
    info = segment_info(text)
    assert info.encoding == "GSM-7"
    assert info.units == len(text)
    single = 160
    expected = 0 if not text else 1 if len(text) <= single else -(-len(text) // 153)
    assert info.segments == expected


@given(st.text(max_size=400))
def test_segments_cover_units(text: str) -> None:
    info = segment_info(text)
    single, per = (160, 153) if info.encoding == "GSM-7" else (70, 67)
    if info.units == 0:
        assert info.segments == 0
    elif info.units <= single:
        assert info.segments == 1
    else:
        assert info.segments >= -(-info.units // per)
        assert info.segments <= -(-info.units // (per - 1))


# Concatenated GSM-7, with closed forms worked out by hand rather than by the counter's own loop.
@given(st.text(alphabet=st.sampled_from(BASIC), min_size=161, max_size=1200))
def test_long_basic_gsm_text_is_split_every_153_septets(text: str) -> None:
    info = segment_info(text)
    assert info.encoding == "GSM-7"
    assert info.segments >= 2  # this property always reaches concatenation
    assert info.segments == (len(text) + 152) // 153


@given(st.text(alphabet=st.sampled_from(EXTENSION), min_size=81, max_size=600))
def test_extension_pairs_are_never_split_so_76_fit_a_segment(text: str) -> None:
    # 2 septets each: 80 fit one message (160); concatenated, 76 pairs fill 152 of a segment's 153 septets.
    info = segment_info(text)
    assert info.units == 2 * len(text)
    assert info.segments == (len(text) + 75) // 76


@pytest.mark.parametrize(
    ("text", "segments"),
    [
        ("a" * 152 + "€" + "a" * 10, 2),  # 164 septets: the pair opens the second segment
        ("a" * 151 + "€" + "a" * 153, 2),  # 153 + 153 exactly
        ("a" * 152 + "€" + "a" * 152, 3),  # the pair cannot take the 153rd septet, so the tail spills
        ("a" * 158 + "€", 1),  # 160 septets: still one message
    ],
)
def test_an_extension_character_at_a_segment_boundary_moves_whole(text: str, segments: int) -> None:
    assert segment_info(text).segments == segments
