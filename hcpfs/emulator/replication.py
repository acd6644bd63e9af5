"""Replication between two emulated HCP systems: links, their state machine and the data flow.

One :class:`Link` object joins two systems; each system looks at it through
:meth:`Link.view`, which tells the link type (``ACTIVE_ACTIVE``, or ``OUTBOUND`` on the primary
and ``INBOUND`` on the replica of an active/passive link), the settings as that side names them,
the status and the statistics. The store queues one :class:`ReplicationItem` per change on the
link (:meth:`Link.enqueue`); a :class:`Replicator` thread copies each item once it is older
than the configured delay and the link carries data in its direction. :class:`Topology` holds
the systems and links of one emulator and runs a replicator per link.

Link states (``suspended`` is a flag on top of the state, not a state of its own)::

    normal --failOver--> failed over --beginRecovery--> recovering
       ^                      |                             |
       +------failBack--------+ (A/A)         completeRecovery (A/P)
       |                                                    v
       +---- backlog toward the primary empty ---- completing recovery

Decision on suspended links: ``suspend``, ``resume``, ``restore`` and ``failOver`` are accepted
whatever the link's health, because failing over is how an administrator reacts to a link that
no longer works. ``failBack``, ``beginRecovery`` and ``completeRecovery`` start moving data
again, so they are refused on a suspended link until it is resumed. ``suspend`` on a suspended
link and ``resume`` on a running one are refused too, so that a script learns its view of the
link is stale.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum

log = logging.getLogger(__name__)

DEFAULT_PORT = 5748
MAX_LINK_NAME = 64
MAX_SHUTDOWN_REASON = 1024
# Rates are averaged over this many seconds of recent activity.
RATE_WINDOW_SECONDS = 10.0

Clock = Callable[[], float]


class ReplicationError(Exception):
    """Base of this module's errors; the message is fit for ``X-HCP-ErrorMessage``."""


class InvalidActionError(ReplicationError):
    """An action is not valid for the link's type, the side issuing it or the link's state."""


class InvalidSettingError(ReplicationError):
    """A setting has a value HCP does not accept."""


class LinkExistsError(ReplicationError):
    """A link by that name (compared case-insensitively) is already in the topology."""


class NotFoundError(ReplicationError):
    """No such link, tenant or system."""


class LinkType(Enum):
    """The type of a link as one side sees it."""

    ACTIVE_ACTIVE = "ACTIVE_ACTIVE"
    OUTBOUND = "OUTBOUND"
    INBOUND = "INBOUND"


class LinkState(Enum):
    """Where a link is in the failover cycle."""

    NORMAL = "normal"
    FAILED_OVER = "failed over"
    RECOVERING = "recovering"
    COMPLETING_RECOVERY = "completing recovery"


class Action(Enum):
    """The actions ``POST .../links/<name>?<action>`` accepts."""

    SUSPEND = "suspend"
    RESUME = "resume"
    RESTORE = "restore"
    FAIL_OVER = "failOver"
    FAIL_BACK = "failBack"
    BEGIN_RECOVERY = "beginRecovery"
    COMPLETE_RECOVERY = "completeRecovery"

    @classmethod
    def parse(cls, name: str) -> Action | None:
        """Return the action a query parameter names, or None.

        :param name: the parameter, case-sensitive; both ``beginRecovery`` and the 9.x spelling
            ``beginRecover`` are accepted
        """
        if name == "beginRecover":
            return cls.BEGIN_RECOVERY
        try:
            return cls(name)
        except ValueError:
            return None


class Priority(Enum):
    """The order in which a link sends pending changes."""

    OLDEST_FIRST = "OLDEST_FIRST"
    FAIR = "FAIR"


class Status(Enum):
    """Health of a link."""

    GOOD = "GOOD"
    WARNING = "WARNING"
    BAD = "BAD"


class ServiceStatus(Enum):
    """Whether a system's replication service runs its links."""

    ENABLED = "ENABLED"
    SHUTDOWN = "SHUTDOWN"


class Verification(Enum):
    """The replication service's verification setting."""

    ON = "ON"
    ONCE = "ONCE"
    OFF = "OFF"


class TenantStatus(Enum):
    """Whether a tenant's changes flow on a link."""

    REPLICATING = "REPLICATING"
    PAUSED = "PAUSED"


_STATE_STATUS = {
    LinkState.NORMAL: (Status.GOOD, "Synchronizing data"),
    LinkState.FAILED_OVER: (Status.WARNING, "Failed over"),
    LinkState.RECOVERING: (Status.GOOD, "Recovering data"),
    LinkState.COMPLETING_RECOVERY: (Status.GOOD, "Completing recovery"),
}


@dataclass(frozen=True)
class SystemEndpoint:
    """One HCP system of the topology.

    :param name: the emulator's name for the system (``primary``, ``replica``, ...)
    :param domain: the system's domain, e.g. ``hcp-a.example.com``
    :param hosts: the addresses of its nodes
    """

    name: str
    domain: str
    hosts: tuple[str, ...] = ()

    @property
    def replication_host(self) -> str:
        """The name other systems use to reach this one's replication service."""
        return f"replication.{self.domain}"

    def answers_to(self, remote_host: str) -> bool:
        """Tell whether a link's ``remoteHost`` designates this system.

        :param remote_host: ``replication.<domain>``, ``replication.admin.<domain>`` or a
            comma-separated list of node addresses
        """
        wanted = remote_host.strip().lower().rstrip(".")
        domain = self.domain.lower()
        if wanted in (f"replication.{domain}", f"replication.admin.{domain}"):
            return True
        addresses = {part.strip() for part in remote_host.split(",") if part.strip()}
        return bool(addresses) and addresses <= set(self.hosts)


@dataclass(frozen=True)
class FailoverSettings:
    """Automatic failover settings of one side of a link.

    The emulator stores and reports them; it never fails over or completes a recovery on its own
    because of them (a test would have to wait minutes).

    :raises InvalidSettingError: for minutes outside HCP's ranges
    """

    auto_failover: bool = False
    auto_failover_minutes: int = 120
    auto_complete_recovery: bool = False
    auto_complete_recovery_minutes: int = 120

    def __post_init__(self) -> None:
        if not 7 <= self.auto_failover_minutes <= 9999:
            raise InvalidSettingError("autoFailoverMinutes must be between 7 and 9999")
        if not 1 <= self.auto_complete_recovery_minutes <= 9999:
            raise InvalidSettingError("autoCompleteRecoveryMinutes must be between 1 and 9999")


@dataclass(frozen=True)
class Connection:
    """Where a side of a link listens and what it connects to."""

    local_host: str
    local_port: int
    remote_host: str
    remote_port: int


@dataclass(frozen=True)
class LinkStatistics:
    """The ``statistics`` of a link as one side reports them."""

    up_to_date_millis: int
    bytes_pending: int
    bytes_pending_remote: int
    bytes_replicated: int
    bytes_per_second: float
    objects_pending: int
    objects_pending_remote: int
    objects_replicated: int
    operations_per_second: float
    errors: int
    errors_per_second: float
    # The emulator does not verify replicated content, so these stay 0.
    objects_verified: int = 0
    objects_replicated_after_verification: int = 0


@dataclass(frozen=True)
class LinkView:
    """A snapshot of a link as one system sees it."""

    id: str
    name: str
    type: LinkType
    description: str
    priority: Priority
    compression: bool
    encryption: bool
    connection: Connection
    failover_local: FailoverSettings | None
    failover_remote: FailoverSettings | None
    state: LinkState
    suspended: bool
    status: Status
    status_message: str
    statistics: LinkStatistics
    writable: bool


@dataclass(frozen=True)
class TenantView:
    """A tenant's replication on a link as one system sees it."""

    name: str
    status: TenantStatus
    up_to_date_millis: int
    objects_pending: int
    bytes_pending: int
    objects_pending_remote: int
    bytes_pending_remote: int


@dataclass(frozen=True)
class LinkUpdate:
    """Settings to change on a link, named as the side making the change sees them.

    ``None`` leaves a setting alone. ``failover_local`` and ``failover_remote`` hold only the
    ``FailoverSettings`` fields to change.
    """

    type: LinkType | None = None
    description: str | None = None
    priority: Priority | None = None
    compression: bool | None = None
    encryption: bool | None = None
    local_host: str | None = None
    local_port: int | None = None
    remote_host: str | None = None
    remote_port: int | None = None
    failover_local: Mapping[str, bool | int] | None = None
    failover_remote: Mapping[str, bool | int] | None = None


@dataclass(frozen=True)
class ReplicationItem:
    """One change the store wants copied to the other system.

    :param key: whatever lets the store recognise the change when it is reported done
    :param size: bytes the change carries (0 for a delete or a metadata change)
    :param copy: applies the change on the other system; an exception means "retry later"
    :param tenant: the tenant the change belongs to; pausing that tenant holds the change
    """

    key: str
    size: int
    copy: Callable[[], object]
    tenant: str = ""


@dataclass(eq=False)
class PendingChange:
    """An item waiting on a link, with the time it was queued and when it may be retried."""

    item: ReplicationItem
    queued_at: float
    retry_at: float = 0.0


@dataclass
class _Lane:
    """The changes leaving one system, and what has become of earlier ones."""

    pending: list[PendingChange] = field(default_factory=list)
    objects_replicated: int = 0
    bytes_replicated: int = 0
    errors: int = 0
    recent: deque[tuple[float, int]] = field(default_factory=deque)
    recent_errors: deque[float] = field(default_factory=deque)

    def forget_before(self, horizon: float) -> None:
        while self.recent and self.recent[0][0] < horizon:
            self.recent.popleft()
        while self.recent_errors and self.recent_errors[0] < horizon:
            self.recent_errors.popleft()

    def pending_of(self, tenant: str | None) -> list[PendingChange]:
        return [c for c in self.pending if tenant is None or c.item.tenant == tenant]


def _check_name(name: str) -> str:
    if not name.strip() or len(name) > MAX_LINK_NAME:
        raise InvalidSettingError(f"a link name must have 1 to {MAX_LINK_NAME} characters")
    return name


def _check_port(port: int) -> int:
    if not 1 <= port <= 65535:
        raise InvalidSettingError(f"port {port} is not between 1 and 65535")
    return port


class Link:
    """A replication link between two systems; one object serves both sides.

    :param name: 1 to 64 characters, compared case-insensitively
    :param local: the system that creates the link
    :param remote: the other system
    :param link_type: the type as ``local`` sees it: ``OUTBOUND`` makes ``local`` the primary
        of an active/passive link, ``INBOUND`` makes it the replica
    :param completion_timeout: seconds after which "completing recovery" ends even if changes
        toward the primary are still pending; None waits for the backlog to drain
    :param clock: wall-clock time in seconds; tests pass a fake one
    """

    def __init__(
        self,
        name: str,
        local: SystemEndpoint,
        remote: SystemEndpoint,
        link_type: LinkType,
        *,
        description: str = "",
        priority: Priority = Priority.OLDEST_FIRST,
        compression: bool = False,
        encryption: bool = False,
        completion_timeout: float | None = None,
        clock: Clock = time.time,
    ) -> None:
        if local.name == remote.name:
            raise InvalidSettingError("a link must join two different systems")
        self._lock = threading.RLock()
        self._clock = clock
        self._id = str(uuid.uuid4())
        self._name = _check_name(name)
        self._ends = {local.name: local, remote.name: remote}
        self._order = (local.name, remote.name)
        self._primary: str | None = None
        self._set_type(local.name, link_type)
        self.description = description
        self.priority = priority
        self.compression = compression
        self.encryption = encryption
        self.completion_timeout = completion_timeout
        self._local_hosts = {s.name: ", ".join(s.hosts) for s in (local, remote)}
        self._remote_hosts = {
            local.name: remote.replication_host,
            remote.name: local.replication_host,
        }
        self._ports = {local.name: DEFAULT_PORT, remote.name: DEFAULT_PORT}
        self._failover = {local.name: FailoverSettings(), remote.name: FailoverSettings()}
        self._state = LinkState.NORMAL
        self._state_since = clock()
        self._survivor: str | None = None
        self._suspended = False
        self._broken = False
        self._lanes = {local.name: _Lane(), remote.name: _Lane()}
        self._tenants: dict[str, TenantStatus] = {}

    def __repr__(self) -> str:
        return f"Link({self._name!r}, {self._order[0]!r}<->{self._order[1]!r})"

    @property
    def id(self) -> str:
        """The link's uuid."""
        return self._id

    @property
    def name(self) -> str:
        """The link's name as it was given."""
        return self._name

    @property
    def systems(self) -> tuple[str, str]:
        """The names of the two systems, the creating one first."""
        return self._order

    @property
    def active_active(self) -> bool:
        """True for an active/active link."""
        return self._primary is None

    @property
    def primary(self) -> str | None:
        """The primary of an active/passive link, None on an active/active one."""
        return self._primary

    @property
    def replica(self) -> str | None:
        """The replica of an active/passive link, None on an active/active one."""
        return None if self._primary is None else self.other(self._primary)

    @property
    def state(self) -> LinkState:
        """The link's state."""
        with self._lock:
            return self._state

    @property
    def suspended(self) -> bool:
        """Whether the link is suspended (by ``suspend`` or a service shutdown)."""
        with self._lock:
            return self._suspended

    def involves(self, system: str) -> bool:
        """Tell whether ``system`` is one of the link's two systems."""
        return system in self._ends

    def other(self, system: str) -> str:
        """Return the name of the system at the other end from ``system``."""
        self._check_side(system)
        first, second = self._order
        return second if system == first else first

    def type_for(self, system: str) -> LinkType:
        """Return the link type as ``system`` sees it."""
        if self._primary is None:
            return LinkType.ACTIVE_ACTIVE
        return LinkType.OUTBOUND if system == self._primary else LinkType.INBOUND

    # -- state machine -------------------------------------------------------------------

    def apply(self, action: Action, system: str) -> None:
        """Carry out ``action`` issued on ``system``.

        :param action: what the administrator asked for
        :param system: the system the request was sent to
        :raises InvalidActionError: when the action is not valid for the link's type, that
            side or the link's state; the message says why
        """
        self._check_side(system)
        steps: dict[Action, Callable[[str], None]] = {
            Action.SUSPEND: self._suspend,
            Action.RESUME: self._resume,
            Action.RESTORE: self._restore,
            Action.FAIL_OVER: self._fail_over,
            Action.FAIL_BACK: self._fail_back,
            Action.BEGIN_RECOVERY: self._begin_recovery,
            Action.COMPLETE_RECOVERY: self._complete_recovery,
        }
        with self._lock:
            steps[action](system)
            log.info(
                "link %s: %s on %s, now %s", self._name, action.value, system, self._state.value
            )

    def set_suspended(self, suspended: bool) -> None:
        """Suspend or resume without the checks of ``apply``, as a service shutdown does."""
        with self._lock:
            self._suspended = suspended

    def break_link(self) -> None:
        """Mark the link broken, as when the other system is lost; ``restore`` repairs it."""
        with self._lock:
            self._broken = True

    def finish_recovery(self) -> None:
        """End "completing recovery" now: the primary becomes read-write again.

        :raises InvalidActionError: when the link is not completing a recovery
        """
        with self._lock:
            if self._state is not LinkState.COMPLETING_RECOVERY:
                raise InvalidActionError(f"link {self._name} is not completing a recovery")
            self._enter(LinkState.NORMAL)
            log.info("link %s: recovery complete", self._name)

    def settle(self) -> bool:
        """End "completing recovery" once nothing is pending toward the primary or the
        completion timeout has passed; the replicator calls this after every pass.

        :returns: True when the recovery was completed by this call
        """
        with self._lock:
            if self._state is not LinkState.COMPLETING_RECOVERY:
                return False
            replica = self.replica
            assert replica is not None
            drained = not self._lanes[replica].pending
            timeout = self.completion_timeout
            expired = timeout is not None and self._clock() - self._state_since >= timeout
            if drained or expired:
                self.finish_recovery()
                return True
            return False

    def writable(self, system: str) -> bool:
        """Tell whether clients may write replicated namespaces on ``system`` now.

        :param system: one of the link's systems
        """
        self._check_side(system)
        with self._lock:
            if self._primary is None:
                return self._state is LinkState.NORMAL or system == self._survivor
            if system == self._primary:
                return self._state is LinkState.NORMAL
            return self._state in (LinkState.FAILED_OVER, LinkState.RECOVERING)

    def carries(self, source: str) -> bool:
        """Tell whether changes leaving ``source`` flow on the link now.

        :param source: one of the link's systems
        """
        self._check_side(source)
        with self._lock:
            if self._suspended or self._broken:
                return False
            if self._primary is None:
                return self._state is LinkState.NORMAL
            if self._state is LinkState.NORMAL:
                return source == self._primary
            recovering = (LinkState.RECOVERING, LinkState.COMPLETING_RECOVERY)
            return self._state in recovering and source != self._primary

    def _suspend(self, system: str) -> None:
        if self._suspended:
            raise InvalidActionError(f"link {self._name} is already suspended")
        self._suspended = True

    def _resume(self, system: str) -> None:
        if not self._suspended:
            raise InvalidActionError(f"link {self._name} is not suspended")
        self._suspended = False

    def _restore(self, system: str) -> None:
        # Valid in every state: it re-creates the connection and leaves the failover cycle alone.
        self._broken = False

    def _fail_over(self, system: str) -> None:
        if self._primary == system:
            raise InvalidActionError(
                f"failOver on active/passive link {self._name} must be sent to the replica"
            )
        if self._state is not LinkState.NORMAL:
            raise InvalidActionError(
                f"link {self._name} cannot fail over while {self._state.value}"
            )
        self._survivor = system
        self._enter(LinkState.FAILED_OVER)

    def _fail_back(self, system: str) -> None:
        if self._primary is not None:
            raise InvalidActionError(
                f"failBack is valid on active/active links only; link {self._name} is "
                "active/passive: use beginRecovery and completeRecovery"
            )
        self._require_running(Action.FAIL_BACK)
        if self._state is not LinkState.FAILED_OVER:
            raise InvalidActionError(f"link {self._name} is not failed over")
        self._survivor = None
        self._enter(LinkState.NORMAL)

    def _begin_recovery(self, system: str) -> None:
        self._require_replica(Action.BEGIN_RECOVERY, system)
        self._require_running(Action.BEGIN_RECOVERY)
        if self._state is not LinkState.FAILED_OVER:
            raise InvalidActionError(
                f"beginRecovery needs a failed-over link; link {self._name} is {self._state.value}"
            )
        self._enter(LinkState.RECOVERING)

    def _complete_recovery(self, system: str) -> None:
        self._require_replica(Action.COMPLETE_RECOVERY, system)
        self._require_running(Action.COMPLETE_RECOVERY)
        if self._state is not LinkState.RECOVERING:
            raise InvalidActionError(
                f"completeRecovery needs a recovering link (send beginRecovery first); "
                f"link {self._name} is {self._state.value}"
            )
        self._enter(LinkState.COMPLETING_RECOVERY)

    def _require_replica(self, action: Action, system: str) -> None:
        if self._primary is None:
            raise InvalidActionError(
                f"{action.value} is valid on active/passive links only; link {self._name} is "
                "active/active: use failBack"
            )
        if system == self._primary:
            raise InvalidActionError(
                f"{action.value} on link {self._name} must be sent to the replica"
            )

    def _require_running(self, action: Action) -> None:
        if self._suspended:
            raise InvalidActionError(
                f"link {self._name} is suspended; resume it before {action.value}"
            )

    def _enter(self, state: LinkState) -> None:
        self._state = state
        self._state_since = self._clock()

    # -- settings ------------------------------------------------------------------------

    def update(self, system: str, change: LinkUpdate) -> None:
        """Change settings as ``system`` names them; nothing changes if any value is refused.

        :param system: the side the request was sent to
        :param change: the settings to change
        :raises InvalidSettingError: for a refused value or type change
        """
        self._check_side(system)
        other = self.other(system)
        with self._lock:
            failover = self._changed_failover(system, other, change)
            ports = self._changed_ports(system, other, change)
            if change.type is not None:
                self._change_type(system, change.type)
            self._failover.update(failover)
            self._ports.update(ports)
            if change.local_host is not None:
                self._local_hosts[system] = change.local_host
            if change.remote_host is not None:
                self._remote_hosts[system] = change.remote_host
            self._update_plain(change)

    def _update_plain(self, change: LinkUpdate) -> None:
        if change.description is not None:
            self.description = change.description
        if change.priority is not None:
            self.priority = change.priority
        if change.compression is not None:
            self.compression = change.compression
        if change.encryption is not None:
            self.encryption = change.encryption

    def _changed_ports(self, system: str, other: str, change: LinkUpdate) -> dict[str, int]:
        ports = {}
        if change.local_port is not None:
            ports[system] = _check_port(change.local_port)
        if change.remote_port is not None:
            ports[other] = _check_port(change.remote_port)
        return ports

    def _changed_failover(
        self, system: str, other: str, change: LinkUpdate
    ) -> dict[str, FailoverSettings]:
        result = {}
        for side, fields in ((system, change.failover_local), (other, change.failover_remote)):
            if fields is None:
                continue
            if self._primary == side:
                raise InvalidSettingError(
                    f"the primary of active/passive link {self._name} has no failover settings"
                )
            recovery = {"auto_complete_recovery", "auto_complete_recovery_minutes"}
            if self._primary is None and recovery & set(fields):
                raise InvalidSettingError("autoCompleteRecovery applies to active/passive links")
            result[side] = _replace_failover(self._failover[side], fields)
        return result

    def _change_type(self, system: str, wanted: LinkType) -> None:
        if wanted is self.type_for(system):
            return
        if wanted is not LinkType.ACTIVE_ACTIVE:
            raise InvalidSettingError("a link's type can only change to ACTIVE_ACTIVE")
        if self._state is not LinkState.NORMAL:
            raise InvalidSettingError(f"link {self._name} is {self._state.value}")
        self._primary = None

    def _set_type(self, system: str, link_type: LinkType) -> None:
        if link_type is LinkType.OUTBOUND:
            self._primary = system
        elif link_type is LinkType.INBOUND:
            self._primary = self.other(system)

    def _check_side(self, system: str) -> None:
        if system not in self._ends:
            raise NotFoundError(f"system {system} is not part of link {self._name}")

    # -- data flow -----------------------------------------------------------------------

    def enqueue(self, source: str, item: ReplicationItem) -> None:
        """Queue a change made on ``source`` for the other system.

        :param source: the system where the change was made
        :param item: the change
        """
        self._check_side(source)
        with self._lock:
            self._lanes[source].pending.append(PendingChange(item, self._clock()))

    def pending(self, source: str | None = None) -> int:
        """Count the changes waiting to leave ``source`` (both directions when None)."""
        with self._lock:
            sources = self._order if source is None else (source,)
            return sum(len(self._lanes[s].pending) for s in sources)

    def ready(self, source: str, now: float, delay: float) -> list[PendingChange]:
        """Return, oldest first, the changes leaving ``source`` that may be copied now.

        A change is ready once it is ``delay`` seconds old and not waiting for a retry; a
        change of a paused tenant, or queued behind one of its tenant's that is not ready,
        waits so that each tenant's changes arrive in order.

        :param source: the system the changes leave
        :param now: the current time of the link's clock
        :param delay: the replication delay in seconds
        """
        with self._lock:
            if not self.carries(source):
                return []
            ready: list[PendingChange] = []
            held: set[str] = set()
            for change in self._lanes[source].pending:
                if change.queued_at + delay > now:
                    break
                tenant = change.item.tenant
                waiting = change.retry_at > now or self._tenants.get(tenant) is TenantStatus.PAUSED
                if tenant in held or waiting:
                    held.add(tenant)
                    continue
                ready.append(change)
            return ready

    def mark_copied(self, source: str, change: PendingChange) -> None:
        """Record that ``change`` reached the other system."""
        with self._lock:
            lane = self._lanes[source]
            lane.pending.remove(change)
            lane.objects_replicated += 1
            lane.bytes_replicated += change.item.size
            lane.recent.append((self._clock(), change.item.size))

    def mark_failed(self, source: str, change: PendingChange, retry_at: float) -> None:
        """Record a failed copy of ``change``; it stays queued until ``retry_at``."""
        with self._lock:
            lane = self._lanes[source]
            change.retry_at = retry_at
            lane.errors += 1
            lane.recent_errors.append(self._clock())

    # -- tenants -------------------------------------------------------------------------

    def add_tenant(self, tenant: str) -> None:
        """Replicate ``tenant`` on this link.

        :raises LinkExistsError: when the tenant is already on the link
        """
        with self._lock:
            if tenant in self._tenants:
                raise LinkExistsError(f"tenant {tenant} is already on link {self._name}")
            self._tenants[tenant] = TenantStatus.REPLICATING

    def remove_tenant(self, tenant: str) -> None:
        """Stop replicating ``tenant`` on this link."""
        with self._lock:
            self._tenant_status(tenant)
            del self._tenants[tenant]

    def tenants(self) -> list[str]:
        """The tenants on this link, sorted."""
        with self._lock:
            return sorted(self._tenants)

    def replicates(self, tenant: str) -> bool:
        """Tell whether changes of ``tenant`` should be queued on this link."""
        with self._lock:
            return tenant in self._tenants

    def pause_tenant(self, tenant: str, paused: bool = True) -> None:
        """Hold (or with ``paused=False`` release) the changes of ``tenant``."""
        with self._lock:
            self._tenant_status(tenant)
            self._tenants[tenant] = TenantStatus.PAUSED if paused else TenantStatus.REPLICATING

    def tenant_view(self, system: str, tenant: str) -> TenantView:
        """Return the replication status of ``tenant`` as ``system`` sees it."""
        self._check_side(system)
        with self._lock:
            status = self._tenant_status(tenant)
            out, incoming = self._pending_split(system, tenant)
            return TenantView(
                name=tenant,
                status=status,
                up_to_date_millis=self._up_to_date_millis(tenant),
                objects_pending=len(out),
                bytes_pending=sum(c.item.size for c in out),
                objects_pending_remote=len(incoming),
                bytes_pending_remote=sum(c.item.size for c in incoming),
            )

    def _tenant_status(self, tenant: str) -> TenantStatus:
        status = self._tenants.get(tenant)
        if status is None:
            raise NotFoundError(f"tenant {tenant} is not on link {self._name}")
        return status

    # -- views ---------------------------------------------------------------------------

    def view(self, system: str) -> LinkView:
        """Return a snapshot of the link as ``system`` sees it.

        :param system: one of the link's systems
        """
        self._check_side(system)
        other = self.other(system)
        with self._lock:
            status, message = self._status()
            return LinkView(
                id=self._id,
                name=self._name,
                type=self.type_for(system),
                description=self.description,
                priority=self.priority,
                compression=self.compression,
                encryption=self.encryption,
                connection=Connection(
                    self._local_hosts[system],
                    self._ports[system],
                    self._remote_hosts[system],
                    self._ports[other],
                ),
                failover_local=self._failover_of(system),
                failover_remote=self._failover_of(other),
                state=self._state,
                suspended=self._suspended,
                status=status,
                status_message=message,
                statistics=self._statistics(system),
                writable=self.writable(system),
            )

    def _failover_of(self, side: str) -> FailoverSettings | None:
        # On an active/passive link only the replica can take over, so only its settings exist.
        return None if side == self._primary else self._failover[side]

    def _status(self) -> tuple[Status, str]:
        if self._broken:
            return Status.BAD, "Broken link"
        if self._suspended:
            return Status.WARNING, "Suspended by user"
        return _STATE_STATUS[self._state]

    def _pending_split(
        self, system: str, tenant: str | None
    ) -> tuple[list[PendingChange], list[PendingChange]]:
        """Split pending changes into the local and the remote counters.

        Active/passive links report everything as local (the remote counters are always 0).
        """
        own = self._lanes[system].pending_of(tenant)
        theirs = self._lanes[self.other(system)].pending_of(tenant)
        if self._primary is None:
            return own, theirs
        return own + theirs, []

    def _up_to_date_millis(self, tenant: str | None) -> int:
        queued = [c.queued_at for lane in self._lanes.values() for c in lane.pending_of(tenant)]
        return int(min(queued, default=self._clock()) * 1000)

    def _statistics(self, system: str) -> LinkStatistics:
        now = self._clock()
        lanes = self._lanes.values()
        for lane in lanes:
            lane.forget_before(now - RATE_WINDOW_SECONDS)
        out, incoming = self._pending_split(system, None)
        recent_bytes = sum(size for lane in lanes for _, size in lane.recent)
        return LinkStatistics(
            up_to_date_millis=self._up_to_date_millis(None),
            bytes_pending=sum(c.item.size for c in out),
            bytes_pending_remote=sum(c.item.size for c in incoming),
            bytes_replicated=sum(lane.bytes_replicated for lane in lanes),
            bytes_per_second=recent_bytes / RATE_WINDOW_SECONDS,
            objects_pending=len(out),
            objects_pending_remote=len(incoming),
            objects_replicated=sum(lane.objects_replicated for lane in lanes),
            operations_per_second=sum(len(lane.recent) for lane in lanes) / RATE_WINDOW_SECONDS,
            errors=sum(lane.errors for lane in lanes),
            errors_per_second=sum(len(lane.recent_errors) for lane in lanes) / RATE_WINDOW_SECONDS,
        )


def _replace_failover(
    current: FailoverSettings, fields: Mapping[str, bool | int]
) -> FailoverSettings:
    known = {f.name for f in dataclasses.fields(FailoverSettings)}
    unknown = set(fields) - known
    if unknown:
        raise InvalidSettingError(f"unknown failover settings: {', '.join(sorted(unknown))}")
    return dataclasses.replace(current, **fields)  # type: ignore[arg-type]  # keys checked above


def writable(system: str, link: Link | None) -> bool:
    """Tell whether clients may write replicated namespaces on ``system``.

    :param system: the system's name
    :param link: the link the system is part of, or None when it replicates nothing
    """
    return link is None or not link.involves(system) or link.writable(system)


class Replicator:
    """Copies the changes queued on a link, in a worker thread or pass by pass.

    :param link: the link whose queues to drain
    :param delay: seconds a change stays queued before it may be copied
    :param interval: seconds between two passes of the worker
    :param retry_delay: seconds before a change whose copy failed is tried again
    :param on_done: called with each item once it has been copied (exceptions are logged)
    """

    def __init__(
        self,
        link: Link,
        *,
        delay: float = 0.0,
        interval: float = 0.05,
        retry_delay: float = 1.0,
        on_done: Callable[[ReplicationItem], object] | None = None,
        clock: Clock = time.time,
    ) -> None:
        self.link = link
        self.delay = delay
        self.interval = interval
        self.retry_delay = retry_delay
        self._on_done = on_done
        self._clock = clock
        self._pass_lock = threading.Lock()
        self._progress = threading.Condition()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the worker thread (once)."""
        if self._thread is not None:
            return
        self._stopping.clear()
        self._thread = threading.Thread(
            target=self._run, name=f"replicator-{self.link.name}", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the worker thread and wait up to ``timeout`` seconds for it to end."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._stopping.set()
        thread.join(timeout)
        if thread.is_alive():
            log.warning("replicator of link %s did not stop in %.1f s", self.link.name, timeout)

    def step(self) -> int:
        """Make one pass over both directions; return how many changes were copied."""
        with self._pass_lock:
            copied = 0
            for source in self.link.systems:
                copied += self._drain(source)
            self.link.settle()
        with self._progress:
            self._progress.notify_all()
        return copied

    def wait_idle(self, timeout: float) -> bool:
        """Wait until nothing is queued in either direction.

        :param timeout: seconds to wait at most
        :returns: False when changes were still queued at the deadline
        """
        deadline = time.monotonic() + timeout
        with self._progress:
            while self.link.pending():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._progress.wait(min(remaining, max(self.interval, 0.01)))
        return True

    def _drain(self, source: str) -> int:
        copied = 0
        failed: set[str] = set()
        for change in self.link.ready(source, self._clock(), self.delay):
            # The link may have been suspended while earlier copies ran.
            if not self.link.carries(source):
                break
            # A tenant's changes arrive in order: one failure holds the rest of its changes.
            if change.item.tenant in failed:
                continue
            if self._copy(source, change):
                copied += 1
            else:
                failed.add(change.item.tenant)
        return copied

    def _copy(self, source: str, change: PendingChange) -> bool:
        item = change.item
        try:
            item.copy()
        except Exception as exc:  # the copy belongs to the store: any failure means "retry"
            log.debug("link %s: copy of %s failed, will retry: %s", self.link.name, item.key, exc)
            self.link.mark_failed(source, change, self._clock() + self.retry_delay)
            return False
        self.link.mark_copied(source, change)
        if self._on_done is not None:
            try:
                self._on_done(item)
            except Exception:
                log.exception("link %s: on_done for %s failed", self.link.name, item.key)
        return True

    def _run(self) -> None:
        while not self._stopping.wait(self.interval):
            try:
                self.step()
            except Exception:
                log.exception("replication pass on link %s failed", self.link.name)


class Topology:
    """The systems of one emulator and the links between them, each with its replicator.

    :param systems: the systems that may be linked
    :param delay: replication delay in seconds for every link's replicator
    :param interval: seconds between two passes of each replicator
    :param retry_delay: seconds before a failed copy is retried
    :param completion_timeout: see :class:`Link`
    :param on_done: called with each copied item, whatever the link
    """

    def __init__(
        self,
        systems: Iterable[SystemEndpoint],
        *,
        delay: float = 0.0,
        interval: float = 0.05,
        retry_delay: float = 1.0,
        completion_timeout: float | None = None,
        on_done: Callable[[ReplicationItem], object] | None = None,
        clock: Clock = time.time,
    ) -> None:
        self._systems = {s.name: s for s in systems}
        self._delay = delay
        self._interval = interval
        self._retry_delay = retry_delay
        self._completion_timeout = completion_timeout
        self._on_done = on_done
        self._clock = clock
        self._lock = threading.RLock()
        self._links: dict[str, Link] = {}
        self._replicators: dict[str, Replicator] = {}
        self._running = False

    def system(self, name: str) -> SystemEndpoint:
        """Return the system called ``name``.

        :raises NotFoundError: for an unknown system
        """
        try:
            return self._systems[name]
        except KeyError:
            raise NotFoundError(f"no system named {name}") from None

    def resolve(self, remote_host: str) -> SystemEndpoint | None:
        """Return the system a link's ``remoteHost`` designates, or None."""
        return next((s for s in self._systems.values() if s.answers_to(remote_host)), None)

    def create_link(
        self,
        name: str,
        local: str,
        remote: str,
        link_type: LinkType,
        settings: LinkUpdate | None = None,
    ) -> Link:
        """Create a link and, if the topology runs, start its replicator.

        :param name: the link's name
        :param local: the system creating the link
        :param remote: the other system
        :param link_type: the type as ``local`` sees it
        :param settings: further settings, as ``local`` names them
        :raises LinkExistsError: when the name is taken (case-insensitively)
        :raises InvalidSettingError: for a refused setting
        """
        link = Link(
            name,
            self.system(local),
            self.system(remote),
            link_type,
            completion_timeout=self._completion_timeout,
            clock=self._clock,
        )
        if settings is not None:
            link.update(local, dataclasses.replace(settings, type=None))
        with self._lock:
            if name.casefold() in self._links:
                raise LinkExistsError(f"a link named {name} already exists")
            self._links[name.casefold()] = link
            if self._running:
                self._start_replicator(link)
        log.info("link %s created between %s and %s", name, local, remote)
        return link

    def find(self, name: str) -> Link | None:
        """Return the link called ``name`` (case-insensitively), or None."""
        with self._lock:
            return self._links.get(name.casefold())

    def get(self, name: str) -> Link:
        """Return the link called ``name``.

        :raises NotFoundError: when there is none
        """
        link = self.find(name)
        if link is None:
            raise NotFoundError(f"no link named {name}")
        return link

    def links_of(self, system: str) -> list[Link]:
        """Return the links ``system`` is part of, sorted by name."""
        with self._lock:
            links = [link for link in self._links.values() if link.involves(system)]
        return sorted(links, key=lambda link: link.name.casefold())

    def delete(self, name: str) -> None:
        """Remove a link and stop its replicator; queued changes are dropped.

        :raises NotFoundError: when there is no such link
        """
        with self._lock:
            link = self._links.pop(name.casefold(), None)
            replicator = self._replicators.pop(name.casefold(), None)
        if link is None:
            raise NotFoundError(f"no link named {name}")
        if replicator is not None:
            replicator.stop()
        log.info("link %s deleted", link.name)

    def replicator(self, name: str) -> Replicator | None:
        """Return the running replicator of the link called ``name``, if any."""
        with self._lock:
            return self._replicators.get(name.casefold())

    def start(self) -> None:
        """Start a replicator for every link, now and for links created later."""
        with self._lock:
            self._running = True
            for link in self._links.values():
                self._start_replicator(link)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop every replicator, waiting up to ``timeout`` seconds for each."""
        with self._lock:
            self._running = False
            replicators = list(self._replicators.values())
            self._replicators.clear()
        for replicator in replicators:
            replicator.stop(timeout)

    def _start_replicator(self, link: Link) -> None:
        key = link.name.casefold()
        if key in self._replicators:
            return
        replicator = Replicator(
            link,
            delay=self._delay,
            interval=self._interval,
            retry_delay=self._retry_delay,
            on_done=self._on_done,
            clock=self._clock,
        )
        self._replicators[key] = replicator
        replicator.start()


@dataclass(frozen=True)
class ServiceSettings:
    """The modifiable settings of a system's replication service."""

    allow_tenants_to_monitor_namespaces: bool = False
    enable_dns_failover: bool = False
    network: str = "[hcp_system]"
    connectivity_timeout_seconds: int = 30
    verification: Verification = Verification.OFF

    def __post_init__(self) -> None:
        if self.connectivity_timeout_seconds < 1:
            raise InvalidSettingError("connectivityTimeoutSeconds must be at least 1")


class ReplicationService:
    """The replication service of one system: its settings and whether its links run.

    :param settings: the initial settings
    """

    def __init__(self, settings: ServiceSettings | None = None) -> None:
        self._lock = threading.Lock()
        self._settings = settings or ServiceSettings()
        self._status = ServiceStatus.ENABLED
        self._shutdown_reason = ""

    @property
    def settings(self) -> ServiceSettings:
        """The current settings."""
        with self._lock:
            return self._settings

    @property
    def status(self) -> ServiceStatus:
        """ENABLED, or SHUTDOWN after ``shut_down``."""
        with self._lock:
            return self._status

    @property
    def shutdown_reason(self) -> str:
        """The reason given to the last ``shut_down``."""
        with self._lock:
            return self._shutdown_reason

    def update(self, settings: ServiceSettings) -> None:
        """Replace the settings.

        :param settings: the new settings
        """
        with self._lock:
            self._settings = settings

    def shut_down(self, reason: str, links: Iterable[Link]) -> None:
        """Stop every link of the system, as ``?shutDownAllLinks=<reason>`` does.

        :raises InvalidSettingError: when the reason is longer than 1,024 characters
        """
        if len(reason) > MAX_SHUTDOWN_REASON:
            raise InvalidSettingError(
                f"the shutdown reason must not exceed {MAX_SHUTDOWN_REASON} characters"
            )
        with self._lock:
            self._status = ServiceStatus.SHUTDOWN
            self._shutdown_reason = reason
        for link in links:
            link.set_suspended(True)

    def reestablish(self, links: Iterable[Link]) -> None:
        """Restart every link of the system, as ``?reestablishAllLinks`` does."""
        with self._lock:
            self._status = ServiceStatus.ENABLED
            self._shutdown_reason = ""
        for link in links:
            link.set_suspended(False)
