"""A target: one HCP system endpoint (a namespace, or ``admin`` for the management API).

A target knows the system's name, port, credentials and TLS settings, keeps the round robin
over its node addresses and one connection pool per node. Its pools are shared by every
:class:`~hcpfs.sdk.connection.Connection` made on it and are safe to use from many threads.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from ssl import CERT_NONE, SSLContext

from hcpfs.sdk import ips
from hcpfs.sdk.auth import BaseAuthorization
from hcpfs.sdk.constants import I_NATIVE, P_HTTPS, TLS_PORTS
from hcpfs.sdk.errors import HcpsdkError, HcpsdkPortError, HcpsdkReplicaInitError
from hcpfs.sdk.pool import (
    NodePool,
    PoolFactory,
    PoolSpec,
    SocketOption,
    Urllib3Pool,
    default_ssl_context,
)

log = logging.getLogger(__name__)

#: Connections kept open to one node at most (more may be used; extra ones are not kept).
POOL_MAXSIZE = 16

_insecure_warned: set[tuple[str, int]] = set()
_insecure_lock = threading.Lock()


@dataclass
class _Slot:
    pool: NodePool
    last_used: float
    idletime: float


class Target:
    """An HCP system endpoint, with its nodes, credentials, TLS settings and replica.

    :param fqdn: the host name, e.g. ``ns1.tenant1.hcp.example.com`` or
        ``admin.hcp.example.com`` for the management API
    :param authorization: the credentials, e.g. :class:`~hcpfs.sdk.NativeAuthorization`
    :param port: one of the ``P_*`` ports; 443, 8000 and 9090 use TLS
    :param dnscache: resolve through the system resolver (which may cache) instead of asking
        DNS servers directly
    :param sslcontext: TLS settings to use instead of the default, which verifies certificates
        against the system's CA store (or ``cafile``)
    :param interface: one of the ``I_*`` interfaces
    :param replica_fqdn: the host name of the same namespace on the replica system
    :param replica_strategy: the ``RS_*`` flags, or'ed, saying when the replica is used
    :param resolver: a DNS server as ``"host"`` or ``"host:port"`` to resolve names with
    :param cafile: a PEM file of CA certificates to trust instead of the system's
    :param verify: False turns certificate checking off (a warning is logged once)
    :param tls: force TLS on or off, regardless of the port
    :param replica_port: the port of the replica system, if it differs from ``port``
    :param avoid_time: seconds a failed node is avoided
    :param refresh_time: seconds between two lookups of the node addresses
    :param pool_maxsize: connections kept open to one node at most
    :param reap_interval: if given, a background thread closes idle pools this often
    :param lookup: replaces DNS: a function from host name to addresses
    :param pool_factory: builds the pool for one node (tests give fakes)
    :param clock: the monotonic clock used for idle, avoidance and refresh periods
    :raises ips.IpsError: when the name cannot be resolved
    :raises HcpsdkReplicaInitError: when the replica target cannot be set up
    """

    def __init__(  # noqa: PLR0917  # positional order kept from the original hcpsdk API
        self,
        fqdn: str,
        authorization: BaseAuthorization,
        port: int = P_HTTPS,
        dnscache: bool = False,
        sslcontext: SSLContext | None = None,
        interface: str = I_NATIVE,
        replica_fqdn: str | None = None,
        replica_strategy: int | None = None,
        *,
        resolver: str | None = None,
        cafile: str | None = None,
        verify: bool = True,
        tls: bool | None = None,
        replica_port: int | None = None,
        avoid_time: float = 30.0,
        refresh_time: float = 60.0,
        pool_maxsize: int = POOL_MAXSIZE,
        reap_interval: float | None = None,
        lookup: ips.Lookup | None = None,
        pool_factory: PoolFactory | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fqdn = fqdn
        self._authorization = authorization
        self._port = port
        self._interface = interface
        self._ssl = port in TLS_PORTS if tls is None else tls
        self._sslcontext, self._verify = self._tls_settings(sslcontext, cafile, verify)
        self._replica_strategy = replica_strategy or 0
        self._pool_maxsize = pool_maxsize
        self._pool_factory: PoolFactory = pool_factory or Urllib3Pool
        self._clock = clock
        self._slots: dict[tuple[str, tuple[SocketOption, ...]], _Slot] = {}
        self._lock = threading.Lock()
        self._reap_interval = reap_interval
        self._reaper: threading.Thread | None = None
        self._closing = threading.Event()
        self.circle = ips.Circle(
            fqdn,
            port,
            dnscache,
            resolver,
            refresh=refresh_time,
            avoid=avoid_time,
            lookup=lookup,
            clock=clock,
        )
        self._replica: Target | None = None
        if replica_fqdn:
            try:
                self._replica = Target(
                    replica_fqdn,
                    authorization,
                    replica_port or port,
                    dnscache,
                    sslcontext,
                    interface,
                    resolver=resolver,
                    cafile=cafile,
                    verify=verify,
                    tls=tls,
                    avoid_time=avoid_time,
                    refresh_time=refresh_time,
                    pool_maxsize=pool_maxsize,
                    reap_interval=reap_interval,
                    lookup=lookup,
                    pool_factory=pool_factory,
                    clock=clock,
                )
            except HcpsdkError as exc:
                raise HcpsdkReplicaInitError(
                    f"cannot set up the replica {replica_fqdn}: {exc.reason}"
                ) from exc
        log.debug("target %s:%d ready, TLS %s, nodes %s", fqdn, port, self._ssl, self.addresses)

    def _tls_settings(
        self, sslcontext: SSLContext | None, cafile: str | None, verify: bool
    ) -> tuple[SSLContext | None, bool]:
        if not self._ssl:
            return None, False
        context = sslcontext or default_ssl_context(cafile, verify)
        verifying = context.verify_mode != CERT_NONE
        if not verifying:
            _warn_insecure(self._fqdn, self._port)
        return context, verifying

    @property
    def fqdn(self) -> str:
        """The host name this target was made for."""
        return self._fqdn

    @property
    def port(self) -> int:
        """The TCP port."""
        return self._port

    @property
    def ssl(self) -> bool:
        """Whether requests use TLS."""
        return self._ssl

    @property
    def sslcontext(self) -> SSLContext | None:
        """The TLS settings in use (None without TLS)."""
        return self._sslcontext

    @property
    def verify(self) -> bool:
        """Whether certificates are checked."""
        return self._verify

    @property
    def interface(self) -> str:
        """The ``I_*`` interface this target was made for."""
        return self._interface

    @property
    def addresses(self) -> list[str]:
        """The node addresses currently known."""
        return self.circle.addresses

    @property
    def headers(self) -> dict[str, str]:
        """The headers every request carries: ``Host`` and the authorization."""
        return {"Host": self._fqdn, **self._authorization.headers}

    @property
    def replica(self) -> Target | None:
        """The target for the replica system, or None."""
        return self._replica

    @property
    def replica_strategy(self) -> int:
        """The ``RS_*`` flags in use (0 when the replica is never used)."""
        return self._replica_strategy

    def getaddr(self) -> str:
        """Return the next node address in turn, skipping nodes marked down."""
        return self.circle._addr()

    def mark_down(self, address: str) -> None:
        """Avoid a node for a while after it failed.

        :param address: the node address
        """
        self.circle.mark_down(address)

    def node_pool(
        self, address: str, socket_options: tuple[SocketOption, ...], idletime: float
    ) -> NodePool:
        """Return the pool for a node, replacing it first if it was idle too long.

        An idle pool's connections may have been closed by HCP already; replacing the pool
        drops them instead of finding out on the next request.

        :param address: the node address
        :param socket_options: extra socket options; pools differ by them
        :param idletime: seconds the pool may stay unused before it is replaced
        """
        key = (address, socket_options)
        stale: NodePool | None = None
        with self._lock:
            now = self._clock()
            slot = self._slots.get(key)
            if slot is not None and now - slot.last_used > slot.idletime:
                stale, slot = slot.pool, None
            if slot is None:
                slot = _Slot(self._new_pool(address, socket_options), now, idletime)
                self._slots[key] = slot
            slot.last_used, slot.idletime = now, idletime
            self._start_reaper()
        if stale is not None:
            log.debug("closing the connections to %s, idle for over %.0f s", address, idletime)
            stale.close()
        return slot.pool

    def touch(self, address: str, socket_options: tuple[SocketOption, ...]) -> None:
        """Record that a node's pool was used just now (a response was read to its end).

        :param address: the node address
        :param socket_options: the socket options the pool was made with
        """
        with self._lock:
            slot = self._slots.get((address, socket_options))
            if slot is not None:
                slot.last_used = self._clock()

    def reap(self) -> int:
        """Close the pools that have been idle longer than their idle time.

        :return: the number of pools closed
        """
        with self._lock:
            now = self._clock()
            stale = [k for k, s in self._slots.items() if now - s.last_used > s.idletime]
            pools = [self._slots.pop(key).pool for key in stale]
        for pool in pools:
            pool.close()
        return len(pools)

    def close(self) -> None:
        """Stop the reaper and close every pool, the replica's too."""
        self._closing.set()
        reaper = self._reaper
        if reaper is not None:
            reaper.join(timeout=5.0)
        with self._lock:
            pools = [slot.pool for slot in self._slots.values()]
            self._slots.clear()
        for pool in pools:
            pool.close()
        if self._replica is not None:
            self._replica.close()

    def __enter__(self) -> Target:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"Target({self._fqdn!r}, {self._authorization!r}, port={self._port}, "
            f"ssl={self._ssl}, replica={self._replica!r})"
        )

    def _new_pool(self, address: str, socket_options: tuple[SocketOption, ...]) -> NodePool:
        spec = PoolSpec(
            address=address,
            port=self._port,
            fqdn=self._fqdn,
            tls=self._ssl,
            ssl_context=self._sslcontext,
            verify=self._verify,
            socket_options=socket_options,
            maxsize=self._pool_maxsize,
        )
        return self._pool_factory(spec)

    def _start_reaper(self) -> None:
        # Called with the lock held: at most one reaper per target, started on first use.
        if self._reap_interval is None or self._reaper is not None or self._closing.is_set():
            return
        self._reaper = threading.Thread(
            target=self._reap_until_closed, name=f"hcpfs-reaper-{self._fqdn}", daemon=True
        )
        self._reaper.start()

    def _reap_until_closed(self) -> None:
        assert self._reap_interval is not None
        while not self._closing.wait(self._reap_interval):
            closed = self.reap()
            if closed:
                log.debug("closed %d idle pools of %s", closed, self._fqdn)


def checkport(target: Target, port: int) -> None:
    """Make sure ``target`` was set up for ``port``.

    :param target: the target to check
    :param port: the port the caller needs
    :raises HcpsdkPortError: when the target uses another port
    """
    if target.port != port:
        raise HcpsdkPortError(f"{target.fqdn} uses port {target.port}, not {port}")


def _warn_insecure(fqdn: str, port: int) -> None:
    with _insecure_lock:
        if (fqdn, port) in _insecure_warned:
            return
        _insecure_warned.add((fqdn, port))
    log.warning("TLS certificates of %s:%d are NOT verified", fqdn, port)
