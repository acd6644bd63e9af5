"""One emulated HCP system: its configuration, content, nodes and fault hooks.

:meth:`System.handle` answers the data ports and routes a request by its ``Host`` header:
``<namespace>.<tenant>.<domain>`` reaches the REST interface (``/rest``) or namespace
information (``/proc``); ``admin.<domain>`` and ``<tenant>.<domain>`` belong to the management
API, which HCP serves on its own port only, so the data ports answer them with 403.
:meth:`System.handle_management` answers the management port with ``System.management``.

In a replication topology (``System.topology``) the system refuses writes to a replicated
tenant while the link says it is read-only here, and reports which versions the other system
has (``X-HCP-Replicated``).
"""

from __future__ import annotations

import copy
import logging
import ssl
import threading
from collections.abc import Callable
from pathlib import Path

from hcpfs.emulator import proc, rest
from hcpfs.emulator.config import NamespaceConfig, SystemConfig, TenantConfig
from hcpfs.emulator.errors import HcpError
from hcpfs.emulator.exchange import Request, Response
from hcpfs.emulator.faults import Faults
from hcpfs.emulator.model import Clock, Version
from hcpfs.emulator.replication import Link, Topology, writable
from hcpfs.emulator.server import Node
from hcpfs.emulator.store import Change, NamespaceStore, Store

log = logging.getLogger(__name__)


class System:
    """An HCP system: all its nodes share one store.

    :param config: the configuration (validated here; :meth:`reset` returns to a copy of it)
    :param data_dir: where content survives a restart; ``None`` keeps it in memory
    :param faults: the fault hooks the nodes call (default: none)
    :param clock: the store's time source
    :param name: the system's name in a replication topology
    """

    def __init__(
        self,
        config: SystemConfig,
        data_dir: Path | None = None,
        *,
        faults: Faults | None = None,
        clock: Clock | None = None,
        name: str = "primary",
    ) -> None:
        config.validate()
        self.name = name
        self._initial = copy.deepcopy(config)
        self.config = config
        self.store = Store(config, data_dir, clock)
        self.faults = faults or Faults()
        self._initial_faults = self.faults
        self.nodes: list[Node] = []
        self._other_nodes: list[Node] = []
        self.scheme = "http"
        #: The domain reported in ``X-HCP-ServicedBySystem``.
        self.serviced_by = config.domain
        #: Answers management requests for ``admin.<domain>`` on the management port.
        self.management: Callable[[Request], Response] | None = None
        #: The systems and links this system is part of, if any.
        self.topology: Topology | None = None
        # (namespace key, path) -> {version id: change tick the other system has}
        self._replicated: dict[tuple[str, str], dict[int, int]] = {}
        self._replicated_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"System({self.config.domain}, {len(self.nodes)} nodes)"

    @property
    def domain(self) -> str:
        """The system's DNS domain."""
        return self.config.domain

    @property
    def addresses(self) -> list[str]:
        """The addresses of the data nodes, in order."""
        return [node.address for node in self.nodes]

    def up_addresses(self) -> list[str]:
        """The addresses of the data nodes that accept connections now (what DNS answers)."""
        return [node.address for node in self.nodes if node.running]

    def tenant_names(self) -> dict[str, list[str]]:
        """Return each tenant's name with the names of its namespaces."""
        return {t.name: [ns.name for ns in t.namespaces] for t in self.config.tenants}

    def add_node(
        self,
        address: str,
        port: int = 0,
        ssl_context: ssl.SSLContext | None = None,
        handler: Callable[[Request], Response] | None = None,
    ) -> Node:
        """Create a node of this system (not started); it joins :attr:`nodes` unless it has a
        handler of its own.

        :param address: the address to bind
        :param port: the port, 0 for any free one
        :param ssl_context: serve HTTPS with this server context
        :param handler: answer with this instead of :meth:`handle` (e.g. a management API
            port); such a node is returned but not counted among the data nodes
        """
        node = Node(self, address, port, ssl_context, handler)
        if handler is None:
            if ssl_context is not None:
                self.scheme = "https"
            self.nodes.append(node)
        else:
            self._other_nodes.append(node)
        return node

    def stop(self) -> None:
        """End the active faults without starting any node again, stop every node (data and
        other interfaces) and close the store."""
        self.faults.close()
        if self._initial_faults is not self.faults:
            self._initial_faults.close()
        for node in [*self.nodes, *self._other_nodes]:
            node.stop()
        self.store.close()

    def reset(self) -> None:
        """Forget all content and return to the initial configuration, clock and fault hooks."""
        self.config = copy.deepcopy(self._initial)
        self.faults = self._initial_faults
        self.store.reset(self.config)
        self.serviced_by = self.config.domain
        with self._replicated_lock:
            self._replicated.clear()

    def namespace(self, tenant: str, name: str) -> tuple[TenantConfig, NamespaceConfig] | None:
        """Return the configuration of a tenant and one of its namespaces, if it exists."""
        tenant_config = self.config.tenant(tenant)
        namespace = tenant_config.namespace(name) if tenant_config is not None else None
        if tenant_config is None or namespace is None:
            return None
        return tenant_config, namespace

    def host_names(self) -> list[str]:
        """Return the host names of all namespaces (``ns.tenant.domain``)."""
        return [
            f"{ns.name}.{tenant.name}.{self.config.domain}".lower()
            for tenant in self.config.tenants
            for ns in tenant.namespaces
        ]

    def links(self, tenant: str) -> list[Link]:
        """Return the links that replicate ``tenant`` (any case) to or from this system."""
        if self.topology is None:
            return []
        return [
            link
            for link in self.topology.links_of(self.name)
            if link_tenant(link, tenant) is not None
        ]

    def writable(self, tenant: str) -> bool:
        """Tell whether clients may write to the namespaces of ``tenant`` on this system now.

        :param tenant: the tenant name
        """
        return all(writable(self.name, link) for link in self.links(tenant))

    def is_replicated(self, store: NamespaceStore, path: str, version: Version) -> bool:
        """Tell whether the other system of the topology holds this version as it is here
        (``X-HCP-Replicated``); always false for a tenant that is not replicated.

        :param store: the namespace
        :param path: the object name
        :param version: the version asked about
        """
        if not self.links(store.tenant):
            return False
        with self._replicated_lock:
            known = self._replicated.get((store.key, path))
            return known is not None and known.get(version.id) == version.change

    def mark_replicated(self, namespace: str, change: Change) -> None:
        """Record that the other system has the entry as ``change`` describes it.

        :param namespace: the namespace key (``tenant/namespace``)
        :param change: a change that reached the other system
        """
        key = (namespace, change.path)
        with self._replicated_lock:
            if change.versions is None:
                self._replicated.pop(key, None)
                return
            known = self._replicated.setdefault(key, {})
            known.update((version.id, version.change) for version in change.versions)

    def handle(self, request: Request) -> Response:
        """Answer one request that reached any node of this system.

        :raises HcpError: for refusals
        """
        domain = self.config.domain
        if not request.host.endswith("." + domain):
            raise self._unknown_namespace(request)
        labels = request.host[: -len(domain) - 1].split(".")
        if len(labels) == 1:
            raise HcpError(403, "the management API is served on the management port only")
        found = self.namespace(labels[1], labels[0]) if len(labels) == 2 else None
        if found is None:
            raise self._unknown_namespace(request)
        tenant, namespace = found
        path = request.path
        if path == "/rest" or path.startswith("/rest/"):
            return rest.handle(self, tenant, namespace, request)
        if path == "/proc" or path.startswith("/proc/"):
            return proc.handle(self, tenant, namespace, request)
        raise HcpError(400, "malformed URL: namespace requests start with /rest or /proc")

    def handle_management(self, request: Request) -> Response:
        """Answer one request that reached the management port of any node.

        :raises HcpError: 403 for hosts other than ``admin.<domain>``, or without a
            management handler
        """
        if request.host != f"admin.{self.config.domain}":
            raise HcpError(
                403, f"only system-level management (admin.{self.config.domain}) is emulated"
            )
        if self.management is None:
            raise HcpError(403, "the management API is not enabled")
        return self.management(request)

    @staticmethod
    def _unknown_namespace(request: Request) -> HcpError:
        status = 400 if request.method == "HEAD" else 403
        return HcpError(status, f"no namespace is reachable as {request.host!r}")


def link_tenant(link: Link, tenant: str) -> str | None:
    """Return the name under which ``link`` replicates ``tenant`` (compared in any case).

    :param link: a replication link
    :param tenant: a tenant name
    """
    wanted = tenant.lower()
    return next((name for name in link.tenants() if name.lower() == wanted), None)
