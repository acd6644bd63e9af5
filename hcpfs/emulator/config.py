"""The configuration of an emulated HCP system: tenants, namespaces, users, management accounts.

The dataclasses mirror what an HCP administrator sets through the management console. A
configuration is read from and written to JSON with the same field names (see
``docs/emulator.md``); :func:`SystemConfig.default` is what ``hcpfs emulator`` runs with when no
file is given.
"""

from __future__ import annotations

import copy
import json
import re
import typing
from dataclasses import MISSING, dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

from hcpfs.emulator import retention
from hcpfs.emulator.credentials import md5_hex
from hcpfs.emulator.errors import ConfigError, HcpError

PERMISSIONS = (
    "browse",
    "read",
    "write",
    "readAcl",
    "writeAcl",
    "changeOwner",
    "delete",
    "privileged",
    "purge",
    "search",
)
ALL_PERMISSIONS = frozenset(PERMISSIONS)
HASH_SCHEMES = ("MD5", "SHA-1", "SHA-256", "SHA-384", "SHA-512", "RIPEMD-160")
RETENTION_MODES = ("enterprise", "compliance")
# What may happen to annotations of an object under retention: add, replace and delete
# ("all"), only add new ones ("add", HCP's default) or nothing ("none").
ANNOTATION_POLICIES = ("all", "add", "none")
# The roles of system-level accounts; the management API needs monitor or administrator.
MANAGEMENT_ROLES = ("monitor", "administrator", "security", "compliance", "search", "service")

_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")
_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_T = TypeVar("_T")


@dataclass
class RetentionClass:
    """A named retention period of a namespace.

    :param name: the class name used as ``C+<name>``
    :param value: ``A+<offset>`` or a special value (``0``, ``-1``, ``-2``)
    :param auto_delete: whether HCP deletes objects when the class period ends
    :param description: free text shown by ``/proc/retentionClasses``
    """

    name: str
    value: str
    auto_delete: bool = False
    description: str = ""


@dataclass
class NamespaceConfig:
    """The settings of one namespace.

    :param name: the namespace name (first label of its host name)
    :param read_only: refuse every write with 403, as a replica before failover does
    """

    name: str
    description: str = ""
    versioning: bool = False
    retention_default: str = "0"
    shred_default: bool = False
    index_default: bool = True
    search_enabled: bool = False
    hash_scheme: str = "SHA-256"
    dpl: int = 1
    retention_mode: str = "enterprise"
    hard_quota_bytes: int = 50 * 1024**3
    soft_quota_percent: int = 85
    retention_classes: list[RetentionClass] = field(default_factory=list)
    permissions: frozenset[str] = ALL_PERMISSIONS
    anonymous_permissions: frozenset[str] = frozenset()
    xml_checking: bool = False
    annotations_under_retention: str = "add"
    read_only: bool = False

    def class_values(self) -> dict[str, str]:
        """Return class name to class value, as the retention engine needs it."""
        return {c.name: c.value for c in self.retention_classes}


@dataclass
class UserConfig:
    """A data access user of a tenant.

    :param name: the user name
    :param password: the password in clear text
    :param permissions: namespace name to the permissions the user holds there
    """

    name: str
    password: str
    permissions: dict[str, frozenset[str]] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"UserConfig(name={self.name!r}, password=***, permissions={self.permissions!r})"

    @property
    def password_md5(self) -> str:
        """The lowercase MD5 hex of the password, as HCP tokens carry it."""
        return md5_hex(self.password)


@dataclass
class ManagementUserConfig:
    """A system-level account of the management API (not a data access user).

    :param name: the user name
    :param password: the password in clear text
    :param roles: ``monitor`` lets the account read, ``administrator`` also change and act
    """

    name: str
    password: str
    roles: list[str] = field(default_factory=lambda: ["administrator"])

    def __repr__(self) -> str:
        return f"ManagementUserConfig(name={self.name!r}, password=***, roles={self.roles!r})"


def _default_management_users() -> list[ManagementUserConfig]:
    return [ManagementUserConfig("admin", "adminpass", ["administrator"])]


@dataclass
class TenantConfig:
    """A tenant: its namespaces and its data access users."""

    name: str
    namespaces: list[NamespaceConfig] = field(default_factory=list)
    users: list[UserConfig] = field(default_factory=list)

    def namespace(self, name: str) -> NamespaceConfig | None:
        """Return the namespace called ``name`` (case-insensitive), if any."""
        name = name.lower()
        return next((n for n in self.namespaces if n.name.lower() == name), None)

    def user(self, name: str) -> UserConfig | None:
        """Return the user called ``name``, if any."""
        return next((u for u in self.users if u.name == name), None)


@dataclass
class SystemConfig:
    """One HCP system.

    :param domain: the system's DNS domain; tenants and namespaces are sub-domains of it
    :param software_version: what ``X-HCP-SoftwareVersion`` and ``Server`` report
    :param max_object_size: larger uploads get 413 (HCP's limit is 2 TB)
    :param request_timeout: seconds a connection may stay idle or stall in a body
    :param management_users: the system-level accounts of the management API; by default one
        administrator, ``admin`` / ``adminpass``
    """

    domain: str = "hcp.example.com"
    tenants: list[TenantConfig] = field(default_factory=list)
    software_version: str = "9.7.0.2"
    max_object_size: int = 2 * 1024**4
    request_timeout: float = 30.0
    management_users: list[ManagementUserConfig] = field(default_factory=_default_management_users)

    @classmethod
    def default(cls) -> SystemConfig:
        """Return the configuration ``hcpfs emulator`` uses without ``--config``.

        Tenant ``dev`` with namespaces ``ns1`` (versioning off) and ``versioned`` (versioning
        on), and user ``dev`` / ``devpass`` holding every permission on both.
        """
        classes = [
            RetentionClass("short", "A+1d", description="One day, for trying retention"),
            RetentionClass("forever", "-1", description="Deletion prohibited"),
        ]
        namespaces = [
            NamespaceConfig("ns1", "Default namespace", retention_classes=classes),
            NamespaceConfig(
                "versioned",
                "Namespace that keeps versions",
                versioning=True,
                retention_classes=copy.deepcopy(classes),
            ),
        ]
        user = UserConfig("dev", "devpass", {n.name: ALL_PERMISSIONS for n in namespaces})
        config = cls(tenants=[TenantConfig("dev", namespaces, [user])])
        config.validate()
        return config

    @classmethod
    def from_dict(cls, data: object) -> SystemConfig:
        """Build and validate a configuration from parsed JSON.

        :raises ConfigError: on unknown fields, wrong types or invalid values
        """
        config = _build(cls, data, "config")
        config.validate()
        return config

    @classmethod
    def load(cls, path: Path) -> SystemConfig:
        """Read a JSON configuration file.

        :raises ConfigError: when the file cannot be read or is not valid
        """
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"cannot read {path}: {exc.strerror}") from exc
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{path} is not JSON: {exc}") from exc
        return cls.from_dict(data)

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form (permissions as sorted lists)."""
        result = _plain(self)
        assert isinstance(result, dict)
        return result

    def save(self, path: Path) -> None:
        """Write the JSON form to ``path``."""
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")

    def tenant(self, name: str) -> TenantConfig | None:
        """Return the tenant called ``name`` (case-insensitive), if any."""
        name = name.lower()
        return next((t for t in self.tenants if t.name.lower() == name), None)

    def validate(self) -> None:
        """Check every setting; the error names the first one that is wrong.

        :raises ConfigError: on an invalid value
        """
        self.domain = self.domain.lower()
        labels = self.domain.split(".")
        if len(labels) < 3 or len(self.domain) >= 128 or not all(map(_LABEL.match, labels)):
            raise ConfigError(
                f"domain {self.domain!r}: needs at least three labels of letters, digits and "
                "hyphens, under 128 characters"
            )
        if not self.tenants:
            raise ConfigError("config: at least one tenant is needed")
        _unique("tenant", [t.name.lower() for t in self.tenants])
        for tenant in self.tenants:
            _validate_tenant(tenant)
        _validate_management_users(self.management_users)
        if self.max_object_size <= 0 or self.request_timeout <= 0:
            raise ConfigError("max_object_size and request_timeout must be positive")


def _validate_tenant(tenant: TenantConfig) -> None:
    where = f"tenant {tenant.name!r}"
    if not _NAME.match(tenant.name) or tenant.name.lower() == "admin":
        raise ConfigError(f"{where}: not a valid tenant name")
    _unique(f"{where}: namespace", [n.name.lower() for n in tenant.namespaces])
    _unique(f"{where}: user", [u.name for u in tenant.users])
    for namespace in tenant.namespaces:
        _validate_namespace(namespace, f"{where}, namespace {namespace.name!r}")
    names = {n.name.lower() for n in tenant.namespaces}
    for user in tenant.users:
        if not user.name or user.name == "all_users":
            raise ConfigError(f"{where}: user name {user.name!r} is not allowed")
        for ns_name, granted in user.permissions.items():
            if ns_name.lower() not in names:
                raise ConfigError(f"{where}, user {user.name!r}: no namespace {ns_name!r}")
            _check_permissions(granted, f"{where}, user {user.name!r}")


def _validate_management_users(users: list[ManagementUserConfig]) -> None:
    _unique("management user", [u.name for u in users])
    for user in users:
        where = f"management user {user.name!r}"
        if not user.name or not user.password:
            raise ConfigError(f"{where}: needs a name and a password")
        unknown = sorted(set(user.roles) - set(MANAGEMENT_ROLES))
        if unknown:
            raise ConfigError(f"{where}: unknown role {unknown[0]!r}")


def _validate_namespace(ns: NamespaceConfig, where: str) -> None:
    if not _NAME.match(ns.name) or ns.name.lower().startswith("xn--"):
        raise ConfigError(f"{where}: 1-63 letters, digits or inner hyphens, not 'xn--'")
    choices: list[tuple[str, str, tuple[str, ...]]] = [
        ("hash_scheme", ns.hash_scheme, HASH_SCHEMES),
        ("retention_mode", ns.retention_mode, RETENTION_MODES),
        ("annotations_under_retention", ns.annotations_under_retention, ANNOTATION_POLICIES),
    ]
    for name, value, allowed in choices:
        if value not in allowed:
            raise ConfigError(f"{where}: {name} must be one of {', '.join(allowed)}")
    if not 0 <= ns.soft_quota_percent <= 100 or ns.hard_quota_bytes <= 0 or ns.dpl < 1:
        raise ConfigError(f"{where}: quota or dpl out of range")
    _check_permissions(ns.permissions, where)
    _check_permissions(ns.anonymous_permissions, f"{where} (anonymous)")
    _unique(f"{where}: retention class", [c.name for c in ns.retention_classes])
    try:
        for klass in ns.retention_classes:
            retention.class_value(klass.value, 0)
        retention.validate_default(ns.retention_default, ns.class_values())
    except HcpError as exc:
        raise ConfigError(f"{where}: {exc.message}") from None


def _check_permissions(granted: frozenset[str], where: str) -> None:
    unknown = sorted(granted - ALL_PERMISSIONS)
    if unknown:
        raise ConfigError(f"{where}: unknown permission {unknown[0]!r}")


def _unique(what: str, names: list[str]) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise ConfigError(f"{what} {name!r} is defined twice")
        seen.add(name)


def _build(cls: type[_T], data: object, where: str) -> _T:
    """Make dataclass ``cls`` from a JSON object, checking names and types."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected an object")
    hints = typing.get_type_hints(cls)
    known = {f.name: f for f in fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise ConfigError(f"{where}: unknown setting {unknown[0]!r}")
    values: dict[str, Any] = {}
    for name, spec in known.items():
        if name in data:
            values[name] = _convert(hints[name], data[name], f"{where}.{name}")
        elif spec.default is MISSING and spec.default_factory is MISSING:
            raise ConfigError(f"{where}: {name!r} is required")
    return cls(**values)


def _convert(hint: Any, value: object, where: str) -> Any:
    origin = typing.get_origin(hint)
    if origin is list:
        (item,) = typing.get_args(hint)
        if not isinstance(value, list):
            raise ConfigError(f"{where}: expected a list")
        return [_convert(item, v, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is frozenset:
        if value == "all":
            return ALL_PERMISSIONS
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f'{where}: expected a list of names or "all"')
        return frozenset(value)
    if origin is dict:
        _, item = typing.get_args(hint)
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected an object")
        return {str(k): _convert(item, v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(hint, type) and is_dataclass(hint):
        return _build(hint, value, where)
    return _scalar(hint, value, where)


def _scalar(hint: Any, value: object, where: str) -> object:
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint is int and isinstance(value, bool):
        raise ConfigError(f"{where}: expected a number")
    if not isinstance(value, hint):
        expected: Literal["text", "true or false", "a number"] = (
            "text" if hint is str else "true or false" if hint is bool else "a number"
        )
        raise ConfigError(f"{where}: expected {expected}")
    return value


def _plain(value: object) -> object:
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, frozenset):
        return sorted(value, key=PERMISSIONS.index)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value
