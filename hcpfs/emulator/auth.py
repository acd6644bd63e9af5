"""Who is asking, and what they may do in a namespace (data access permissions).

Credentials are read with :mod:`hcpfs.emulator.credentials`. Invalid credentials are refused
with 403 even where anonymous access is allowed; no credentials (or ``HCP all_users:``) mean
the anonymous user, who holds the namespace's anonymous permissions. The effective permissions
are the namespace's permission mask AND the user's own grants.
"""

from __future__ import annotations

from dataclasses import dataclass

from hcpfs.emulator import credentials
from hcpfs.emulator.config import NamespaceConfig, TenantConfig, UserConfig
from hcpfs.emulator.errors import HcpError


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller of one request, seen from one namespace.

    :param user: the user name; empty for the anonymous user
    :param permissions: the effective permissions in the namespace
    """

    user: str
    permissions: frozenset[str]

    @property
    def anonymous(self) -> bool:
        """Whether the request carried no credentials."""
        return not self.user

    def allows(self, permission: str) -> bool:
        """Tell whether the caller holds ``permission`` (``purge`` implies ``delete``)."""
        if permission == "delete" and "purge" in self.permissions:
            return True
        return permission in self.permissions

    def require(self, *permissions: str) -> None:
        """Refuse the request unless the caller holds every one of ``permissions``.

        :raises HcpError: 403 naming the missing permission
        """
        for permission in permissions:
            if not self.allows(permission):
                who = "anonymous access" if self.anonymous else f"user {self.user}"
                raise HcpError(403, f"{who} lacks the {permission} permission")


def identify(
    tenant: TenantConfig, authorization: str | None, cookie: str | None
) -> UserConfig | None:
    """Return the user the credentials belong to, or ``None`` for an anonymous request.

    :param tenant: the tenant whose users are checked
    :param authorization: the ``Authorization`` header
    :param cookie: the ``Cookie`` header (``hcp-ns-auth``)
    :raises HcpError: 403 for credentials that are malformed, unknown or wrong
    """
    try:
        presented = credentials.parse(authorization, cookie, credentials.DATA_COOKIE)
    except credentials.CredentialsError as exc:
        raise HcpError(403, f"invalid credentials: {exc}") from None
    if presented.scheme is credentials.Scheme.ANONYMOUS:
        return None
    user = tenant.user(presented.user)
    if user is None or not presented.matches(user.password):
        raise HcpError(403, "invalid credentials")
    return user


def permissions(user: UserConfig | None, namespace: NamespaceConfig) -> frozenset[str]:
    """Return what ``user`` (``None``: anonymous) may do in ``namespace``."""
    if user is None:
        return namespace.permissions & namespace.anonymous_permissions
    name = namespace.name.lower()
    granted = next(
        (p for ns, p in user.permissions.items() if ns.lower() == name), frozenset[str]()
    )
    return namespace.permissions & granted


def authenticate(
    tenant: TenantConfig,
    namespace: NamespaceConfig,
    authorization: str | None,
    cookie: str | None,
) -> Principal:
    """Identify the caller and compute their permissions in ``namespace``.

    :raises HcpError: 403 for invalid credentials, or for an anonymous request to a namespace
        without anonymous access
    """
    user = identify(tenant, authorization, cookie)
    granted = permissions(user, namespace)
    if user is None and not granted:
        raise HcpError(403, "the namespace requires authentication")
    return Principal(user.name if user is not None else "", granted)
