"""The replication model: link state machine (hcp-protocol §11.5, §12), views and replicator.

Decision checked here about suspended links (see the module docstring of
``hcpfs.emulator.replication``): ``failOver`` stays possible on a suspended link, while
``failBack``, ``beginRecovery`` and ``completeRecovery`` are refused until it is resumed.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator

import pytest

from hcpfs.emulator.replication import (
    DEFAULT_PORT,
    Action,
    FailoverSettings,
    InvalidActionError,
    InvalidSettingError,
    Link,
    LinkExistsError,
    LinkState,
    LinkType,
    LinkUpdate,
    NotFoundError,
    Priority,
    ReplicationItem,
    ReplicationService,
    Replicator,
    ServiceStatus,
    Status,
    SystemEndpoint,
    TenantStatus,
    Topology,
    writable,
)

PRIMARY = SystemEndpoint("primary", "hcp-a.example.com", ("127.0.0.1", "127.0.0.2"))
REPLICA = SystemEndpoint("replica", "hcp-b.example.com", ("127.0.1.1",))
THIRD = SystemEndpoint("third", "hcp-c.example.com", ("127.0.2.1",))
P, R = PRIMARY.name, REPLICA.name


class FakeClock:
    """A wall clock that moves only when told to."""

    def __init__(self, start: float = 1_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Copier:
    """A copy callable that records its calls and fails a given number of times first."""

    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.calls = 0
        self.copied = threading.Event()

    def __call__(self) -> None:
        self.calls += 1
        if self.calls <= self.failures:
            raise OSError("remote system unreachable")
        self.copied.set()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def ap_link(
    clock: Callable[[], float] = time.time, completion_timeout: float | None = None
) -> Link:
    return Link(
        "MA-CA",
        PRIMARY,
        REPLICA,
        LinkType.OUTBOUND,
        clock=clock,
        completion_timeout=completion_timeout,
    )


def aa_link(clock: Callable[[], float] = time.time) -> Link:
    return Link("MA-CA", PRIMARY, REPLICA, LinkType.ACTIVE_ACTIVE, clock=clock)


def item(
    key: str, size: int = 100, tenant: str = "t1", copier: Copier | None = None
) -> ReplicationItem:
    return ReplicationItem(key, size, copier or Copier(), tenant)


# -- state machine -------------------------------------------------------------------------

# (action, issued on, state, primary writable, replica writable, status, statusMessage,
#  primary->replica flows, replica->primary flows)
AP_CYCLE = [
    (None, None, LinkState.NORMAL, True, False, Status.GOOD, "Synchronizing data", True, False),
    (
        Action.FAIL_OVER,
        R,
        LinkState.FAILED_OVER,
        False,
        True,
        Status.WARNING,
        "Failed over",
        False,
        False,
    ),
    (
        Action.BEGIN_RECOVERY,
        R,
        LinkState.RECOVERING,
        False,
        True,
        Status.GOOD,
        "Recovering data",
        False,
        True,
    ),
    (
        Action.COMPLETE_RECOVERY,
        R,
        LinkState.COMPLETING_RECOVERY,
        False,
        False,
        Status.GOOD,
        "Completing recovery",
        False,
        True,
    ),
]


def test_active_passive_cycle_through_every_state(clock: FakeClock) -> None:
    # §11.5 suggested state machine and §12 failover effects, A/P columns.
    link = ap_link(clock)
    for action, side, state, p_rw, r_rw, status, message, p_flow, r_flow in AP_CYCLE:
        if action is not None:
            assert side is not None
            link.apply(action, side)
        view = link.view(P)
        assert (view.state, view.status, view.status_message) == (state, status, message)
        assert (link.writable(P), link.writable(R)) == (p_rw, r_rw)
        assert (link.carries(P), link.carries(R)) == (p_flow, r_flow)
        assert link.view(R).writable is r_rw
    link.finish_recovery()
    assert link.state is LinkState.NORMAL
    assert (link.writable(P), link.writable(R)) == (True, False)
    assert link.view(R).status_message == "Synchronizing data"


@pytest.mark.parametrize("survivor", [P, R])
def test_active_active_failover_and_failback(survivor: str) -> None:
    link = aa_link()
    assert (link.writable(P), link.writable(R)) == (True, True)
    assert (link.carries(P), link.carries(R)) == (True, True)

    link.apply(Action.FAIL_OVER, survivor)
    failed = link.other(survivor)
    assert link.state is LinkState.FAILED_OVER
    assert link.writable(survivor) and not link.writable(failed)
    assert not link.carries(P) and not link.carries(R)
    assert link.view(failed).status_message == "Failed over"

    link.apply(Action.FAIL_BACK, failed)
    assert link.view(P).state is LinkState.NORMAL
    assert (link.writable(P), link.writable(R)) == (True, True)
    assert (link.carries(P), link.carries(R)) == (True, True)


def test_begin_recover_spelling_is_accepted() -> None:
    assert Action.parse("beginRecover") is Action.BEGIN_RECOVERY
    assert Action.parse("beginRecovery") is Action.BEGIN_RECOVERY
    assert Action.parse("failOver") is Action.FAIL_OVER
    # Parameter names are case-sensitive.
    assert Action.parse("failover") is None
    assert Action.parse("explode") is None


def _failed_over(link: Link) -> None:
    link.apply(Action.FAIL_OVER, R)


def _recovering(link: Link) -> None:
    _failed_over(link)
    link.apply(Action.BEGIN_RECOVERY, R)


def _suspended(link: Link) -> None:
    link.apply(Action.SUSPEND, P)


def _suspended_failed_over(link: Link) -> None:
    _failed_over(link)
    link.apply(Action.SUSPEND, R)


def _suspended_recovering(link: Link) -> None:
    _recovering(link)
    link.apply(Action.SUSPEND, R)


def _nothing(link: Link) -> None:
    pass


REFUSALS = [
    # (active/active?, preparation, action, issued on, words in the message)
    (False, _nothing, Action.FAIL_BACK, P, "active/active links only"),
    (False, _failed_over, Action.FAIL_BACK, R, "active/active links only"),
    (True, _nothing, Action.BEGIN_RECOVERY, P, "active/passive links only"),
    (True, _nothing, Action.COMPLETE_RECOVERY, R, "active/passive links only"),
    (False, _nothing, Action.FAIL_OVER, P, "must be sent to the replica"),
    (False, _failed_over, Action.BEGIN_RECOVERY, P, "must be sent to the replica"),
    (False, _recovering, Action.COMPLETE_RECOVERY, P, "must be sent to the replica"),
    (False, _nothing, Action.COMPLETE_RECOVERY, R, "send beginRecovery first"),
    (False, _failed_over, Action.COMPLETE_RECOVERY, R, "send beginRecovery first"),
    (False, _nothing, Action.BEGIN_RECOVERY, R, "needs a failed-over link"),
    (False, _recovering, Action.BEGIN_RECOVERY, R, "needs a failed-over link"),
    (False, _failed_over, Action.FAIL_OVER, R, "cannot fail over while failed over"),
    (False, _recovering, Action.FAIL_OVER, R, "cannot fail over while recovering"),
    (True, _nothing, Action.FAIL_BACK, P, "is not failed over"),
    (True, _failed_over, Action.FAIL_OVER, P, "cannot fail over"),
    (False, _nothing, Action.RESUME, P, "is not suspended"),
    (False, _suspended, Action.SUSPEND, R, "already suspended"),
    (False, _suspended_failed_over, Action.BEGIN_RECOVERY, R, "resume it before beginRecovery"),
    (
        False,
        _suspended_recovering,
        Action.COMPLETE_RECOVERY,
        R,
        "resume it before completeRecovery",
    ),
]


@pytest.mark.parametrize(("active", "prepare", "action", "side", "words"), REFUSALS)
def test_invalid_actions_are_refused_and_change_nothing(
    active: bool,
    prepare: Callable[[Link], None],
    action: Action,
    side: str,
    words: str,
) -> None:
    link = aa_link() if active else ap_link()
    prepare(link)
    before = link.view(P)
    with pytest.raises(InvalidActionError, match=words) as caught:
        link.apply(action, side)
    assert "MA-CA" in str(caught.value)
    after = link.view(P)
    assert (after.state, after.suspended) == (before.state, before.suspended)


def test_fail_back_refused_on_suspended_active_active_link() -> None:
    link = aa_link()
    link.apply(Action.FAIL_OVER, P)
    link.apply(Action.SUSPEND, P)
    with pytest.raises(InvalidActionError, match="resume it before failBack"):
        link.apply(Action.FAIL_BACK, P)
    link.apply(Action.RESUME, R)
    link.apply(Action.FAIL_BACK, P)
    assert link.state is LinkState.NORMAL


def test_fail_over_is_allowed_on_a_suspended_link() -> None:
    link = ap_link()
    link.apply(Action.SUSPEND, P)
    link.apply(Action.FAIL_OVER, R)
    view = link.view(R)
    assert view.state is LinkState.FAILED_OVER
    assert view.suspended
    # The suspension is what a client reads first; the failover shows in writability.
    assert (view.status, view.status_message) == (Status.WARNING, "Suspended by user")
    assert link.writable(R) and not link.writable(P)


def test_suspend_keeps_writability_and_stops_the_flow() -> None:
    link = ap_link()
    link.apply(Action.SUSPEND, R)
    view = link.view(P)
    assert view.suspended and view.status_message == "Suspended by user"
    assert view.status is Status.WARNING
    assert (link.writable(P), link.writable(R)) == (True, False)
    assert not link.carries(P)
    link.apply(Action.RESUME, P)
    assert link.carries(P) and not link.view(P).suspended


def test_restore_repairs_a_broken_link_in_any_state() -> None:
    link = ap_link()
    link.apply(Action.RESTORE, P)
    assert link.view(P).status is Status.GOOD
    _failed_over(link)
    link.break_link()
    assert (link.view(R).status, link.view(R).status_message) == (Status.BAD, "Broken link")
    link.apply(Action.RESTORE, R)
    assert link.view(R).status_message == "Failed over"
    assert link.state is LinkState.FAILED_OVER


def test_broken_link_carries_nothing() -> None:
    link = aa_link()
    link.break_link()
    assert not link.carries(P) and not link.carries(R)


def test_actions_from_a_system_outside_the_link_are_refused() -> None:
    with pytest.raises(NotFoundError):
        ap_link().apply(Action.SUSPEND, THIRD.name)


def test_finish_recovery_needs_a_completing_link() -> None:
    link = ap_link()
    _recovering(link)
    with pytest.raises(InvalidActionError, match="not completing"):
        link.finish_recovery()


def test_completing_recovery_waits_for_the_backlog_toward_the_primary(clock: FakeClock) -> None:
    link = ap_link(clock)
    _recovering(link)
    link.enqueue(R, item("late change"))
    link.apply(Action.COMPLETE_RECOVERY, R)
    assert not link.settle()
    assert link.state is LinkState.COMPLETING_RECOVERY
    change = link.ready(R, clock(), 0.0)[0]
    link.mark_copied(R, change)
    assert link.settle()
    assert link.view(R).state is LinkState.NORMAL


def test_completing_recovery_ends_after_the_configured_time(clock: FakeClock) -> None:
    link = ap_link(clock, completion_timeout=30.0)
    _recovering(link)
    link.enqueue(R, item("stuck"))
    link.apply(Action.COMPLETE_RECOVERY, R)
    clock.advance(29.9)
    assert not link.settle()
    clock.advance(0.1)
    assert link.settle()
    assert link.state is LinkState.NORMAL


def test_writable_helper() -> None:
    link = ap_link()
    assert writable(P, None)
    assert writable(THIRD.name, link)
    assert writable(P, link) and not writable(R, link)


# -- views and settings --------------------------------------------------------------------


def test_each_side_sees_its_own_type_connection_and_failover_settings() -> None:
    link = ap_link()
    primary, replica = link.view(P), link.view(R)
    assert uuid.UUID(primary.id).version == 4
    assert primary.id == replica.id and primary.name == replica.name == "MA-CA"
    assert (primary.type, replica.type) == (LinkType.OUTBOUND, LinkType.INBOUND)
    assert primary.connection.local_host == "127.0.0.1, 127.0.0.2"
    assert primary.connection.remote_host == "replication.hcp-b.example.com"
    assert replica.connection.remote_host == "replication.hcp-a.example.com"
    assert primary.connection.local_port == primary.connection.remote_port == DEFAULT_PORT
    # §11.4: on an A/P link only <remote> is shown on the primary and only <local> on the replica.
    assert primary.failover_local is None and primary.failover_remote == FailoverSettings()
    assert replica.failover_remote is None and replica.failover_local == FailoverSettings()
    assert FailoverSettings().auto_failover_minutes == 120
    assert (primary.priority, primary.compression, primary.encryption) == (
        Priority.OLDEST_FIRST,
        False,
        False,
    )


def test_active_active_views_show_both_failover_sides() -> None:
    view = aa_link().view(R)
    assert view.type is LinkType.ACTIVE_ACTIVE
    assert view.failover_local is not None and view.failover_remote is not None


def test_inbound_creation_makes_the_creator_the_replica() -> None:
    link = Link("x", REPLICA, PRIMARY, LinkType.INBOUND)
    assert (link.primary, link.replica) == (P, R)
    assert link.systems == (R, P)


def test_update_is_named_from_the_issuing_side() -> None:
    link = aa_link()
    link.update(
        P,
        LinkUpdate(
            description="MA to CA",
            priority=Priority.FAIR,
            remote_port=6000,
            local_host="10.0.0.1",
            failover_remote={"auto_failover": True, "auto_failover_minutes": 7},
        ),
    )
    primary, replica = link.view(P), link.view(R)
    assert replica.connection.local_port == 6000 and primary.connection.remote_port == 6000
    assert primary.connection.local_host == "10.0.0.1"
    assert replica.failover_local == FailoverSettings(auto_failover=True, auto_failover_minutes=7)
    assert (replica.description, replica.priority) == ("MA to CA", Priority.FAIR)


@pytest.mark.parametrize(
    "change",
    [
        LinkUpdate(failover_local={"auto_failover": True}),  # the primary has none
        LinkUpdate(failover_remote={"auto_failover_minutes": 6}),
        LinkUpdate(failover_remote={"auto_complete_recovery_minutes": 10_000}),
        LinkUpdate(failover_remote={"no_such_setting": 1}),
        LinkUpdate(local_port=0),
        LinkUpdate(type=LinkType.INBOUND),
    ],
)
def test_refused_updates_change_nothing(change: LinkUpdate, clock: FakeClock) -> None:
    link = ap_link(clock)
    before = link.view(P)
    with pytest.raises(InvalidSettingError):
        link.update(P, dataclass_with_description(change))
    assert link.view(P) == before


def dataclass_with_description(change: LinkUpdate) -> LinkUpdate:
    # A valid change travels with every refused one, to show that it is not applied either.
    return LinkUpdate(**{**change.__dict__, "description": "changed"})


def test_auto_complete_recovery_is_refused_on_active_active_links() -> None:
    with pytest.raises(InvalidSettingError, match="active/passive"):
        aa_link().update(P, LinkUpdate(failover_local={"auto_complete_recovery": True}))


def test_active_passive_link_can_become_active_active_only_when_normal() -> None:
    link = ap_link()
    _failed_over(link)
    with pytest.raises(InvalidSettingError, match="failed over"):
        link.update(P, LinkUpdate(type=LinkType.ACTIVE_ACTIVE))
    other = ap_link()
    other.update(R, LinkUpdate(type=LinkType.ACTIVE_ACTIVE))
    assert other.active_active and other.view(P).type is LinkType.ACTIVE_ACTIVE
    with pytest.raises(InvalidSettingError, match="only change to ACTIVE_ACTIVE"):
        other.update(P, LinkUpdate(type=LinkType.OUTBOUND))


@pytest.mark.parametrize("name", ["", "   ", "x" * 65])
def test_link_names_must_have_1_to_64_characters(name: str) -> None:
    with pytest.raises(InvalidSettingError):
        Link(name, PRIMARY, REPLICA, LinkType.OUTBOUND)
    assert Link("x" * 64, PRIMARY, REPLICA, LinkType.OUTBOUND).name == "x" * 64


def test_a_link_joins_two_different_systems() -> None:
    with pytest.raises(InvalidSettingError):
        Link("self", PRIMARY, PRIMARY, LinkType.ACTIVE_ACTIVE)


# -- topology ------------------------------------------------------------------------------


def test_topology_names_links_case_insensitively() -> None:
    topology = Topology([PRIMARY, REPLICA, THIRD])
    link = topology.create_link("MA-CA", P, R, LinkType.OUTBOUND)
    assert topology.find("ma-ca") is link and topology.get("MA-ca") is link
    with pytest.raises(LinkExistsError):
        topology.create_link("ma-CA", P, THIRD.name, LinkType.ACTIVE_ACTIVE)
    other = topology.create_link("B-C", R, THIRD.name, LinkType.ACTIVE_ACTIVE)
    assert topology.links_of(R) == [other, link]
    assert topology.links_of(P) == [link]
    topology.delete("MA-CA")
    assert topology.find("MA-CA") is None
    with pytest.raises(NotFoundError):
        topology.delete("MA-CA")
    with pytest.raises(NotFoundError):
        topology.get("nothing")


def test_topology_applies_creation_settings_or_nothing() -> None:
    topology = Topology([PRIMARY, REPLICA])
    bad = LinkUpdate(local_port=70_000)
    with pytest.raises(InvalidSettingError):
        topology.create_link("MA-CA", P, R, LinkType.OUTBOUND, bad)
    assert topology.find("MA-CA") is None
    link = topology.create_link("MA-CA", P, R, LinkType.OUTBOUND, LinkUpdate(compression=True))
    assert link.compression


@pytest.mark.parametrize(
    ("remote_host", "expected"),
    [
        ("replication.hcp-b.example.com", "replica"),
        ("REPLICATION.ADMIN.hcp-b.example.com", "replica"),
        ("127.0.0.1, 127.0.0.2", "primary"),
        ("127.0.0.2", "primary"),
        ("127.0.0.2, 127.0.1.1", None),
        ("hcp-b.example.com", None),
        ("", None),
    ],
)
def test_remote_host_forms(remote_host: str, expected: str | None) -> None:
    found = Topology([PRIMARY, REPLICA]).resolve(remote_host)
    assert (found.name if found else None) == expected


# -- tenants -------------------------------------------------------------------------------


def test_tenants_on_a_link(clock: FakeClock) -> None:
    link = aa_link(clock)
    link.add_tenant("finance")
    with pytest.raises(LinkExistsError):
        link.add_tenant("finance")
    assert link.tenants() == ["finance"] and link.replicates("finance")
    link.enqueue(P, item("a", 10, "finance"))
    link.enqueue(P, item("b", 20, "finance"))
    link.enqueue(R, item("c", 5, "finance"))
    link.enqueue(P, item("d", 7, "other"))
    view = link.tenant_view(P, "finance")
    assert (view.objects_pending, view.bytes_pending) == (2, 30)
    assert (view.objects_pending_remote, view.bytes_pending_remote) == (1, 5)
    assert view.status is TenantStatus.REPLICATING
    assert view.up_to_date_millis == int(clock() * 1000)
    link.pause_tenant("finance")
    assert link.tenant_view(R, "finance").status is TenantStatus.PAUSED
    link.remove_tenant("finance")
    with pytest.raises(NotFoundError):
        link.tenant_view(P, "finance")
    with pytest.raises(NotFoundError):
        link.pause_tenant("finance")


# -- replication service -------------------------------------------------------------------


def test_shutdown_suspends_every_link_and_reestablish_resumes_them() -> None:
    service = ReplicationService()
    links = [ap_link(), aa_link()]
    links[1].apply(Action.SUSPEND, P)
    service.shut_down("maintenance window", links)
    assert service.status is ServiceStatus.SHUTDOWN
    assert service.shutdown_reason == "maintenance window"
    assert all(link.suspended for link in links)
    service.reestablish(links)
    assert service.status.value == "ENABLED"
    assert not any(link.suspended for link in links)


def test_shutdown_reason_is_bounded() -> None:
    service = ReplicationService()
    with pytest.raises(InvalidSettingError):
        service.shut_down("x" * 1025, [])
    assert service.status is ServiceStatus.ENABLED


# -- replicator, driven pass by pass -------------------------------------------------------


def test_delay_is_respected_and_counters_are_exact(clock: FakeClock) -> None:
    link = ap_link(clock)
    start = clock()
    done: list[ReplicationItem] = []
    replicator = Replicator(link, delay=5.0, clock=clock, on_done=done.append)
    first, second = item("v1", 1000), item("v2", 24)
    link.enqueue(P, first)
    clock.advance(2.0)
    link.enqueue(P, second)
    stats = link.view(P).statistics
    assert (stats.objects_pending, stats.bytes_pending) == (2, 1024)
    assert stats.up_to_date_millis == int(start * 1000)
    assert (stats.objects_pending_remote, stats.bytes_pending_remote) == (0, 0)

    clock.advance(2.9)
    assert replicator.step() == 0
    clock.advance(0.1)
    assert replicator.step() == 1
    assert done == [first]
    stats = link.view(R).statistics
    assert (stats.objects_pending, stats.bytes_pending) == (1, 24)
    assert (stats.objects_replicated, stats.bytes_replicated) == (1, 1000)
    assert stats.up_to_date_millis == int((start + 2.0) * 1000)

    clock.advance(2.0)
    assert replicator.step() == 1
    stats = link.view(P).statistics
    assert (stats.objects_pending, stats.objects_replicated, stats.bytes_replicated) == (
        0,
        2,
        1024,
    )
    assert stats.up_to_date_millis == int(clock() * 1000)
    assert stats.errors == 0
    assert stats.bytes_per_second == pytest.approx(1024 / 10)
    assert stats.operations_per_second == pytest.approx(2 / 10)
    clock.advance(11.0)
    assert link.view(P).statistics.bytes_per_second == 0.0


def test_failed_copies_count_as_errors_and_are_retried(clock: FakeClock) -> None:
    link = ap_link(clock)
    replicator = Replicator(link, retry_delay=1.0, clock=clock)
    flaky = Copier(failures=2)
    link.enqueue(P, item("v1", 10, copier=flaky))
    assert replicator.step() == 0
    assert replicator.step() == 0  # not yet time to retry
    assert flaky.calls == 1
    clock.advance(1.0)
    assert replicator.step() == 0
    clock.advance(1.0)
    assert replicator.step() == 1
    stats = link.view(P).statistics
    assert flaky.calls == 3
    assert (stats.errors, stats.objects_replicated, stats.objects_pending) == (2, 1, 0)
    assert stats.errors_per_second == pytest.approx(2 / 10)


def test_a_failing_change_holds_its_tenant_but_not_the_others(clock: FakeClock) -> None:
    link = ap_link(clock)
    replicator = Replicator(link, retry_delay=60.0, clock=clock)
    later = Copier()
    link.enqueue(P, item("t1-a", copier=Copier(failures=1)))
    link.enqueue(P, item("t1-b", copier=later))
    other = Copier()
    link.enqueue(P, item("t2-a", tenant="t2", copier=other))
    assert replicator.step() == 1
    assert other.calls == 1 and later.calls == 0
    assert link.pending(P) == 2


def test_paused_tenant_is_held_until_resumed(clock: FakeClock) -> None:
    link = ap_link(clock)
    link.add_tenant("t1")
    replicator = Replicator(link, clock=clock)
    link.pause_tenant("t1")
    link.enqueue(P, item("a"))
    link.enqueue(P, item("b", tenant="t2"))
    assert replicator.step() == 1
    assert link.tenant_view(P, "t1").objects_pending == 1
    link.pause_tenant("t1", paused=False)
    assert replicator.step() == 1
    assert link.pending() == 0


def test_flow_follows_the_link_state(clock: FakeClock) -> None:
    link = ap_link(clock)
    replicator = Replicator(link, clock=clock)
    link.enqueue(R, item("written on the replica"))
    assert replicator.step() == 0  # replica -> primary does not flow while normal
    link.apply(Action.FAIL_OVER, R)
    link.enqueue(P, item("stale primary change"))
    assert replicator.step() == 0
    link.apply(Action.BEGIN_RECOVERY, R)
    assert replicator.step() == 1
    assert (link.pending(P), link.pending(R)) == (1, 0)


def test_completing_recovery_finishes_once_the_replicator_drains(clock: FakeClock) -> None:
    link = ap_link(clock)
    replicator = Replicator(link, delay=1.0, clock=clock)
    _recovering(link)
    link.enqueue(R, item("late"))
    link.apply(Action.COMPLETE_RECOVERY, R)
    replicator.step()
    assert link.state is LinkState.COMPLETING_RECOVERY
    assert not link.writable(P) and not link.writable(R)
    clock.advance(1.0)
    replicator.step()
    assert link.view(P).state is LinkState.NORMAL
    assert link.writable(P) and not link.writable(R)


def test_active_active_counts_local_and_remote_pending(clock: FakeClock) -> None:
    link = aa_link(clock)
    link.enqueue(P, item("a", 3))
    link.enqueue(R, item("b", 4))
    link.enqueue(R, item("c", 5))
    stats = link.view(P).statistics
    assert (stats.objects_pending, stats.bytes_pending) == (1, 3)
    assert (stats.objects_pending_remote, stats.bytes_pending_remote) == (2, 9)
    assert Replicator(link, clock=clock).step() == 3


def test_on_done_failures_do_not_stop_replication(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(_: ReplicationItem) -> None:
        raise RuntimeError("store bookkeeping failed")

    link = aa_link(clock)
    link.enqueue(P, item("a"))
    link.enqueue(P, item("b"))
    assert Replicator(link, clock=clock, on_done=broken).step() == 2
    assert link.view(P).statistics.objects_replicated == 2
    assert "on_done" in caplog.text


# -- replicator, with its thread -----------------------------------------------------------


@pytest.fixture
def running() -> Iterator[Callable[..., Replicator]]:
    started: list[Replicator] = []

    def start(link: Link, delay: float = 0.0, retry_delay: float = 1.0) -> Replicator:
        replicator = Replicator(link, interval=0.01, delay=delay, retry_delay=retry_delay)
        started.append(replicator)
        replicator.start()
        return replicator

    try:
        yield start
    finally:
        for replicator in started:
            replicator.stop()


def test_worker_waits_for_the_delay(running: Callable[..., Replicator]) -> None:
    link = ap_link()
    replicator = running(link, delay=0.3)
    copier = Copier()
    queued = time.monotonic()
    link.enqueue(P, item("v1", copier=copier))
    assert copier.copied.wait(5.0)
    assert time.monotonic() - queued >= 0.3
    assert replicator.wait_idle(5.0)
    assert link.view(P).statistics.objects_replicated == 1


def test_worker_stops_on_suspend_and_restarts_on_resume(
    running: Callable[..., Replicator],
) -> None:
    link = ap_link()
    replicator = running(link)
    link.apply(Action.SUSPEND, P)
    link.enqueue(P, item("held"))
    assert not replicator.wait_idle(0.2)
    assert link.pending(P) == 1
    link.apply(Action.RESUME, P)
    assert replicator.wait_idle(5.0)
    assert link.view(P).statistics.objects_replicated == 1


def test_worker_retries_failed_copies(running: Callable[..., Replicator]) -> None:
    link = ap_link()
    replicator = running(link, retry_delay=0.02)
    copier = Copier(failures=3)
    link.enqueue(P, item("flaky", copier=copier))
    assert replicator.wait_idle(5.0)
    assert copier.calls == 4
    assert link.view(P).statistics.errors == 3


def test_stop_ends_the_worker_thread() -> None:
    before = set(threading.enumerate())
    replicator = Replicator(ap_link(), interval=0.01)
    replicator.start()
    assert [t.name for t in set(threading.enumerate()) - before] == ["replicator-MA-CA"]
    replicator.stop()
    assert set(threading.enumerate()) - before == set()


def test_topology_runs_a_replicator_per_link() -> None:
    before = set(threading.enumerate())
    done: list[ReplicationItem] = []
    topology = Topology([PRIMARY, REPLICA], interval=0.01, on_done=done.append)
    topology.start()
    try:
        link = topology.create_link("MA-CA", P, R, LinkType.ACTIVE_ACTIVE)
        replicator = topology.replicator("ma-ca")
        assert replicator is not None
        change = item("v1")
        link.enqueue(R, change)
        assert replicator.wait_idle(5.0)
        assert done == [change]
        topology.delete("MA-CA")
        assert topology.replicator("MA-CA") is None
    finally:
        topology.stop()
    assert set(threading.enumerate()) - before == set()
