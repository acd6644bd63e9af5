"""The retention engine (hcp-protocol §6): expressions, classes, printing, change rules."""

from __future__ import annotations

import calendar
from datetime import datetime

import pytest

from hcpfs.emulator import retention as r
from hcpfs.emulator.errors import HcpError

NOW = calendar.timegm((2024, 1, 31, 12, 0, 0))
INGEST = calendar.timegm((2023, 6, 15, 8, 30, 0))
CLASSES = {"short": "A+1d", "tax": "A+10y", "keep": "-1", "open": "-2", "none": "0"}
CTX = r.Context(NOW, INGEST, CLASSES)


def utc(*fields: int) -> int:
    return calendar.timegm((*fields, 0, 0, 0)[:6])


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("0", 0),
        ("-0", 0),
        ("Deletion Allowed", 0),
        ("deletion allowed", 0),
        ("Deletion+Allowed", 0),
        ("-1", -1),
        ("DELETION PROHIBITED", -1),
        ("-2", -2),
        ("Initial Unspecified", -2),
        ("1450137600", 1450137600),
    ],
)
def test_special_values_and_epoch_seconds(text: str, value: int) -> None:
    assert r.parse(text, CTX) == r.Setting(value)


def test_iso_datetime_with_zone() -> None:
    # 2015-11-16T14:27:20-0500 is 19:27:20 UTC
    assert r.parse("2015-11-16T14:27:20-0500", CTX).value == utc(2015, 11, 16, 19, 27, 20)


def test_invalid_calendar_date_rolls_over() -> None:
    # §6.2: 2015-11-33 is normalised to 2015-12-03
    assert r.parse("2015-11-33T00:00:00+0000", CTX).value == utc(2015, 12, 3)
    assert r.parse("2015-13-01T25:00:00+0000", CTX).value == utc(2016, 1, 2, 1)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("A+100y", utc(2123, 6, 15, 8, 30)),
        ("A+1M", utc(2023, 7, 15, 8, 30)),
        ("N+20d-5h", NOW + 20 * 86400 - 5 * 3600),
        ("N+1w", NOW + 7 * 86400),
        ("N+1m+1s", NOW + 61),
        ("+1d", INGEST + 86400),
        ("N+1M", utc(2024, 2, 29, 12)),  # Jan 31 + 1 month clamps to Feb 29 (leap year)
    ],
)
def test_offsets(text: str, expected: int) -> None:
    assert r.parse(text, CTX).value == expected


def test_offset_from_current_retention() -> None:
    current = r.Setting(utc(2030, 1, 1))
    assert r.parse("R+2y+1d", CTX, current).value == utc(2032, 1, 2)


def test_offset_from_special_current_value_is_refused() -> None:
    with pytest.raises(HcpError) as caught:
        r.parse("R+1y", CTX, r.Setting(r.UNSPECIFIED))
    assert caught.value.status == 400


@pytest.mark.parametrize(
    "text", ["A+1d+1y", "A+10000y", "X+1d", "A", "tomorrow", "2015-11-16", "A+1D", "C+"]
)
def test_malformed_expressions(text: str) -> None:
    with pytest.raises(HcpError) as caught:
        r.parse(text, CTX)
    assert caught.value.status == 400


def test_class_expression() -> None:
    assert r.parse("C+tax", CTX) == r.Setting(utc(2033, 6, 15, 8, 30), "tax")
    assert r.parse("c+keep", CTX) == r.Setting(-1, "keep")
    with pytest.raises(HcpError):
        r.parse("C+missing", CTX)


def test_effective_value_follows_the_class_and_a_deleted_class_prohibits() -> None:
    setting = r.Setting(0, "short")
    assert r.effective(setting, INGEST, CLASSES) == INGEST + 86400
    assert r.effective(setting, INGEST, {"short": "A+2d"}) == INGEST + 2 * 86400
    assert r.effective(setting, INGEST, {}) == r.PROHIBITED


def test_blocks_delete() -> None:
    assert not r.blocks_delete(0, NOW)
    assert r.blocks_delete(-1, NOW)
    assert r.blocks_delete(-2, NOW)
    assert r.blocks_delete(NOW + 1, NOW)
    assert not r.blocks_delete(NOW - 1, NOW)


def test_text_formats_like_hcp() -> None:
    assert r.text(0) == "Deletion Allowed"
    assert r.text(-1) == "Deletion Prohibited"
    assert r.text(-2) == "Initial Unspecified"
    value = utc(2030, 5, 6, 7, 8, 9)
    expected = datetime.fromtimestamp(value).astimezone().strftime("%Y-%m-%dT%H:%M:%S%z")
    assert r.text(value) == expected
    assert expected[-5] in "+-" and expected[-4:].isdigit()


def test_class_values_accept_only_a_offsets_and_special_values() -> None:
    assert r.class_value("A+1y", INGEST) > INGEST
    assert r.class_value("-2", INGEST) == -2
    for bad in ("N+1y", "R+1y", "1450137600", "C+x"):
        with pytest.raises(HcpError):
            r.class_value(bad, INGEST)


def test_default_cannot_be_relative_to_now() -> None:
    r.validate_default("A+1y", {})
    r.validate_default("C+x", {"x": "-1"})
    with pytest.raises(HcpError):
        r.validate_default("N+1y", {})


# ---- change rules (§6.2) ---------------------------------------------------------------------

FUTURE = NOW + 3600
PAST = NOW - 3600


@pytest.mark.parametrize(
    ("current", "new"),
    [
        (r.Setting(0), r.Setting(-2)),
        (r.Setting(0), r.Setting(PAST)),  # not under retention: anything goes
        (r.Setting(PAST), r.Setting(0)),
        (r.Setting(-2), r.Setting(0)),
        (r.Setting(-2), r.Setting(FUTURE)),
        (r.Setting(-2), r.Setting(-1)),
        (r.Setting(FUTURE), r.Setting(FUTURE + 1)),
        (r.Setting(FUTURE), r.Setting(-1)),
        (r.Setting(-1), r.Setting(-1)),
        (r.Setting(0), r.Setting(FUTURE, "x")),
        (r.Setting(FUTURE), r.Setting(FUTURE + 10, "x")),
        (r.Setting(-1), r.Setting(-1, "keep")),
        (r.Setting(-2), r.Setting(-2, "open")),
    ],
)
def test_allowed_changes(current: r.Setting, new: r.Setting) -> None:
    r.check_change(current, new, r.Context(NOW, INGEST, {}))


@pytest.mark.parametrize(
    ("current", "new", "reason"),
    [
        (r.Setting(FUTURE), r.Setting(FUTURE - 1), "shortened"),
        (r.Setting(FUTURE), r.Setting(0), "shortened"),
        (r.Setting(FUTURE), r.Setting(-2), "shortened"),
        (r.Setting(-1), r.Setting(FUTURE), "no longer change"),
        (r.Setting(-1), r.Setting(0), "no longer change"),
        (r.Setting(FUTURE), r.Setting(FUTURE - 5, "x"), "shorten"),
        (r.Setting(-1), r.Setting(FUTURE, "x"), "only a class with value -1"),
    ],
)
def test_refused_changes(current: r.Setting, new: r.Setting, reason: str) -> None:
    with pytest.raises(HcpError) as caught:
        r.check_change(current, new, r.Context(NOW, INGEST, {}))
    assert caught.value.status == 400
    assert reason in caught.value.message


def test_class_to_explicit_value_is_refused_even_when_expired() -> None:
    context = r.Context(NOW, INGEST, {"short": "A+1d"})
    with pytest.raises(HcpError, match="explicit"):
        r.check_change(r.Setting(0, "short"), r.Setting(-1), context)


def test_class_to_a_class_that_is_not_shorter() -> None:
    classes = {"a": "A+1y", "b": "A+2y", "c": "A+1y"}
    context = r.Context(INGEST + 3600, INGEST, classes)
    current = r.Setting(0, "a")
    r.check_change(current, r.Setting(r.class_value("A+2y", INGEST), "b"), context)
    r.check_change(current, r.Setting(r.class_value("A+1y", INGEST), "c"), context)
    with pytest.raises(HcpError):
        r.check_change(r.Setting(0, "b"), r.Setting(r.class_value("A+1y", INGEST), "a"), context)


def test_no_change_on_hold() -> None:
    with pytest.raises(HcpError, match="hold"):
        r.check_change(r.Setting(0), r.Setting(FUTURE), CTX, on_hold=True)
