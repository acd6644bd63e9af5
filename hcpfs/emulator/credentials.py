"""Credentials as HCP carries them: the ``HCP`` token, the ``AD`` form and the legacy cookie.

The same token format serves the namespace REST interface, ``/proc`` and the management API;
only the cookie name differs (``hcp-ns-auth`` for data, ``hcp-api-auth`` for management).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass
from enum import Enum
from http.cookies import CookieError, SimpleCookie

ANONYMOUS_USER = "all_users"
DATA_COOKIE = "hcp-ns-auth"
MAPI_COOKIE = "hcp-api-auth"


class Scheme(Enum):
    """How a request identified itself."""

    HCP = "HCP"
    AD = "AD"
    ANONYMOUS = "anonymous"


@dataclass(frozen=True)
class Credentials:
    """What a request presented; ``secret`` is the MD5 hex (HCP) or the plain password (AD)."""

    scheme: Scheme
    user: str
    secret: str

    def __repr__(self) -> str:
        return f"Credentials({self.scheme.value}, {self.user!r}, secret=***)"

    def matches(self, password: str) -> bool:
        """Tell whether the presented secret belongs to ``password``.

        :param password: the account's password in clear text
        """
        if self.scheme is Scheme.HCP:
            return hmac.compare_digest(self.secret.lower(), md5_hex(password))
        if self.scheme is Scheme.AD:
            return hmac.compare_digest(self.secret, password)
        return False


class CredentialsError(ValueError):
    """The Authorization header or cookie is not in a form HCP accepts."""


def md5_hex(password: str) -> str:
    """Return the lowercase MD5 hex digest HCP uses as the token's secret part."""
    return hashlib.md5(password.encode("utf-8")).hexdigest()


def hcp_token(user: str, password: str) -> str:
    """Build the ``base64(user):md5(password)`` token of the HCP scheme."""
    encoded = base64.b64encode(user.encode("utf-8")).decode("ascii")
    return f"{encoded}:{md5_hex(password)}"


def parse(authorization: str | None, cookie: str | None, cookie_name: str) -> Credentials:
    """Read the credentials of a request; the header wins over the cookie.

    No credentials at all, or ``HCP all_users:``, is an anonymous request.

    :param authorization: the ``Authorization`` header, if any
    :param cookie: the ``Cookie`` header, if any
    :param cookie_name: ``DATA_COOKIE`` or ``MAPI_COOKIE``
    :raises CredentialsError: when the header or cookie cannot be decoded
    """
    if authorization:
        return _parse_header(authorization.strip())
    token = _cookie_value(cookie, cookie_name)
    if token is not None:
        return _parse_token(token)
    return Credentials(Scheme.ANONYMOUS, ANONYMOUS_USER, "")


def _parse_header(value: str) -> Credentials:
    scheme, _, rest = value.partition(" ")
    if scheme == "HCP":
        return _parse_token(rest.strip())
    if scheme == "AD":
        user, sep, password = rest.strip().partition(":")
        if not sep and user == ANONYMOUS_USER:
            return Credentials(Scheme.ANONYMOUS, ANONYMOUS_USER, "")
        if not sep or not user:
            raise CredentialsError("AD credentials must be user:password")
        return Credentials(Scheme.AD, user, password)
    raise CredentialsError(f"unsupported authorization scheme {scheme!r}")


def _parse_token(token: str) -> Credentials:
    encoded, sep, secret = token.partition(":")
    if not sep:
        raise CredentialsError("the HCP token must be base64(user):md5(password)")
    if encoded == ANONYMOUS_USER and not secret:
        return Credentials(Scheme.ANONYMOUS, ANONYMOUS_USER, "")
    try:
        user = base64.b64decode(encoded, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise CredentialsError("the user part of the token is not base64") from exc
    return Credentials(Scheme.HCP, user, secret)


def _cookie_value(cookie: str | None, name: str) -> str | None:
    if not cookie:
        return None
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(cookie)
    except CookieError:
        return None
    morsel = jar.get(name)
    return morsel.value if morsel is not None else None
