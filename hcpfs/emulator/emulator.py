"""Run an emulated HCP deployment from Python: ``with Emulator() as hcp: ...``.

By default one system with one node serves plain HTTP, which is what most tests need. Options
add what a real deployment has: more nodes on consecutive loopback addresses, HTTPS with
certificates from the emulator's own certificate authority, the management API on its own
port, a DNS server for the system's names, and a second system (the replica) joined to the
first by a replication link; a fault control endpoint switches each system's faults over HTTP.
"""

from __future__ import annotations

import copy
import ipaddress
import logging
import shutil
import ssl
import tempfile
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

from hcpfs.emulator.cluster import Cluster, LinkPlan, dns_resolver, server_context
from hcpfs.emulator.config import ManagementUserConfig, SystemConfig, UserConfig
from hcpfs.emulator.credentials import hcp_token
from hcpfs.emulator.dns import DnsServer
from hcpfs.emulator.faults import ControlServer, Faults
from hcpfs.emulator.replication import Link, LinkType, Topology
from hcpfs.emulator.server import Node
from hcpfs.emulator.system import System
from hcpfs.emulator.tls import CertificateAuthority

log = logging.getLogger(__name__)

LINK_NAME = "primary-replica"
PRIMARY = "primary"
REPLICA = "replica"
_BIND_ATTEMPTS = 10
_HIGHEST_PORT = 65535
_LINK_TYPES = {"ACTIVE_PASSIVE": LinkType.OUTBOUND, "ACTIVE_ACTIVE": LinkType.ACTIVE_ACTIVE}


class Emulator:
    """An emulated HCP deployment, started by :meth:`start` or ``with``.

    :param config: the system configuration (default: :meth:`SystemConfig.default`)
    :param data_dir: keep content there across restarts (the replica's in ``replica/``);
        ``None`` keeps it in memory
    :param nodes: the number of nodes of each system
    :param address: the address of the only node when ``nodes`` is 1
    :param port: the HTTP port of every node; 0 picks one free port for all
    :param address_base: with several nodes, node ``i`` binds this address plus ``i``
    :param faults: fault hooks the nodes of the (primary) system call
    :param ssl_context: serve HTTPS instead of HTTP on ``port`` with this server context
    :param tls: also serve HTTPS on ``https_port``, with certificates from the emulator's
        certificate authority (:attr:`ca_file`)
    :param https_port: the HTTPS port of every node when ``tls`` is on; 0 picks a free one
    :param tls_dir: where the certificate authority lives (default: ``<data_dir>/tls``, or a
        temporary directory removed at :meth:`stop`)
    :param management: serve the management API on ``mapi_port`` (HTTPS when ``tls`` is on);
        by default only when there is a replica
    :param mapi_port: the management port of every node; 0 picks a free one
    :param dns: run a DNS server that answers the systems' names with the nodes that are up
    :param dns_address: the DNS server's address
    :param dns_port: the DNS server's port (UDP and TCP); 0 picks a free one
    :param dns_ttl: the time to live of the DNS answers, in seconds
    :param replica: run a second system joined to the first by a replication link
    :param replica_domain: the replica's domain (default: ``<first label>-replica.<rest>``)
    :param replica_address_base: the replica's first node address (default: the address after
        the primary's last node)
    :param link_type: ``ACTIVE_PASSIVE`` or ``ACTIVE_ACTIVE``
    :param replication_delay: seconds a change waits before it is copied to the other system
    :param replicated_tenants: the tenants on the link (default: all)
    :param control_port: serve the primary's fault control endpoint (:class:`ControlServer`)
        on this port and the replica's on the next one; 0 picks free ones; ``None`` serves none
    :param control_address: the address of the fault control endpoints
    """

    def __init__(
        self,
        config: SystemConfig | None = None,
        *,
        data_dir: str | Path | None = None,
        nodes: int = 1,
        address: str = "127.0.0.1",
        port: int = 0,
        address_base: str = "127.0.0.2",
        faults: Faults | None = None,
        ssl_context: ssl.SSLContext | None = None,
        tls: bool = False,
        https_port: int = 0,
        tls_dir: str | Path | None = None,
        management: bool | None = None,
        mapi_port: int = 0,
        dns: bool = False,
        dns_address: str = "127.0.0.1",
        dns_port: int = 0,
        dns_ttl: int = 1,
        replica: bool = False,
        replica_domain: str | None = None,
        replica_address_base: str | None = None,
        link_type: str = "ACTIVE_PASSIVE",
        replication_delay: float = 0.0,
        replicated_tenants: Sequence[str] | None = None,
        control_port: int | None = None,
        control_address: str = "127.0.0.1",
    ) -> None:
        if nodes < 1:
            raise ValueError("an HCP system needs at least one node")
        if replication_delay < 0:
            raise ValueError("the replication delay cannot be negative")
        _check_control_port(control_port, replica)
        self._config = config if config is not None else SystemConfig.default()
        self._data_dir = Path(data_dir) if data_dir is not None else None
        self._addresses = _addresses(nodes, address, address_base)
        self._ports = {"data": port, "https": https_port, "mapi": mapi_port}
        self._faults = faults
        self._ssl_context = ssl_context
        self._tls = tls
        self._tls_dir = Path(tls_dir) if tls_dir is not None else None
        self._management = replica if management is None else management
        self._dns_settings = (dns_address, dns_port, dns_ttl) if dns else None
        self._control_settings = None if control_port is None else (control_address, control_port)
        self._replica_config: SystemConfig | None = None
        self._replica_addresses: list[str] = []
        self._plan: LinkPlan | None = None
        self._delay = replication_delay
        if replica:
            self._plan_replica(replica_domain, replica_address_base, link_type, replicated_tenants)
        self._systems: list[System] = []
        self._cluster: Cluster | None = None
        self._authority: CertificateAuthority | None = None
        self._temporary: Path | None = None
        self._dns: DnsServer | None = None
        self._controls: list[ControlServer] = []

    def __repr__(self) -> str:
        state = "running" if self._systems else "stopped"
        return f"Emulator({', '.join(self._addresses)} port {self.port}, {state})"

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()

    # ---- starting and stopping -----------------------------------------------------------

    def start(self) -> Emulator:
        """Create the systems, start their nodes, the replication, the DNS server and the fault
        control endpoints.

        :raises OSError: when a node, the DNS server or a control endpoint cannot bind
        """
        if self._systems:
            return self
        try:
            self._systems = self._create_systems()
            contexts = self._tls_contexts()
            self._bind(contexts)
            self._cluster = Cluster(self._systems, self._plan, delay=self._delay)
            self._cluster.start()
            self._start_dns()
            self._start_control()
        except BaseException:
            self.stop()
            raise
        log.debug("emulator for %s running at %s", self._config.domain, self.url)
        return self

    def stop(self) -> None:
        """Stop the fault control endpoints, the DNS server, the replication and every node (their
        active faults end without starting any node again); close the data directories."""
        controls, self._controls = self._controls, []
        for control in controls:
            control.stop()
        dns_server, self._dns = self._dns, None
        if dns_server is not None:
            dns_server.stop()
        cluster, self._cluster = self._cluster, None
        if cluster is not None:
            cluster.stop()
        systems, self._systems = self._systems, []
        for system in systems:
            system.stop()
        temporary, self._temporary = self._temporary, None
        if temporary is not None:
            shutil.rmtree(temporary, ignore_errors=True)
        self._authority = None

    def reset(self) -> None:
        """Forget all content and return to the initial configuration, on every system and
        link; nodes keep running."""
        if self._cluster is not None:
            self._cluster.reset()
        else:
            self.system.reset()

    def take_down(self, index: int, *, replica: bool = False) -> Node:
        """Stop node ``index``: its ports refuse connections and DNS stops naming it.

        :param index: the node's position in :attr:`nodes`
        :param replica: a node of the replica instead of the primary
        """
        node = self._system_of(replica).nodes[index]
        node.stop()
        return node

    def bring_up(self, index: int, *, replica: bool = False) -> Node:
        """Start node ``index`` again on the same address and ports.

        :param index: the node's position in :attr:`nodes`
        :param replica: a node of the replica instead of the primary
        """
        node = self._system_of(replica).nodes[index]
        node.start()
        return node

    def wait_replicated(self, timeout: float = 10.0) -> bool:
        """Wait until no change is queued on the replication link.

        :param timeout: seconds to wait at most
        :returns: False when changes were still queued at the deadline
        """
        if self._cluster is None:
            raise RuntimeError("the emulator is not running")
        return self._cluster.wait_idle(timeout)

    # ---- what clients need ---------------------------------------------------------------

    @property
    def system(self) -> System:
        """The (primary) system: configuration, store, nodes."""
        if not self._systems:
            raise RuntimeError("the emulator is not running")
        return self._systems[0]

    @property
    def replica(self) -> System | None:
        """The replica system, when the emulator runs one."""
        if self._replica_config is None:
            return None
        if len(self._systems) < 2:
            raise RuntimeError("the emulator is not running")
        return self._systems[1]

    @property
    def systems(self) -> list[System]:
        """Every running system, the primary first."""
        return list(self._systems)

    @property
    def nodes(self) -> list[Node]:
        """The nodes of the (primary) system, in address order."""
        return self.system.nodes

    @property
    def port(self) -> int:
        """The HTTP port of every node (HTTPS when an ``ssl_context`` was given)."""
        return self._ports["data"]

    @property
    def https_port(self) -> int | None:
        """The HTTPS port of every node, when ``tls`` is on."""
        return self._ports["https"] if self._tls else None

    @property
    def mapi_port(self) -> int | None:
        """The management API port of every node, when the management API is served."""
        return self._ports["mapi"] if self._management else None

    @property
    def addresses(self) -> list[str]:
        """The addresses of the (primary) system's nodes."""
        return list(self._addresses)

    @property
    def replica_addresses(self) -> list[str]:
        """The addresses of the replica's nodes (empty without a replica)."""
        return list(self._replica_addresses)

    @property
    def url(self) -> str:
        """The base URL of the first node's data port."""
        return self.system.nodes[0].url

    @property
    def domain(self) -> str:
        """The (primary) system's domain."""
        return self._config.domain

    @property
    def replica_domain(self) -> str | None:
        """The replica's domain, when there is a replica."""
        return None if self._replica_config is None else self._replica_config.domain

    @property
    def host(self) -> str:
        """The host name of the first namespace of the first tenant."""
        return _first_host(self._config)

    @property
    def replica_host(self) -> str | None:
        """The same namespace's host name on the replica."""
        return None if self._replica_config is None else _first_host(self._replica_config)

    @property
    def admin_host(self) -> str:
        """The host name of the system-level management API (``admin.<domain>``)."""
        return f"admin.{self._config.domain}"

    @property
    def user(self) -> str:
        """The name of the default data access user."""
        return self._default_user().name

    @property
    def password(self) -> str:
        """The password of the default data access user."""
        return self._default_user().password

    @property
    def auth_header(self) -> str:
        """The ``Authorization`` header value of the default user."""
        return "HCP " + hcp_token(self.user, self.password)

    @property
    def management_user(self) -> str:
        """The name of the first management account with the administrator role."""
        return self._administrator().name

    @property
    def management_password(self) -> str:
        """The password of :attr:`management_user`."""
        return self._administrator().password

    @property
    def management_auth_header(self) -> str:
        """The ``Authorization`` header value of :attr:`management_user`."""
        return "HCP " + hcp_token(self.management_user, self.management_password)

    @property
    def ca_file(self) -> Path | None:
        """The CA certificate (PEM) that verifies the nodes' HTTPS, when ``tls`` is on."""
        return None if self._authority is None else self._authority.ca_file

    @property
    def dns_address(self) -> str | None:
        """The DNS server's address, when ``dns`` is on."""
        return None if self._dns is None else self._dns.address

    @property
    def dns_port(self) -> int | None:
        """The DNS server's port (UDP and TCP), when ``dns`` is on."""
        return None if self._dns is None else self._dns.port

    @property
    def control_url(self) -> str | None:
        """The base URL of the primary's fault control endpoint, when ``control_port`` was
        given and the emulator runs; the faults are at ``/_emulator/faults`` below it."""
        return self._controls[0].url if self._controls else None

    @property
    def replica_control_url(self) -> str | None:
        """The base URL of the replica's fault control endpoint, when there is one."""
        return self._controls[1].url if len(self._controls) > 1 else None

    @property
    def topology(self) -> Topology | None:
        """The replication topology (a new one after each :meth:`reset`)."""
        return None if self._cluster is None else self._cluster.topology

    @property
    def link(self) -> Link | None:
        """The replication link between the primary and the replica, if there is one."""
        return None if self._cluster is None else self._cluster.link

    # ---- helpers -------------------------------------------------------------------------

    def _plan_replica(
        self,
        domain: str | None,
        address_base: str | None,
        link_type: str,
        tenants: Sequence[str] | None,
    ) -> None:
        wanted = link_type.strip().upper().replace("-", "_").replace("/", "_")
        if wanted not in _LINK_TYPES:
            raise ValueError(f"link_type must be ACTIVE_PASSIVE or ACTIVE_ACTIVE, not {link_type}")
        config = copy.deepcopy(self._config)
        config.domain = domain or _replica_domain(self._config.domain)
        if config.domain.lower() == self._config.domain.lower():
            raise ValueError("the replica needs a domain of its own")
        self._replica_config = config
        base = address_base or str(ipaddress.IPv4Address(self._addresses[-1]) + 1)
        self._replica_addresses = _addresses(len(self._addresses), base, base)
        if set(self._replica_addresses) & set(self._addresses):
            raise ValueError("the replica's node addresses overlap the primary's")
        names = None if tenants is None else tuple(tenants)
        self._plan = LinkPlan(LINK_NAME, _LINK_TYPES[wanted], names)

    def _create_systems(self) -> list[System]:
        primary = System(self._config, self._data_dir, faults=self._faults, name=PRIMARY)
        systems = [primary]
        if self._replica_config is not None:
            replica_dir = self._data_dir / REPLICA if self._data_dir is not None else None
            systems.append(System(self._replica_config, replica_dir, name=REPLICA))
        for system in systems:
            attach = getattr(system.faults, "attach", None)
            if attach is not None:
                attach(system)
        return systems

    def _tls_contexts(self) -> list[ssl.SSLContext | None]:
        """Open the certificate authority and issue each system's certificate."""
        if not self._tls:
            return [None] * len(self._systems)
        directory = self._tls_dir
        if directory is None and self._data_dir is not None:
            directory = self._data_dir / "tls"
        if directory is None:
            self._temporary = Path(tempfile.mkdtemp(prefix="hcp-emulator-"))
            directory = self._temporary / "tls"
        self._authority = CertificateAuthority.open(directory)
        return [
            server_context(self._authority, system.config, self._node_addresses(system))
            for system in self._systems
        ]

    def _node_addresses(self, system: System) -> list[str]:
        return self._addresses if system is self._systems[0] else self._replica_addresses

    def _bind(self, contexts: list[ssl.SSLContext | None]) -> None:
        """Start every node; with a port 0, the first node picks it and all others follow."""
        for attempt in range(_BIND_ATTEMPTS):
            nodes = [
                node
                for system, context in zip(self._systems, contexts, strict=True)
                for node in self._add_nodes(system, context)
            ]
            try:
                _start_together(nodes)
            except OSError:
                for system in self._systems:
                    for node in system.nodes:
                        node.stop()
                    system.nodes.clear()
                if 0 not in self._wanted_ports() or attempt == _BIND_ATTEMPTS - 1:
                    raise
                continue
            for listener in nodes[0].listeners:
                self._ports[listener.name] = listener.port
            return

    def _wanted_ports(self) -> list[int]:
        wanted = [self._ports["data"]]
        if self._tls:
            wanted.append(self._ports["https"])
        if self._management:
            wanted.append(self._ports["mapi"])
        return wanted

    def _add_nodes(self, system: System, context: ssl.SSLContext | None) -> list[Node]:
        nodes = []
        for address in self._node_addresses(system):
            node = system.add_node(address, self._ports["data"], self._ssl_context)
            if context is not None:
                node.listen("https", self._ports["https"], context)
                system.scheme = "https"
            if self._management:
                mapi_context = context if context is not None else self._ssl_context
                node.listen("mapi", self._ports["mapi"], mapi_context, system.handle_management)
            nodes.append(node)
        return nodes

    def _start_dns(self) -> None:
        if self._dns_settings is None:
            return
        address, port, ttl = self._dns_settings
        server = DnsServer(dns_resolver(self._systems), address, port, ttl)
        server.start()
        self._dns = server

    def _start_control(self) -> None:
        """Serve each system's faults, the primary's on the control port, the replica's on the
        next one (or both on free ports)."""
        if self._control_settings is None:
            return
        address, port = self._control_settings
        for offset, system in enumerate(self._systems):
            wanted = port + offset if port else 0
            server = ControlServer(system, address, wanted)
            try:
                server.start()
            except OSError as exc:
                where = f"{address} port {wanted}"
                raise OSError(exc.errno, f"fault control on {where}: {exc.strerror}") from exc
            self._controls.append(server)

    def _system_of(self, replica: bool) -> System:
        if not replica:
            return self.system
        system = self.replica
        if system is None:
            raise RuntimeError("the emulator runs no replica")
        return system

    def _default_user(self) -> UserConfig:
        tenant = self._config.tenants[0]
        first = tenant.namespaces[0].name.lower() if tenant.namespaces else ""
        for user in tenant.users:
            if any(ns.lower() == first for ns in user.permissions):
                return user
        if not tenant.users:
            raise RuntimeError(f"tenant {tenant.name} has no data access user")
        return tenant.users[0]

    def _administrator(self) -> ManagementUserConfig:
        for user in self._config.management_users:
            if "administrator" in user.roles:
                return user
        raise RuntimeError("the configuration has no management account with that role")


def _start_together(nodes: list[Node]) -> None:
    """Start the first node, then the others on the ports it picked.

    :raises OSError: when a node cannot bind (the nodes started so far keep running)
    """
    first = nodes[0]
    first.start()
    for node in nodes[1:]:
        for listener in node.listeners:
            chosen = first.listener(listener.name)
            if chosen is not None:
                listener.port = chosen.port
        node.start()


def _check_control_port(port: int | None, replica: bool) -> None:
    highest = _HIGHEST_PORT - 1 if replica else _HIGHEST_PORT
    if port is not None and not 0 <= port <= highest:
        raise ValueError(f"the control port must be between 0 and {highest}")


def _addresses(nodes: int, address: str, base: str) -> list[str]:
    if nodes == 1:
        return [address]
    first = ipaddress.IPv4Address(base)
    return [str(first + i) for i in range(nodes)]


def _first_host(config: SystemConfig) -> str:
    tenant = config.tenants[0]
    return f"{tenant.namespaces[0].name}.{tenant.name}.{config.domain}".lower()


def _replica_domain(domain: str) -> str:
    first, _, rest = domain.partition(".")
    return f"{first}-replica.{rest}"
