"""One emulated HCP system: its configuration, content, nodes and fault hooks.

:meth:`System.handle` routes a request by its ``Host`` header: ``<namespace>.<tenant>.<domain>``
reaches the REST interface (``/rest``) or namespace information (``/proc``);
``admin.<domain>`` and ``<tenant>.<domain>`` belong to the management API, which is answered by
``System.management`` when one is installed and with 403 otherwise.
"""

from __future__ import annotations

import copy
import logging
import ssl
from collections.abc import Callable
from pathlib import Path

from hcpfs.emulator import proc, rest
from hcpfs.emulator.config import NamespaceConfig, SystemConfig, TenantConfig
from hcpfs.emulator.errors import HcpError
from hcpfs.emulator.exchange import Request, Response
from hcpfs.emulator.faults import Faults
from hcpfs.emulator.model import Clock, Version
from hcpfs.emulator.server import Node
from hcpfs.emulator.store import NamespaceStore, Store

log = logging.getLogger(__name__)


class System:
    """An HCP system: all its nodes share one store.

    :param config: the configuration (validated here; :meth:`reset` returns to a copy of it)
    :param data_dir: where content survives a restart; ``None`` keeps it in memory
    :param faults: the fault hooks the nodes call (default: none)
    :param clock: the store's time source
    """

    def __init__(
        self,
        config: SystemConfig,
        data_dir: Path | None = None,
        *,
        faults: Faults | None = None,
        clock: Clock | None = None,
    ) -> None:
        config.validate()
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
        #: Answers requests for ``admin.<domain>`` and ``<tenant>.<domain>`` when set.
        self.management: Callable[[Request], Response] | None = None

    def __repr__(self) -> str:
        return f"System({self.config.domain}, {len(self.nodes)} nodes)"

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
        """Stop every node (data and other interfaces) and close the store."""
        for node in [*self.nodes, *self._other_nodes]:
            node.stop()
        self.store.close()

    def reset(self) -> None:
        """Forget all content and return to the initial configuration, clock and fault hooks."""
        self.config = copy.deepcopy(self._initial)
        self.faults = self._initial_faults
        self.store.reset(self.config)
        self.serviced_by = self.config.domain

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

    def is_replicated(self, store: NamespaceStore, path: str, version: Version) -> bool:
        """Tell whether a version reached the replica (``X-HCP-Replicated``); never, here.

        :param store: the namespace
        :param path: the object name
        :param version: the version asked about
        """
        return False

    def handle(self, request: Request) -> Response:
        """Answer one request that reached any node of this system.

        :raises HcpError: for refusals
        """
        domain = self.config.domain
        if not request.host.endswith("." + domain):
            raise self._unknown_namespace(request)
        labels = request.host[: -len(domain) - 1].split(".")
        if len(labels) == 1:
            if self.management is not None:
                return self.management(request)
            raise HcpError(403, "the management API is not served on this port")
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

    @staticmethod
    def _unknown_namespace(request: Request) -> HcpError:
        status = 400 if request.method == "HEAD" else 403
        return HcpError(status, f"no namespace is reachable as {request.host!r}")
