"""How HCP writes times and names in headers and XML documents."""

from __future__ import annotations

import time
from datetime import datetime
from email.utils import formatdate
from urllib.parse import quote

# Characters kept as they are in a listing's urlName; everything else is percent-encoded.
_URL_SAFE = "!$'()*,-.:;=@_~"


def change_millis(tick: int) -> str:
    """Format a change tick as ``X-HCP-ChangeTimeMilliseconds`` (``<epoch ms>.<nn>``)."""
    return f"{tick // 100}.{tick % 100:02d}"


def change_string(tick: int) -> str:
    """Format a change tick as ``X-HCP-ChangeTimeString`` (local zone, ``±hhmm``)."""
    return local_iso(tick // 100000)


def local_iso(seconds: int) -> str:
    """Format epoch seconds as ``yyyy-MM-ddThh:mm:ss±hhmm`` in the local zone."""
    return datetime.fromtimestamp(seconds).astimezone().strftime("%Y-%m-%dT%H:%M:%S%z")


def http_date(seconds: float) -> str:
    """Format epoch seconds as an RFC 1123 GMT date (``Last-Modified``)."""
    return formatdate(seconds, usegmt=True)


def ingest_string(millis: int) -> str:
    """Format an ingest time as listings show it: ``4/02/2018 4:07PM`` (local zone)."""
    moment = time.localtime(millis // 1000)
    hour = moment.tm_hour % 12 or 12
    half = "AM" if moment.tm_hour < 12 else "PM"
    return (
        f"{moment.tm_mon}/{moment.tm_mday:02d}/{moment.tm_year} {hour}:{moment.tm_min:02d}{half}"
    )


def url_name(name: str) -> str:
    """Return the URL-safe form of a name (UTF-8, percent-encoded) for ``urlName``."""
    return quote(name, safe=_URL_SAFE)


def url_path(path: str) -> str:
    """Percent-encode a path for a URL, keeping the slashes."""
    return quote(path, safe="/" + _URL_SAFE)
