"""hcpfs.sdk with a replicated emulator: ``mapi.Replication`` on both sides of a link, and the
replica strategies of a target (docs/sdk.md, "Replicated systems" and "Replication links")."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import hcpfs.sdk as hcpsdk
from hcpfs.emulator import Emulator
from hcpfs.emulator.emulator import LINK_NAME
from hcpfs.sdk import mapi

Replication = mapi.Replication
MakeTarget = Callable[..., hcpsdk.Target]


def start(link_type: str, address_base: str) -> Emulator:
    return Emulator(nodes=2, address_base=address_base, replica=True, link_type=link_type)


@pytest.fixture(scope="module")
def passive() -> Iterator[Emulator]:
    """A primary and a replica joined by an active/passive link, for the whole module."""
    with start("ACTIVE_PASSIVE", "127.0.0.101") as hcp:
        yield hcp


@pytest.fixture(scope="module")
def active() -> Iterator[Emulator]:
    """Two systems joined by an active/active link, for the whole module."""
    with start("ACTIVE_ACTIVE", "127.0.0.111") as hcp:
        yield hcp


def names(hcp: Emulator) -> dict[str, list[str]]:
    """Every host name of both systems, with the addresses of its system's nodes."""
    assert hcp.replica_host is not None and hcp.replica_domain is not None
    return {
        hcp.host: hcp.addresses,
        hcp.admin_host: hcp.addresses,
        hcp.replica_host: hcp.replica_addresses,
        f"admin.{hcp.replica_domain}": hcp.replica_addresses,
    }


class Deployment:
    """Targets on an emulator with a replica; :meth:`close` closes them and brings every
    node taken down back up."""

    def __init__(self, hcp: Emulator) -> None:
        self.hcp = hcp
        self._names = names(hcp)
        self._made: list[hcpsdk.Target] = []
        self._down: list[int] = []

    def data(self, strategy: int | None = None, *, primary: bool = True) -> hcpsdk.Target:
        """A target for the namespace on the primary (with the replica and ``strategy``
        when one is given), or on the replica alone."""
        hcp = self.hcp
        auth = hcpsdk.NativeAuthorization(hcp.user, hcp.password)
        fqdn = hcp.host if primary else hcp.replica_host
        options: dict[str, Any] = {}
        if strategy is not None:
            options = {"replica_fqdn": hcp.replica_host, "replica_strategy": strategy}
        assert fqdn is not None
        return self._keep(hcpsdk.Target(fqdn, auth, port=hcp.port, **self._common(), **options))

    def management(self, *, replica: bool = False) -> Replication:
        """The replication service of the primary, or of the replica."""
        hcp = self.hcp
        auth = hcpsdk.NativeAuthorization(hcp.management_user, hcp.management_password)
        fqdn = f"admin.{hcp.replica_domain}" if replica else hcp.admin_host
        assert hcp.mapi_port is not None
        target = hcpsdk.Target(fqdn, auth, port=hcp.mapi_port, **self._common())
        return Replication(self._keep(target))

    def take_primary_down(self) -> None:
        for index in range(len(self.hcp.nodes)):
            self.hcp.take_down(index)
            self._down.append(index)

    def close(self) -> None:
        for target in self._made:
            target.close()
        for index in self._down:
            self.hcp.bring_up(index)

    def _common(self) -> dict[str, Any]:
        return {"tls": False, "lookup": lambda name: self._names[name]}

    def _keep(self, target: hcpsdk.Target) -> hcpsdk.Target:
        self._made.append(target)
        return target


@pytest.fixture
def ap(passive: Emulator) -> Iterator[Deployment]:
    passive.reset()
    deployment = Deployment(passive)
    try:
        yield deployment
    finally:
        deployment.close()


@pytest.fixture
def aa(active: Emulator) -> Iterator[Deployment]:
    active.reset()
    deployment = Deployment(active)
    try:
        yield deployment
    finally:
        deployment.close()


def put(target: hcpsdk.Target, url: str, data: bytes) -> hcpsdk.Connection:
    """PUT and return the connection, to look at who answered and how."""
    con = hcpsdk.Connection(target)
    con.PUT(url, body=data)
    con.read()
    return con


def get(target: hcpsdk.Target, url: str) -> tuple[hcpsdk.Connection, bytes]:
    con = hcpsdk.Connection(target)
    con.GET(url)
    return con, con.read()


def stored_and_replicated(ap: Deployment, url: str, data: bytes) -> None:
    con = put(ap.data(), url, data)
    assert (con.response_status, con.answered_by) == (201, con.target)
    assert ap.hcp.wait_replicated(5.0)


# -- the management API --------------------------------------------------------------------


def test_each_side_sees_the_service_and_the_link(ap: Deployment) -> None:
    primary, replica = ap.management(), ap.management(replica=True)
    service = primary.getreplicationsettings()
    assert service["status"] == "ENABLED"
    assert service["enableDNSFailover"] in ("true", "false")
    assert primary.getlinklist() == replica.getlinklist() == [LINK_NAME]

    outbound, inbound = primary.getlinkdetails(LINK_NAME), replica.getlinkdetails(LINK_NAME)
    assert (outbound["type"], inbound["type"]) == (Replication.R_OUTBOUND, Replication.R_INBOUND)
    assert outbound["id"] == inbound["id"]
    assert (outbound["status"], outbound["statusMessage"]) == ("GOOD", "Synchronizing data")
    assert list(outbound["failoverSettings"]) == ["remote"]
    assert list(inbound["failoverSettings"]) == ["local"]
    statistics = outbound["statistics"]
    assert isinstance(statistics, dict)
    assert statistics["errors"] == "0"
    assert isinstance(outbound["connection"], dict)


def test_statistics_count_what_was_replicated(ap: Deployment) -> None:
    primary = ap.management()
    stored_and_replicated(ap, "/rest/counted", b"12345")
    statistics = primary.getlinkdetails(LINK_NAME)["statistics"]
    assert isinstance(statistics, dict)
    assert (statistics["objectsReplicated"], statistics["bytesReplicated"]) == ("1", "5")


def test_suspend_and_resume(ap: Deployment) -> None:
    primary = ap.management()
    primary.setreplicationlinkstate(LINK_NAME, Replication.R_SUSPEND)
    details = primary.getlinkdetails(LINK_NAME)
    assert (details["suspended"], details["statusMessage"]) == ("true", "Suspended by user")
    primary.setreplicationlinkstate(LINK_NAME, Replication.R_RESUME)
    assert primary.getlinkdetails(LINK_NAME)["suspended"] == "false"


@pytest.mark.parametrize(
    "action", [Replication.R_FAILBACK, Replication.R_FAILOVER, Replication.R_BEGINRECOVERY]
)
def test_actions_the_link_type_forbids_are_refused_before_sending(
    ap: Deployment, action: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="hcpfs.sdk.connection")
    primary = ap.management()
    with pytest.raises(mapi.ReplicationSettingsError, match="OUTBOUND"):
        primary.setreplicationlinkstate(LINK_NAME, action)
    sent = [record.args[0] for record in caplog.records if isinstance(record.args, tuple)]
    assert sent == ["GET"]  # the type was looked up; the action never went out
    assert primary.getlinkdetails(LINK_NAME)["statusMessage"] == "Synchronizing data"


def test_refusals_of_the_system_carry_status_and_message(ap: Deployment) -> None:
    replica = ap.management(replica=True)
    with pytest.raises(hcpsdk.HcpsdkError) as err:
        replica.setreplicationlinkstate(
            LINK_NAME, Replication.R_COMPLETERECOVERY, Replication.R_INBOUND
        )
    assert err.value.status == 400
    assert err.value.error_message
    with pytest.raises(hcpsdk.HcpsdkError) as err:
        replica.getlinkdetails("no such link")
    assert err.value.status == 404
    assert err.value.url == "/mapi/services/replication/links/no%20such%20link?verbose=true"


def test_failover_and_recovery_from_the_replica(ap: Deployment) -> None:
    replica = ap.management(replica=True)
    replica.setreplicationlinkstate(LINK_NAME, Replication.R_FAILOVER)
    assert replica.getlinkdetails(LINK_NAME)["statusMessage"] == "Failed over"
    replica.setreplicationlinkstate(LINK_NAME, Replication.R_BEGINRECOVERY)
    assert replica.getlinkdetails(LINK_NAME)["statusMessage"] == "Recovering data"


# -- replica strategies, active/passive ----------------------------------------------------


def test_rs_read_allowed_reads_from_the_replica_and_writes_to_the_primary(
    ap: Deployment,
) -> None:
    stored_and_replicated(ap, "/rest/both", b"on both systems")
    target = ap.data(hcpsdk.RS_READ_ALLOWED)
    con, body = get(target, "/rest/both")
    assert (con.response_status, body) == (200, b"on both systems")
    assert con.answered_by is target.replica
    assert con.address in ap.hcp.replica_addresses
    con = put(target, "/rest/written", b"new")
    assert (con.response_status, con.answered_by) == (201, target)


def test_rs_read_on_failover_reads_from_the_replica_once_the_primary_is_down(
    ap: Deployment,
) -> None:
    stored_and_replicated(ap, "/rest/kept", b"kept on the replica")
    target = ap.data(hcpsdk.RS_READ_ON_FAILOVER)
    con, body = get(target, "/rest/kept")
    assert (con.response_status, con.answered_by) == (200, target)

    ap.take_primary_down()
    con, body = get(target, "/rest/kept")
    assert (con.response_status, body) == (200, b"kept on the replica")
    assert con.answered_by is target.replica
    # Every primary node is now avoided: the next read goes to the replica at once.
    con, body = get(target, "/rest/kept")
    assert (con.response_status, con.answered_by) == (200, target.replica)


def test_without_a_strategy_the_replica_is_never_used(ap: Deployment) -> None:
    stored_and_replicated(ap, "/rest/only-primary", b"data")
    target = ap.data(0)
    assert target.replica is not None
    ap.take_primary_down()
    with pytest.raises(hcpsdk.HcpsdkCantConnectError) as err:
        get(target, "/rest/only-primary")
    assert err.value.node in ap.hcp.addresses


def test_rs_write_on_failover_is_refused_until_the_link_fails_over(ap: Deployment) -> None:
    stored_and_replicated(ap, "/rest/before", b"before the failover")
    target = ap.data(hcpsdk.RS_READ_ON_FAILOVER | hcpsdk.RS_WRITE_ON_FAILOVER)
    ap.take_primary_down()

    # The replica of an active/passive link is read-only until the link fails over.
    con = put(target, "/rest/during", b"written during the outage")
    assert (con.response_status, con.answered_by) == (403, target.replica)
    assert con.getheader("X-HCP-ErrorMessage")

    ap.management(replica=True).setreplicationlinkstate(LINK_NAME, Replication.R_FAILOVER)
    con = put(target, "/rest/during", b"written during the outage")
    assert (con.response_status, con.answered_by) == (201, target.replica)
    for url, data in (("/rest/before", b"before the failover"),
                      ("/rest/during", b"written during the outage")):  # fmt: skip
        con, body = get(target, url)
        assert (con.response_status, body, con.answered_by) == (200, data, target.replica)


def test_rs_write_allowed_on_a_passive_link_meets_the_read_only_replica(
    ap: Deployment,
) -> None:
    target = ap.data(hcpsdk.RS_WRITE_ALLOWED)
    con = put(target, "/rest/refused", b"data")
    # A refusal is an answer, not a failure: the write does not move on to the primary.
    assert (con.response_status, con.answered_by) == (403, target.replica)


# -- replica strategies, active/active -----------------------------------------------------


def test_rs_write_allowed_writes_to_the_replica_of_an_active_active_link(
    aa: Deployment,
) -> None:
    target = aa.data(hcpsdk.RS_WRITE_ALLOWED)
    con = put(target, "/rest/from-the-replica", b"written on the replica")
    assert (con.response_status, con.answered_by) == (201, target.replica)
    assert aa.hcp.wait_replicated(5.0)
    con, body = get(aa.data(), "/rest/from-the-replica")
    assert (con.response_status, body) == (200, b"written on the replica")


def test_rs_write_on_failover_writes_to_the_other_active_system(aa: Deployment) -> None:
    target = aa.data(hcpsdk.RS_WRITE_ON_FAILOVER | hcpsdk.RS_READ_ON_FAILOVER)
    aa.take_primary_down()
    con = put(target, "/rest/outage", b"written while the primary is down")
    assert (con.response_status, con.answered_by) == (201, target.replica)
    con, body = get(target, "/rest/outage")
    assert (con.response_status, body) == (200, b"written while the primary is down")


def test_fail_over_and_back_on_an_active_active_link(aa: Deployment) -> None:
    primary = aa.management()
    assert primary.getlinkdetails(LINK_NAME)["type"] == Replication.R_ACTIVE_ACTIVE
    primary.setreplicationlinkstate(LINK_NAME, Replication.R_FAILOVER)
    assert primary.getlinkdetails(LINK_NAME)["statusMessage"] == "Failed over"
    primary.setreplicationlinkstate(LINK_NAME, Replication.R_FAILBACK)
    assert primary.getlinkdetails(LINK_NAME)["statusMessage"] == "Synchronizing data"
    with pytest.raises(mapi.ReplicationSettingsError):
        primary.setreplicationlinkstate(LINK_NAME, Replication.R_BEGINRECOVERY)
