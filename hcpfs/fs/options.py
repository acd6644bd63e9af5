"""Mount options: one dataclass, parsed from ``-o a=b,c`` strings (docs/SEMANTICS.md §9)."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

KIB = 1024
MIB = 1024 * KIB
GIB = 1024 * MIB

_SIZE_SUFFIXES = {"": 1, "k": KIB, "m": MIB, "g": GIB}
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


class Overwrite(Enum):
    """What to do when a program changes a file that HCP already stores."""

    REPLACE = "replace"
    REFUSE = "refuse"


class OptionsError(ValueError):
    """An unknown mount option or a bad value."""


def default_staging_dir() -> Path:
    """Return ``$XDG_CACHE_HOME/hcpfs/staging``, or ``~/.cache/hcpfs/staging``."""
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path("~/.cache").expanduser())
    return Path(cache) / "hcpfs" / "staging"


@dataclass(frozen=True)
class Options:
    """How a mount behaves; every field is a ``-o`` option of the same name."""

    read_only: bool = False
    allow_other: bool = False
    uid: int = field(default_factory=os.getuid)
    gid: int = field(default_factory=os.getgid)
    umask: int = 0o022
    attr_ttl: float = 1.0
    entry_ttl: float = 1.0
    negative_ttl: float = 1.0
    listing_ttl: float = 1.0
    statfs_ttl: float = 30.0
    cache_entries: int = 100_000
    listing_cache_entries: int = 200_000
    staging_dir: Path = field(default_factory=default_staging_dir)
    overwrite: Overwrite = Overwrite.REPLACE
    readahead_min: int = 128 * KIB
    readahead_max: int = 16 * MIB
    read_part_size: int = 4 * MIB
    read_threads: int = 8
    prefetch_files: int = 8

    def __post_init__(self) -> None:
        _check(0 <= self.umask <= 0o777, "umask", oct(self.umask), "at most 777")
        _check(self.uid >= 0, "uid", str(self.uid), "0 or more")
        _check(self.gid >= 0, "gid", str(self.gid), "0 or more")
        for name in ("attr_ttl", "entry_ttl", "negative_ttl", "listing_ttl", "statfs_ttl"):
            value = getattr(self, name)
            _check(value >= 0, name, str(value), "a number of seconds, 0 or more")
        for name in ("cache_entries", "listing_cache_entries", "read_threads"):
            _check(getattr(self, name) >= 1, name, str(getattr(self, name)), "1 or more")
        _check(self.prefetch_files >= 0, "prefetch_files", str(self.prefetch_files), "0 or more")
        for name in ("readahead_min", "readahead_max", "read_part_size"):
            _check(getattr(self, name) >= 4 * KIB, name, str(getattr(self, name)), "4K or more")
        _check(
            self.readahead_min <= self.readahead_max,
            "readahead_min",
            str(self.readahead_min),
            "not more than readahead_max",
        )

    @classmethod
    def parse(cls, text: str, base: Options | None = None) -> Options:
        """Parse a comma-separated option string such as ``ro,uid=1000,umask=027``.

        :param text: the options; ``name`` alone means ``name=true``
        :param base: the options to start from (defaults when None)
        :raises OptionsError: naming the first unknown option or bad value
        """
        changes: dict[str, Any] = {}
        for item in filter(None, (part.strip() for part in text.split(","))):
            name, has_value, value = item.partition("=")
            key, parsed = _parse_one(name.strip().replace("-", "_"), value.strip(), has_value)
            changes[key] = parsed
        try:
            return dataclasses.replace(base or cls(), **changes)
        except TypeError as error:
            raise OptionsError(str(error)) from error


def _check(condition: bool, name: str, value: str, wanted: str) -> None:
    if not condition:
        raise OptionsError(f"{name}: {value!r} is not valid, expected {wanted}")


def _parse_one(name: str, value: str, has_value: str) -> tuple[str, Any]:
    if name in _ALIASES and not has_value:
        name, value = _ALIASES[name]
        has_value = "="
    parser = _PARSERS.get(name)
    if parser is None:
        known = ", ".join(sorted([*_PARSERS, *_ALIASES]))
        raise OptionsError(f"unknown option {name!r}; known options: {known}")
    if not has_value:
        value = "true"
    try:
        return name, parser(value)
    except ValueError as error:
        raise OptionsError(f"{name}: {value!r} is not valid, expected {error}") from None


def parse_bool(value: str) -> bool:
    """Read an option's truth value (1/0, true/false, yes/no, on/off).

    :raises ValueError: for anything else
    """
    lowered = value.lower()
    if lowered in _TRUE | _FALSE:
        return lowered in _TRUE
    raise ValueError("true or false")


def _int(value: str) -> int:
    try:
        return int(value, 10)
    except ValueError:
        raise ValueError("a whole number") from None


def _octal(value: str) -> int:
    try:
        return int(value, 8)
    except ValueError:
        raise ValueError("an octal number such as 022") from None


def _seconds(value: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise ValueError("a number of seconds") from None


def _size(value: str) -> int:
    number, suffix = value[:-1], value[-1:].lower()
    if suffix.isdigit():
        number, suffix = value, ""
    if suffix not in _SIZE_SUFFIXES or not number.isdigit():
        raise ValueError("a size such as 4M (suffixes K, M, G)")
    return int(number) * _SIZE_SUFFIXES[suffix]


def _overwrite(value: str) -> Overwrite:
    try:
        return Overwrite(value.lower())
    except ValueError:
        raise ValueError("replace or refuse") from None


def _path(value: str) -> Path:
    if not value:
        raise ValueError("a directory")
    return Path(value).expanduser()


_PARSERS: dict[str, Callable[[str], Any]] = {
    "read_only": parse_bool,
    "allow_other": parse_bool,
    "uid": _int,
    "gid": _int,
    "umask": _octal,
    "attr_ttl": _seconds,
    "entry_ttl": _seconds,
    "negative_ttl": _seconds,
    "listing_ttl": _seconds,
    "statfs_ttl": _seconds,
    "cache_entries": _int,
    "listing_cache_entries": _int,
    "staging_dir": _path,
    "overwrite": _overwrite,
    "readahead_min": _size,
    "readahead_max": _size,
    "read_part_size": _size,
    "read_threads": _int,
    "prefetch_files": _int,
}

_ALIASES = {"ro": ("read_only", "true"), "rw": ("read_only", "false")}
