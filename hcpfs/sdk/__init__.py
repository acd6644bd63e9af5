"""HCP client with the API of the original hcpsdk: targets, connections and helpers.

Typical use::

    import hcpfs.sdk as hcpsdk

    auth = hcpsdk.NativeAuthorization("user", "password")
    target = hcpsdk.Target("ns1.tenant1.hcp.example.com", auth, port=hcpsdk.P_HTTPS)
    with hcpsdk.Connection(target) as con:
        con.PUT("/rest/hello.txt", body=b"Hello")

Submodules: :mod:`~hcpfs.sdk.ips` (name resolution), :mod:`~hcpfs.sdk.namespace` (``/proc``),
:mod:`~hcpfs.sdk.pathbuilder` (unique names), :mod:`~hcpfs.sdk.mapi` (replication links).
"""

from __future__ import annotations

from hcpfs import __version__
from hcpfs.sdk import ips, mapi, namespace, pathbuilder
from hcpfs.sdk.auth import BaseAuthorization, NativeADAuthorization, NativeAuthorization
from hcpfs.sdk.connection import Connection
from hcpfs.sdk.constants import (
    I_HS3,
    I_HSWIFT,
    I_NATIVE,
    P_HTTP,
    P_HTTPS,
    P_MAPI,
    P_MGMT,
    P_SEARCH,
    RS_READ_ALLOWED,
    RS_READ_ON_FAILOVER,
    RS_WRITE_ALLOWED,
    RS_WRITE_ON_FAILOVER,
)
from hcpfs.sdk.errors import (
    HcpsdkCantConnectError,
    HcpsdkCertificateError,
    HcpsdkError,
    HcpsdkPortError,
    HcpsdkReplicaInitError,
    HcpsdkTimeoutError,
)
from hcpfs.sdk.target import Target, checkport

__all__ = [
    "I_HS3",
    "I_HSWIFT",
    "I_NATIVE",
    "P_HTTP",
    "P_HTTPS",
    "P_MAPI",
    "P_MGMT",
    "P_SEARCH",
    "RS_READ_ALLOWED",
    "RS_READ_ON_FAILOVER",
    "RS_WRITE_ALLOWED",
    "RS_WRITE_ON_FAILOVER",
    "BaseAuthorization",
    "Connection",
    "HcpsdkCantConnectError",
    "HcpsdkCertificateError",
    "HcpsdkError",
    "HcpsdkPortError",
    "HcpsdkReplicaInitError",
    "HcpsdkTimeoutError",
    "NativeADAuthorization",
    "NativeAuthorization",
    "Target",
    "checkport",
    "ips",
    "mapi",
    "namespace",
    "pathbuilder",
    "version",
]


def version() -> str:
    """Return the version of this SDK (the hcpfs version)."""
    return __version__
