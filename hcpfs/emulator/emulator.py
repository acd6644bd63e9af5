"""Run an emulated HCP system from Python: ``with Emulator() as hcp: ...``."""

from __future__ import annotations

import ipaddress
import logging
import ssl
from pathlib import Path
from types import TracebackType

from hcpfs.emulator.config import SystemConfig, UserConfig
from hcpfs.emulator.credentials import hcp_token
from hcpfs.emulator.faults import Faults
from hcpfs.emulator.server import Node
from hcpfs.emulator.system import System

log = logging.getLogger(__name__)

_BIND_ATTEMPTS = 10


class Emulator:
    """An HCP system with its nodes, started by :meth:`start` or ``with``.

    :param config: the system configuration (default: :meth:`SystemConfig.default`)
    :param data_dir: keep content there across restarts; ``None`` keeps it in memory
    :param nodes: the number of nodes
    :param address: the address of the only node when ``nodes`` is 1
    :param port: the port every node binds; 0 picks one free port for all
    :param address_base: with several nodes, node ``i`` binds this address plus ``i``
    :param faults: fault hooks the nodes call
    :param ssl_context: serve HTTPS with this server context
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
    ) -> None:
        if nodes < 1:
            raise ValueError("an HCP system needs at least one node")
        self._config = config if config is not None else SystemConfig.default()
        self._data_dir = Path(data_dir) if data_dir is not None else None
        self._addresses = _addresses(nodes, address, address_base)
        self._port = port
        self._faults = faults
        self._ssl_context = ssl_context
        self._system: System | None = None

    def __repr__(self) -> str:
        state = "running" if self._system is not None else "stopped"
        return f"Emulator({', '.join(self._addresses)} port {self._port}, {state})"

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> Emulator:
        """Create the system and start its nodes on one common port.

        :raises OSError: when the nodes cannot bind
        """
        if self._system is not None:
            return self
        system = System(self._config, self._data_dir, faults=self._faults)
        try:
            self._bind(system)
        except BaseException:
            system.stop()
            raise
        self._system = system
        log.debug("emulator for %s running at %s", self._config.domain, self.url)
        return self

    def stop(self) -> None:
        """Stop every node and close the data directory."""
        system, self._system = self._system, None
        if system is not None:
            system.stop()

    def reset(self) -> None:
        """Forget all content and return to the initial configuration; nodes keep running."""
        self.system.reset()

    @property
    def system(self) -> System:
        """The running system (configuration, store, nodes)."""
        if self._system is None:
            raise RuntimeError("the emulator is not running")
        return self._system

    @property
    def nodes(self) -> list[Node]:
        """The nodes, in address order."""
        return self.system.nodes

    @property
    def port(self) -> int:
        """The port of every node."""
        return self._port

    @property
    def addresses(self) -> list[str]:
        """The node addresses."""
        return list(self._addresses)

    @property
    def url(self) -> str:
        """The base URL of the first node."""
        return self.system.nodes[0].url

    @property
    def host(self) -> str:
        """The host name of the first namespace of the first tenant."""
        tenant = self._config.tenants[0]
        return f"{tenant.namespaces[0].name}.{tenant.name}.{self._config.domain}".lower()

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

    def _default_user(self) -> UserConfig:
        tenant = self._config.tenants[0]
        first = tenant.namespaces[0].name.lower() if tenant.namespaces else ""
        for user in tenant.users:
            if any(ns.lower() == first for ns in user.permissions):
                return user
        if not tenant.users:
            raise RuntimeError(f"tenant {tenant.name} has no data access user")
        return tenant.users[0]

    def _bind(self, system: System) -> None:
        for attempt in range(_BIND_ATTEMPTS):
            nodes = [system.add_node(a, self._port, self._ssl_context) for a in self._addresses]
            try:
                nodes[0].start()
                for node in nodes[1:]:
                    node.port = nodes[0].port
                    node.start()
            except OSError:
                for node in nodes:
                    node.stop()
                system.nodes.clear()
                if self._port != 0 or attempt == _BIND_ATTEMPTS - 1:
                    raise
                continue
            self._port = nodes[0].port
            return


def _addresses(nodes: int, address: str, base: str) -> list[str]:
    if nodes == 1:
        return [address]
    first = ipaddress.IPv4Address(base)
    return [str(first + i) for i in range(nodes)]
