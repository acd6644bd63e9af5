"""Namespace information requests: ``/proc`` and its three sub-resources.

``/proc`` lists the tenant's namespaces the caller can access (``single=true``: only the one
of the ``Host``). ``/proc/statistics``, ``/proc/permissions`` and ``/proc/retentionClasses``
describe the namespace of the ``Host`` and answer 401 to a caller without access to it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hcpfs.emulator import auth, xmldoc
from hcpfs.emulator.config import NamespaceConfig, TenantConfig, UserConfig
from hcpfs.emulator.errors import HcpError
from hcpfs.emulator.exchange import Request, Response

if TYPE_CHECKING:
    from hcpfs.emulator.system import System

_PARAMS = {"single"}


def handle(
    system: System, tenant: TenantConfig, config: NamespaceConfig, request: Request
) -> Response:
    """Answer ``GET /proc...`` on a namespace host.

    :raises HcpError: 403 for invalid credentials, 401 without access, 404 for an unknown
        resource
    """
    if request.method not in ("GET", "HEAD"):
        raise HcpError(405, "namespace information is read with GET")
    for name in request.query:
        if name not in _PARAMS:
            raise HcpError(400, f"unsupported query parameter {name!r}")
    user = auth.identify(tenant, request.header("Authorization"), request.header("Cookie"))
    resource = request.path.rstrip("/")
    if resource == "/proc":
        body = _namespaces(system, tenant, config, user, request.query.get("single"))
    else:
        body = _namespace_document(system, tenant, config, user, resource)
    headers = [("Content-Type", "text/xml")]
    if request.method == "HEAD":
        return Response(200, headers, length=len(body))
    return Response(200, headers, body)


def _namespaces(
    system: System,
    tenant: TenantConfig,
    config: NamespaceConfig,
    user: UserConfig | None,
    single: str | None,
) -> bytes:
    if single is not None and single.lower() not in ("true", "false"):
        raise HcpError(400, "single must be true or false")
    candidates = [config] if single is not None and single.lower() == "true" else tenant.namespaces
    visible = [ns for ns in candidates if auth.permissions(user, ns)]
    host = f"{tenant.name}.{system.config.domain}"
    return xmldoc.proc_namespaces(host, system.scheme, visible)


def _namespace_document(
    system: System,
    tenant: TenantConfig,
    config: NamespaceConfig,
    user: UserConfig | None,
    resource: str,
) -> bytes:
    if resource not in ("/proc/statistics", "/proc/permissions", "/proc/retentionClasses"):
        raise HcpError(404, "no such namespace information")
    effective = auth.permissions(user, config)
    if not effective:
        raise HcpError(401, "no access to this namespace")
    if resource == "/proc/statistics":
        store = system.store.namespace(tenant.name, config.name)
        assert store is not None
        return xmldoc.proc_statistics(config, store.stats)
    if resource == "/proc/permissions":
        granted = _grants(user, config)
        return xmldoc.proc_permissions(config, granted, effective)
    return xmldoc.proc_retention_classes(config, config.retention_classes)


def _grants(user: UserConfig | None, config: NamespaceConfig) -> frozenset[str]:
    if user is None:
        return config.anonymous_permissions
    name = config.name.lower()
    return next((p for ns, p in user.permissions.items() if ns.lower() == name), frozenset())
