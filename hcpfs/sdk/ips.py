"""Name resolution and the round robin over a system's node addresses.

HCP balances load by DNS round robin over its nodes, so a client that caches a single address
keeps hitting one node. :func:`query` therefore asks DNS servers directly (with dnspython, no
local cache) unless told to use the system resolver, and :class:`Circle` hands out the
addresses in turn, skips nodes that failed recently and re-reads DNS from time to time.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import threading
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field

import dns.exception
import dns.resolver

from hcpfs.sdk.errors import HcpsdkError

log = logging.getLogger(__name__)

#: Seconds a DNS query may take, all retries included.
DNS_LIFETIME = 5.0

#: Resolves a host name into addresses, raising :class:`IpsError` when it cannot.
Lookup = Callable[[str], Sequence[str]]


class IpsError(HcpsdkError):
    """A name could not be resolved into at least one address."""


@dataclass(frozen=True)
class Response:
    """The outcome of one :func:`query`.

    :param fqdn: the name that was resolved
    :param cache: True if the system resolver (which may cache) was used
    :param ips: the addresses found, in the order the resolver gave them
    :param raised: empty, or the message of the error that stopped the resolution
    """

    fqdn: str
    cache: bool
    ips: list[str] = field(default_factory=list)
    raised: str = ""


def query(
    fqdn: str, cache: bool = False, resolver: str | None = None, *, lifetime: float = DNS_LIFETIME
) -> Response:
    """Resolve ``fqdn`` into its IPv4 addresses (IPv6 when it has no IPv4 address).

    Errors do not raise; they are reported in :attr:`Response.raised`.

    :param fqdn: the host name; an IP address is returned as it is
    :param cache: use the system resolver (``getaddrinfo``) instead of querying DNS directly
    :param resolver: a DNS server as ``"host"`` or ``"host:port"`` (``"[v6]:port"``) to ask
        instead of the ones in ``/etc/resolv.conf``; it takes precedence over ``cache``
    :param lifetime: seconds the DNS query may take
    """
    use_system = cache and resolver is None
    try:
        if _is_address(fqdn):
            found = [fqdn]
        elif use_system:
            found = _system_lookup(fqdn)
        else:
            found = _dns_lookup(fqdn, resolver, lifetime)
    except (OSError, ValueError, dns.exception.DNSException) as exc:
        return Response(fqdn, use_system, [], str(exc) or type(exc).__name__)
    if not found:
        return Response(fqdn, use_system, [], f"no address for {fqdn}")
    return Response(fqdn, use_system, found)


def resolve(fqdn: str, cache: bool = False, resolver: str | None = None) -> list[str]:
    """Like :func:`query`, but return the addresses and raise :class:`IpsError` on failure.

    :param fqdn: the host name
    :param cache: use the system resolver
    :param resolver: a DNS server address, see :func:`query`
    :raises IpsError: when no address was found
    """
    answer = query(fqdn, cache=cache, resolver=resolver)
    if answer.raised:
        raise IpsError(f"cannot resolve {fqdn}: {answer.raised}")
    return answer.ips


def parse_server(server: str) -> tuple[str, int]:
    """Split ``"host"``, ``"host:port"`` or ``"[v6]:port"`` into host and port (default 53).

    :param server: the DNS server address
    :raises ValueError: when the port is not a number
    """
    if server.startswith("["):
        host, _, rest = server[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") else 53
    if server.count(":") == 1:
        host, _, port = server.partition(":")
        return host, int(port)
    return server, 53


def _is_address(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def _system_lookup(fqdn: str) -> list[str]:
    found: list[str] = []
    for _family, _type, _proto, _name, sockaddr in socket.getaddrinfo(
        fqdn, None, type=socket.SOCK_STREAM
    ):
        address = str(sockaddr[0])
        if address not in found:
            found.append(address)
    return found


def _dns_lookup(fqdn: str, server: str | None, lifetime: float) -> list[str]:
    if server is None:
        dns_resolver = dns.resolver.Resolver(configure=True)
    else:
        host, port = parse_server(server)
        dns_resolver = dns.resolver.Resolver(configure=False)
        dns_resolver.nameservers = [host]
        dns_resolver.port = port
    dns_resolver.lifetime = lifetime
    for rdtype in ("A", "AAAA"):
        answer = dns_resolver.resolve(fqdn, rdtype, search=False, raise_on_no_answer=False)
        if answer.rrset is not None:
            return [str(rdata.address) for rdata in answer.rrset]
    return []


class Circle:
    """The addresses of one system's nodes, handed out in turn.

    A node reported with :meth:`mark_down` is skipped for ``avoid`` seconds; the address list
    is looked up again every ``refresh`` seconds and soon after a node failed. If every node is
    marked down, they are handed out anyway (the one that failed longest ago first): a system
    that is down entirely must still be tried.

    :param fqdn: the name of the system (a namespace or ``admin`` host name)
    :param port: the port the addresses are used with (for messages only)
    :param dnscache: use the system resolver instead of querying DNS directly
    :param resolver: a DNS server to ask, see :func:`query`
    :param refresh: seconds between two lookups of the address list
    :param avoid: seconds a node is skipped after it failed
    :param lookup: replaces DNS entirely: a function from name to addresses
    :param clock: the monotonic clock to measure those periods with
    :raises IpsError: when the name cannot be resolved at all
    """

    def __init__(
        self,
        fqdn: str,
        port: int = 443,
        dnscache: bool = False,
        resolver: str | None = None,
        *,
        refresh: float = 60.0,
        avoid: float = 30.0,
        lookup: Lookup | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.fqdn = fqdn
        self.port = port
        self._refresh_period = refresh
        self._avoid_period = avoid
        self._clock = clock
        self._lookup = lookup or (lambda name: resolve(name, dnscache, resolver))
        self._lock = threading.Lock()
        self._addresses = self._checked_lookup()
        self._down_until: dict[str, float] = {}
        self._turn = 0
        self._next_refresh = clock() + refresh

    @property
    def addresses(self) -> list[str]:
        """The node addresses currently known."""
        with self._lock:
            return list(self._addresses)

    def pick(self, exclude: Collection[str] = ()) -> str | None:
        """Return the next address in turn, skipping nodes marked down and ``exclude``.

        :param exclude: addresses not to return (e.g. nodes this request already tried)
        :return: an address, or None if every address is in ``exclude``
        """
        self._refresh_if_due()
        with self._lock:
            now = self._clock()
            candidates = [a for a in self._rotation() if a not in exclude]
            healthy = [a for a in candidates if self._down_until.get(a, 0.0) <= now]
            if healthy:
                chosen = healthy[0]
            elif candidates:
                chosen = min(candidates, key=lambda a: self._down_until.get(a, 0.0))
            else:
                return None
            self._turn = self._addresses.index(chosen) + 1
            return chosen

    def _addr(self) -> str:
        """Return the next address (the name the original hcpsdk used)."""
        address = self.pick()
        assert address is not None, "a circle always has at least one address"
        return address

    def healthy(self) -> list[str]:
        """The addresses not marked down right now."""
        with self._lock:
            now = self._clock()
            return [a for a in self._addresses if self._down_until.get(a, 0.0) <= now]

    def is_down(self, address: str) -> bool:
        """Tell whether ``address`` is being avoided right now.

        :param address: a node address
        """
        with self._lock:
            return self._down_until.get(address, 0.0) > self._clock()

    def mark_down(self, address: str) -> None:
        """Avoid ``address`` for a while and look the address list up again soon.

        :param address: the node that failed
        """
        with self._lock:
            self._down_until[address] = self._clock() + self._avoid_period
            self._next_refresh = self._clock()
        log.warning("node %s of %s marked down for %.0f s", address, self.fqdn, self._avoid_period)

    def refresh(self) -> None:
        """Look the address list up now; on failure keep the old list.

        Nodes marked down stay marked down if their address is still in the list.
        """
        with self._lock:
            self._next_refresh = self._clock() + self._refresh_period
        self._install_fresh_list()

    def _refresh_if_due(self) -> None:
        # The thread that finds the refresh due moves the deadline before it looks up, so
        # concurrent callers keep using the current list instead of all querying DNS.
        with self._lock:
            now = self._clock()
            if now < self._next_refresh:
                return
            self._next_refresh = now + self._refresh_period
        self._install_fresh_list()

    def _install_fresh_list(self) -> None:
        try:
            fresh = self._checked_lookup()
        except IpsError as exc:
            log.warning("keeping the addresses of %s: %s", self.fqdn, exc)
            return
        with self._lock:
            if fresh != self._addresses:
                log.debug("addresses of %s are now %s", self.fqdn, ", ".join(fresh))
            self._addresses = fresh
            self._down_until = {a: t for a, t in self._down_until.items() if a in fresh}

    def _rotation(self) -> list[str]:
        start = self._turn % len(self._addresses)
        return self._addresses[start:] + self._addresses[:start]

    def _checked_lookup(self) -> list[str]:
        found = list(dict.fromkeys(self._lookup(self.fqdn)))
        if not found:
            raise IpsError(f"no address for {self.fqdn}")
        return found
