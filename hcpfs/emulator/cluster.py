"""Several emulated HCP systems working together: replication, management API, DNS, TLS.

:class:`Cluster` joins the systems of one emulator in a replication :class:`Topology`: each
system's store reports its changes (:class:`~hcpfs.emulator.store.Change`), the change is queued
on every link that replicates its tenant, and the link's replicator applies it to the other
system's store, after which both systems know that version as replicated. The cluster also
gives each system its management API (:class:`~hcpfs.emulator.mapi.ManagementApi`, served on
the nodes' management port by :func:`management_handler`).

:func:`dns_resolver` answers the names of all systems for one
:class:`~hcpfs.emulator.dns.DnsServer`, and :func:`server_context` makes the TLS context a
system's nodes present.
"""

from __future__ import annotations

import functools
import logging
import ssl
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from hcpfs.emulator.config import SystemConfig
from hcpfs.emulator.dns import Resolve, zone_resolver
from hcpfs.emulator.errors import HcpError
from hcpfs.emulator.exchange import Request, Response
from hcpfs.emulator.mapi import ManagementApi, MapiRequest, MapiResponse, MapiUser
from hcpfs.emulator.replication import (
    Link,
    LinkType,
    ReplicationItem,
    ReplicationService,
    SystemEndpoint,
    Topology,
)
from hcpfs.emulator.store import Change, NamespaceStore
from hcpfs.emulator.system import System, link_tenant
from hcpfs.emulator.tls import CertificateAuthority, system_names

log = logging.getLogger(__name__)

# Management requests are small documents; anything bigger is refused unread.
MAX_MANAGEMENT_BODY = 1024 * 1024
# How often each replicator looks for changes that are due.
REPLICATION_INTERVAL = 0.05
# A copy that failed (e.g. the namespace is missing on the other system) is retried this late.
RETRY_DELAY = 1.0


@dataclass(frozen=True)
class LinkPlan:
    """The replication link a cluster creates between its first two systems.

    :param name: the link name (1 to 64 characters)
    :param link_type: the type as the first system sees it: ``OUTBOUND`` makes it the primary
        of an active/passive link, ``ACTIVE_ACTIVE`` joins both as equals
    :param tenants: the tenants to replicate; ``None`` replicates every configured tenant
    """

    name: str
    link_type: LinkType
    tenants: tuple[str, ...] | None = None


@dataclass(frozen=True)
class StoreChange(ReplicationItem):
    """A store change queued on a link, with what is needed to mark it replicated."""

    source: str = ""
    namespace: str = ""
    change: Change | None = None


class Cluster:
    """The systems of one emulator, the links between them and their management APIs.

    :param systems: the systems, each with a distinct name and domain
    :param plan: the link to create between the first two systems, if any
    :param delay: seconds a change waits before it is replicated
    """

    def __init__(
        self, systems: Sequence[System], plan: LinkPlan | None = None, *, delay: float = 0.0
    ) -> None:
        if plan is not None and len(systems) < 2:
            raise ValueError("a replication link needs two systems")
        self.systems = list(systems)
        self.plan = plan
        self.delay = delay
        self._by_name = {system.name: system for system in systems}
        self._topology: Topology | None = None

    def __repr__(self) -> str:
        return f"Cluster({', '.join(self._by_name)})"

    @property
    def topology(self) -> Topology:
        """The running topology (a new one after every :meth:`reset`)."""
        if self._topology is None:
            raise RuntimeError("the cluster is not running")
        return self._topology

    @property
    def link(self) -> Link | None:
        """The link the plan created, unless it was deleted through the management API."""
        if self.plan is None:
            return None
        return self.topology.find(self.plan.name)

    def start(self) -> None:
        """Create the topology and its link, and connect every system to them."""
        endpoints = [SystemEndpoint(s.name, s.domain, tuple(s.addresses)) for s in self.systems]
        topology = Topology(
            endpoints,
            delay=self.delay,
            interval=REPLICATION_INTERVAL,
            retry_delay=RETRY_DELAY,
            on_done=self._done,
        )
        if self.plan is not None:
            self._create_link(topology, self.plan)
        for system in self.systems:
            system.topology = topology
            system.store.observer = functools.partial(self._changed, system)
            system.management = management_handler(_management_api(system, topology))
        self._topology = topology
        topology.start()

    def stop(self) -> None:
        """Stop replicating; queued changes are dropped."""
        topology, self._topology = self._topology, None
        if topology is not None:
            topology.stop()
        for system in self.systems:
            system.store.observer = None

    def reset(self) -> None:
        """Reset every system and start over with a new topology (link state, queues)."""
        self.stop()
        for system in self.systems:
            system.reset()
        self.start()

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no change is queued on any link.

        :param timeout: seconds to wait at most
        :returns: False when changes were still queued at the deadline
        """
        topology = self.topology
        deadline = time.monotonic() + timeout
        names = {link.name for s in self.systems for link in topology.links_of(s.name)}
        for name in sorted(names):
            replicator = topology.replicator(name)
            left = max(0.0, deadline - time.monotonic())
            if replicator is not None and not replicator.wait_idle(left):
                return False
        return True

    def _create_link(self, topology: Topology, plan: LinkPlan) -> None:
        first, second = self.systems[0], self.systems[1]
        link = topology.create_link(plan.name, first.name, second.name, plan.link_type)
        tenants = plan.tenants
        if tenants is None:
            tenants = tuple(tenant.name for tenant in first.config.tenants)
        for tenant in tenants:
            link.add_tenant(tenant)

    def _changed(self, system: System, namespace: NamespaceStore, change: Change) -> None:
        """Queue a change of ``system`` on every link that replicates its tenant."""
        topology = self._topology
        if topology is None:
            return
        for link in topology.links_of(system.name):
            tenant = link_tenant(link, namespace.tenant)
            if tenant is None:
                continue
            target = self._by_name[link.other(system.name)]
            item = StoreChange(
                key=f"{namespace.key}/{change.path}",
                size=change.size,
                copy=functools.partial(_copy, target, namespace.key, change),
                tenant=tenant,
                source=system.name,
                namespace=namespace.key,
                change=change,
            )
            link.enqueue(system.name, item)

    def _done(self, item: ReplicationItem) -> None:
        """Mark a copied change as replicated on both of its systems."""
        if not isinstance(item, StoreChange) or item.change is None:
            return
        for system in self.systems:
            system.mark_replicated(item.namespace, item.change)


def _copy(target: System, namespace: str, change: Change) -> None:
    store = target.store.namespaces.get(namespace)
    if store is None:
        # A retry would not help: the other system's configuration lacks the namespace.
        log.warning("%s has no namespace %s; change of %r dropped", target, namespace, change.path)
        return
    store.apply(change)


def _management_api(system: System, topology: Topology) -> ManagementApi:
    users = [
        MapiUser(user.name, user.password, frozenset(user.roles))
        for user in system.config.management_users
    ]
    return ManagementApi(
        system.name,
        users,
        ReplicationService(),
        topology,
        software_version=system.config.software_version,
    )


def management_handler(api: ManagementApi) -> Callable[[Request], Response]:
    """Serve a management API on a node port: turn each request into a ``MapiRequest``.

    :param api: the system's management API
    """

    def handle(request: Request) -> Response:
        headers = dict(reversed(request.headers.items()))  # the first of a repeated header wins
        mapi_request = MapiRequest(
            request.method, request.raw_path, dict(request.query), headers, _body(request)
        )
        return _response(request.method, api.handle(mapi_request))

    return handle


def _body(request: Request) -> bytes:
    parts: list[bytes] = []
    size = 0
    while size <= MAX_MANAGEMENT_BODY:
        piece = request.body.read(MAX_MANAGEMENT_BODY + 1 - size)
        if not piece:
            return b"".join(parts)
        parts.append(piece)
        size += len(piece)
    raise HcpError(413, "the management request body is too large")


def _response(method: str, answer: MapiResponse) -> Response:
    """Convert an answer; the node adds ``Content-Length``, the version and error headers."""
    headers = dict(answer.headers)
    length = int(headers.pop("Content-Length", len(answer.body)))
    headers.pop("X-HCP-SoftwareVersion", None)
    message = ""
    if answer.status >= 400:
        message = headers.pop("X-HCP-ErrorMessage", "")
    pairs = list(headers.items())
    if method == "HEAD":
        return Response(answer.status, pairs, length=length, message=message)
    return Response(answer.status, pairs, answer.body, message=message)


def dns_resolver(systems: Sequence[System]) -> Resolve:
    """Answer the names of every system with the addresses of its nodes that are up.

    :param systems: the systems; each is asked for its tenants and nodes at every query
    """
    zones = [
        zone_resolver(
            system.domain,
            functools.partial(_tenants_of, system),
            system.up_addresses,
        )
        for system in systems
    ]

    def resolve(name: str) -> Sequence[str] | None:
        for zone in zones:
            found = zone(name)
            if found is not None:
                return found
        return None

    return resolve


def _tenants_of(system: System) -> dict[str, list[str]]:
    return system.tenant_names()


def server_context(
    authority: CertificateAuthority, config: SystemConfig, addresses: Sequence[str]
) -> ssl.SSLContext:
    """Issue a certificate for every host name of a system and return a TLS server context.

    :param authority: the emulator's certificate authority
    :param config: the system's configuration (domain and tenants)
    :param addresses: the node addresses, also written into the certificate
    """
    tenants = {tenant.name: [ns.name for ns in tenant.namespaces] for tenant in config.tenants}
    return authority.server_context(system_names(config.domain, tenants), addresses)
