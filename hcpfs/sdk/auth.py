"""Authorizations: the headers that identify a user to HCP.

An authorization keeps only the headers it derived from the password, never the password
itself; since those headers are enough to act as the user, they are secrets too and never
appear in ``repr``, ``str`` or logs.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping

#: Cookie that carries the token for the namespace interfaces (deprecated form, still honoured).
NS_COOKIE = "hcp-ns-auth"


def hcp_token(user: str, password: str) -> str:
    """Build the ``base64(user):md5hex(password)`` token of HCP's local-user scheme.

    :param user: the HCP user name
    :param password: the user's password in clear text
    """
    encoded_user = base64.b64encode(user.encode("utf-8")).decode("ascii")
    digest = hashlib.md5(password.encode("utf-8")).hexdigest()
    return f"{encoded_user}:{digest}"


class BaseAuthorization:
    """Holds the request headers that authorize one user.

    :param user: the user name, kept for display
    :param headers: the headers to send with every request
    """

    def __init__(self, user: str, headers: Mapping[str, str]) -> None:
        self.user = user
        self._secret_headers = dict(headers)

    @property
    def headers(self) -> dict[str, str]:
        """A copy of the headers that authorize a request."""
        return dict(self._secret_headers)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(user={self.user!r}, password=***)"

    def __str__(self) -> str:
        return f"{type(self).__name__} for user {self.user!r}"


class NativeAuthorization(BaseAuthorization):
    """An HCP local user, for the REST interface, ``/proc`` and the management API.

    Sends ``Authorization: HCP <token>`` and, for systems older than version 6, the same token
    in the ``hcp-ns-auth`` cookie; HCP ignores the cookie when the header is present.

    :param user: the HCP user name
    :param password: the user's password in clear text (not kept)
    """

    def __init__(self, user: str, password: str) -> None:
        token = hcp_token(user, password)
        super().__init__(user, {"Authorization": f"HCP {token}", "Cookie": f"{NS_COOKIE}={token}"})


class NativeADAuthorization(BaseAuthorization):
    """An Active Directory user (HCP 7.2 and later): ``Authorization: AD user:password``.

    HCP expects user and password in plain text in this scheme, so only use it over TLS.

    :param user: the AD user, e.g. ``lgreen@example.com``
    :param password: the user's AD password
    """

    def __init__(self, user: str, password: str) -> None:
        super().__init__(user, {"Authorization": f"AD {user}:{password}"})
