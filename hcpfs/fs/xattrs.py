"""Names and values of the ``user.hcp.*`` extended attributes (docs/SEMANTICS.md §8.16)."""

from __future__ import annotations

import errno
import re
from dataclasses import dataclass
from enum import Enum

from hcpfs.fs.backend import SYMLINK_ANNOTATION, ObjectInfo, ObjectSettings
from hcpfs.fs.errors import FsError

PREFIX = "user.hcp."
ANNOTATION_PREFIX = PREFIX + "annotation."
MAX_ANNOTATIONS = 10

_ANNOTATION_NAME = re.compile(r"[A-Za-z0-9._-]{1,32}")
_BOOLEANS = {"true": True, "false": False}

XATTR_CREATE = 1
XATTR_REPLACE = 2


class Kind(Enum):
    """What an attribute name stands for."""

    RETENTION = "retention"
    HOLD = "hold"
    SHRED = "shred"
    INDEX = "index"
    HASH = "hash"
    ANNOTATION = "annotation"


SETTINGS = (Kind.RETENTION, Kind.HOLD, Kind.SHRED, Kind.INDEX)


@dataclass(frozen=True)
class Name:
    """A parsed attribute name; ``annotation`` is set for :attr:`Kind.ANNOTATION`."""

    kind: Kind
    annotation: str = ""


def parse_name(name: str) -> Name | None:
    """Return what ``name`` stands for, or None when it is not one of hcpfs's attributes.

    :param name: the attribute name, e.g. ``user.hcp.hold``
    :raises FsError: EINVAL for an annotation name HCP would not accept
    """
    if name.startswith(ANNOTATION_PREFIX):
        annotation = name[len(ANNOTATION_PREFIX) :]
        if not valid_annotation_name(annotation):
            raise FsError(errno.EINVAL, f"{annotation!r} is not an HCP annotation name")
        return Name(Kind.ANNOTATION, annotation)
    if not name.startswith(PREFIX):
        return None
    try:
        kind = Kind(name[len(PREFIX) :])
    except ValueError:
        return None
    return None if kind is Kind.ANNOTATION else Name(kind)


def valid_annotation_name(name: str) -> bool:
    """Tell whether HCP accepts ``name``: 1-32 of ``[A-Za-z0-9._-]``, one alphanumeric at least.

    :param name: the annotation name
    """
    return (
        _ANNOTATION_NAME.fullmatch(name) is not None
        and any(c.isalnum() for c in name)
        and name != SYMLINK_ANNOTATION
    )


def value_of(info: ObjectInfo, kind: Kind) -> bytes | None:
    """Return the value of one setting of ``info``, or None when it has none.

    :param info: the object
    :param kind: any kind but :attr:`Kind.ANNOTATION`
    """
    text = {
        Kind.RETENTION: info.retention_string,
        Kind.HOLD: _flag(info.hold),
        Kind.SHRED: _flag(info.shred),
        Kind.INDEX: _flag(info.index),
        Kind.HASH: info.hash,
    }[kind]
    return text.encode("utf-8") if text else None


def settings_for(kind: Kind, value: bytes) -> ObjectSettings:
    """Turn a value given to setxattr into the setting HCP should get.

    :param kind: one of :data:`SETTINGS`
    :param value: the value, e.g. ``b"true"`` or ``b"A+10y"``
    :raises FsError: EINVAL for a value that cannot be right
    """
    text = value.decode("utf-8", "replace").strip().rstrip("\0")
    if kind is Kind.RETENTION:
        if not text:
            raise FsError(errno.EINVAL, "empty retention")
        return ObjectSettings(retention=text)
    flag = _BOOLEANS.get(text.lower())
    if flag is None:
        raise FsError(errno.EINVAL, f"{kind.value} must be true or false, not {text!r}")
    if kind is Kind.HOLD:
        return ObjectSettings(hold=flag)
    if kind is Kind.SHRED:
        return ObjectSettings(shred=flag)
    return ObjectSettings(index=flag)


def names_of(info: ObjectInfo) -> list[str]:
    """Return the attribute names ``info`` has, for listxattr.

    :param info: the object
    """
    names = [PREFIX + kind.value for kind in (*SETTINGS, Kind.HASH) if value_of(info, kind)]
    names += [ANNOTATION_PREFIX + a for a in info.annotations if a != SYMLINK_ANNOTATION]
    return names


def unchanged(info: ObjectInfo, change: ObjectSettings) -> bool:
    """Tell whether applying ``change`` to ``info`` would change nothing.

    :param info: the object as it is
    :param change: one setting, as :func:`settings_for` makes it
    """
    return (
        (change.retention is None or change.retention == info.retention_string)
        and (change.hold is None or change.hold == info.hold)
        and (change.shred is None or change.shred == info.shred)
        and (change.index is None or change.index == info.index)
    )


def merge(current: ObjectSettings, change: ObjectSettings) -> ObjectSettings:
    """Return ``current`` with the fields that ``change`` sets replaced.

    :param current: settings waiting for a first upload
    :param change: one more setting
    """
    return ObjectSettings(
        retention=change.retention if change.retention is not None else current.retention,
        hold=change.hold if change.hold is not None else current.hold,
        shred=change.shred if change.shred is not None else current.shred,
        index=change.index if change.index is not None else current.index,
    )


def _flag(value: bool) -> str:
    return "true" if value else "false"
