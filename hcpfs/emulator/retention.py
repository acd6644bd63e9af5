"""Retention values as HCP reads, computes, compares and prints them.

A retention *setting* of an object is either an explicit value or a retention class. An
explicit value is one of the special values (``0`` deletion allowed, ``-1`` deletion
prohibited, ``-2`` initial unspecified) or a time in epoch seconds. A class carries its own
value (``A+10y`` or a special value) that is evaluated against the ingest time of the object.

The expression forms accepted on ``retention=`` are the special values (as numbers or as their
names), epoch seconds, ``yyyy-MM-ddThh:mm:ss±hhmm`` (out-of-range fields roll over into the
next unit), offsets ``[RAN]+1y+2M-3w+4d+5h+6m+7s`` and ``C+<class>``. An offset without a base
letter counts from the ingest time, like the namespace-default form.

This module knows no sockets and no store; times are passed in explicitly.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

from hcpfs.emulator.errors import HcpError

ALLOWED = 0
PROHIBITED = -1
UNSPECIFIED = -2

_SPECIAL_NAMES = {
    ALLOWED: "Deletion Allowed",
    PROHIBITED: "Deletion Prohibited",
    UNSPECIFIED: "Initial Unspecified",
}
_SPECIAL_BY_TEXT = {
    "0": ALLOWED,
    "-0": ALLOWED,
    "deletion allowed": ALLOWED,
    "-1": PROHIBITED,
    "deletion prohibited": PROHIBITED,
    "-2": UNSPECIFIED,
    "initial unspecified": UNSPECIFIED,
}
_OFFSET = re.compile(
    r"^([RAN])?([+-]\d{1,4}y)?([+-]\d{1,4}M)?([+-]\d{1,4}w)?([+-]\d{1,4}d)?"
    r"([+-]\d{1,4}h)?([+-]\d{1,4}m)?([+-]\d{1,4}s)?$"
)
_DATETIME = re.compile(r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})([+-])(\d{2})(\d{2})$")
_CLASS = re.compile(r"^[Cc]\+(.+)$")
_SECONDS = {"w": 7 * 86400, "d": 86400, "h": 3600, "m": 60, "s": 1}


@dataclass(frozen=True, slots=True)
class Setting:
    """The retention setting of one object version.

    :param value: the explicit value, or for a class the value it had when last evaluated
    :param klass: the retention class name, empty when the value is explicit
    """

    value: int
    klass: str = ""


NONE = Setting(ALLOWED)


@dataclass(frozen=True, slots=True)
class Context:
    """What an expression is evaluated against.

    :param now: the current time, epoch seconds
    :param ingest: the ingest time of the object (``now`` for a new object)
    :param classes: class name to class value (``A+10y``, ``-1`` ...) of the namespace
    """

    now: int
    ingest: int
    classes: Mapping[str, str]


def bad(message: str) -> HcpError:
    """Return the 400 error an unusable retention expression gets."""
    return HcpError(400, message)


def parse(expression: str, context: Context, current: Setting | None = None) -> Setting:
    """Evaluate a ``retention=`` expression into a setting.

    :param expression: the value as the client sent it
    :param context: times and the classes of the namespace
    :param current: the setting the object has now (needed by ``R`` offsets)
    :raises HcpError: 400 for a malformed expression or an unknown class
    """
    text = expression.strip()
    special = _SPECIAL_BY_TEXT.get(text.lower().replace("+", " "))
    if special is not None:
        return Setting(special)
    if text.isdigit():
        return Setting(int(text))
    match = _CLASS.match(text)
    if match:
        name = match.group(1)
        if name not in context.classes:
            raise bad(f"retention class {name!r} does not exist in this namespace")
        return Setting(class_value(context.classes[name], context.ingest), name)
    match = _DATETIME.match(text)
    if match:
        return Setting(_datetime_value(match))
    match = _OFFSET.match(text)
    if match and any(match.groups()[1:]):
        return Setting(_offset_value(match, context, current))
    raise bad(f"invalid retention value {expression!r}")


def class_value(value: str, ingest: int) -> int:
    """Evaluate a class value (a special value or an ``A`` offset) for an ingest time.

    :param value: the class value as configured
    :param ingest: the ingest time of the object, epoch seconds
    :raises HcpError: 400 when the class value is not a special value or an ``A`` offset
    """
    special = _SPECIAL_BY_TEXT.get(value.strip().lower())
    if special is not None:
        return special
    match = _OFFSET.match(value.strip())
    if not match or match.group(1) not in (None, "A") or not any(match.groups()[1:]):
        raise bad(f"invalid retention class value {value!r}")
    return _apply_offset(ingest, match.groups()[1:])


def validate_default(expression: str, classes: Mapping[str, str]) -> None:
    """Check a namespace default retention (special value, date, ``A`` offset or class).

    :param expression: the configured default
    :param classes: the classes of the namespace
    :raises HcpError: 400 when it is not usable as a default
    """
    if expression.strip().upper().startswith(("R", "N")):
        raise bad(f"a default retention cannot be relative to R or N: {expression!r}")
    parse(expression, Context(0, 0, classes))


def effective(setting: Setting, ingest: int, classes: Mapping[str, str]) -> int:
    """Return the value in force: a class is evaluated now; a deleted class means ``-1``.

    :param setting: the object's setting
    :param ingest: the ingest time of the object, epoch seconds
    :param classes: the classes of the namespace as configured now
    """
    if not setting.klass:
        return setting.value
    value = classes.get(setting.klass)
    return PROHIBITED if value is None else class_value(value, ingest)


def blocks_delete(value: int, now: int) -> bool:
    """Tell whether an effective retention value forbids deleting the object now."""
    return value in (PROHIBITED, UNSPECIFIED) or value > now


def text(value: int) -> str:
    """Format a value as ``X-HCP-RetentionString`` shows it (local time zone)."""
    special = _SPECIAL_NAMES.get(value)
    if special is not None:
        return special
    return datetime.fromtimestamp(value).astimezone().strftime("%Y-%m-%dT%H:%M:%S%z")


def check_change(
    current: Setting, new: Setting, context: Context, *, on_hold: bool = False
) -> None:
    """Refuse a change that HCP does not allow on an existing object.

    :param current: the setting the object has now
    :param new: the setting asked for
    :param context: now, ingest time and classes
    :param on_hold: whether the object is on hold
    :raises HcpError: 400 with the reason
    """
    if on_hold:
        raise bad("the retention setting cannot change while the object is on hold")
    old = effective(current, context.ingest, context.classes)
    if current.klass and not new.klass:
        raise bad("an object in a retention class cannot get an explicit retention value")
    if not blocks_delete(old, context.now):
        return
    if new.klass:
        _check_class_change(current, new, old)
    else:
        _check_value_change(old, new.value)


def _check_value_change(old: int, new: int) -> None:
    if old == PROHIBITED and new != PROHIBITED:
        raise bad("retention is Deletion Prohibited and can no longer change")
    if old == UNSPECIFIED:
        return
    if new in (ALLOWED, UNSPECIFIED) or (new != PROHIBITED and new < old):
        raise bad("retention cannot be shortened")


def _check_class_change(current: Setting, new: Setting, old: int) -> None:
    if old == UNSPECIFIED:
        return
    if old == PROHIBITED and new.value != PROHIBITED:
        raise bad("retention is Deletion Prohibited; only a class with value -1 can replace it")
    if new.value == UNSPECIFIED or (new.value != PROHIBITED and new.value < old):
        what = "the new class is shorter" if current.klass else "the class would shorten it"
        raise bad(f"retention cannot be shortened: {what}")


def _datetime_value(match: re.Match[str]) -> int:
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    sign = 1 if match.group(7) == "+" else -1
    zone = timezone(sign * timedelta(hours=int(match.group(8)), minutes=int(match.group(9))))
    # Out-of-range fields roll over as HCP documents (2015-11-33 is 2015-12-03).
    base = _add_months(datetime(year, 1, 1, tzinfo=zone), month - 1)
    moment = base + timedelta(days=day - 1, hours=hour, minutes=minute, seconds=second)
    return int(moment.timestamp())


def _offset_value(match: re.Match[str], context: Context, current: Setting | None) -> int:
    letter = match.group(1) or "A"
    if letter == "N":
        base = context.now
    elif letter == "A":
        base = context.ingest
    else:
        old = PROHIBITED if current is None else current.value
        if current is not None and current.klass:
            old = effective(current, context.ingest, context.classes)
        if old <= 0:
            raise bad("an R offset needs a retention date to count from")
        base = old
    return _apply_offset(base, match.groups()[1:])


def _apply_offset(base: int, terms: tuple[str | None, ...]) -> int:
    moment = datetime.fromtimestamp(base, UTC)
    seconds = 0
    months = 0
    for term in terms:
        if term is None:
            continue
        amount, unit = int(term[:-1]), term[-1]
        if unit == "y":
            months += 12 * amount
        elif unit == "M":
            months += amount
        else:
            seconds += amount * _SECONDS[unit]
    return int((_add_months(moment, months) + timedelta(seconds=seconds)).timestamp())


def _add_months(moment: datetime, months: int) -> datetime:
    index = moment.year * 12 + moment.month - 1 + months
    year, month = divmod(index, 12)
    # Calendar arithmetic clamps to the end of a shorter month (Jan 31 + 1M = Feb 28).
    day = min(moment.day, calendar.monthrange(year, month + 1)[1])
    return moment.replace(year=year, month=month + 1, day=day)
