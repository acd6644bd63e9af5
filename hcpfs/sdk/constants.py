"""Ports, interfaces and replica strategies, with the values the original hcpsdk used."""

from __future__ import annotations

#: Namespace access over plain HTTP.
P_HTTP = 80
#: Namespace access over HTTPS.
P_HTTPS = 443
#: System and Tenant Management Consoles (browser user interfaces).
P_MGMT = 8000
#: Search Console.
P_SEARCH = 8888
#: Management API (MAPI).
P_MAPI = 9090

#: The ports on which a target speaks TLS unless told otherwise.
TLS_PORTS = frozenset({P_HTTPS, P_MGMT, P_MAPI})

#: HCP's native REST interface on authenticated namespaces.
I_NATIVE = "I_NATIVE"
#: HCP's S3-compatible interface.
I_HS3 = "I_HS3"
#: HCP's Swift-compatible interface.
I_HSWIFT = "I_HSWIFT"

#: Send reads (GET, HEAD) to the replica system.
RS_READ_ALLOWED = 1
#: Send reads to the replica when the primary system fails.
RS_READ_ON_FAILOVER = 2
#: Send writes to the replica system (meaningful on active/active links only).
RS_WRITE_ALLOWED = 4
#: Send writes to the replica when the primary system fails.
RS_WRITE_ON_FAILOVER = 8
