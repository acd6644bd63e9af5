"""The management API's replication resources (hcp-protocol §11), without sockets."""

from __future__ import annotations

import json
import logging
import xml.etree.ElementTree as ET
from collections.abc import Mapping

import pytest

from hcpfs.emulator import credentials
from hcpfs.emulator.mapi import (
    SECURITY_HEADERS,
    ManagementApi,
    MapiRequest,
    MapiResponse,
    MapiUser,
)
from hcpfs.emulator.replication import (
    Link,
    LinkState,
    LinkType,
    ReplicationService,
    ServiceStatus,
    SystemEndpoint,
    Topology,
    Verification,
)

BASE = "/mapi/services/replication"
A = SystemEndpoint("hcp-a", "hcp-a.example.com", ("127.0.0.1", "127.0.0.2"))
B = SystemEndpoint("hcp-b", "hcp-b.example.com", ("127.0.1.1",))
C = SystemEndpoint("hcp-c", "hcp-c.example.com", ("127.0.2.1",))
PASSWORDS = {"admin": "s3cret-admin", "watcher": "s3cret-watch", "auditor": "s3cret-audit"}
USERS = [
    MapiUser("admin", PASSWORDS["admin"], frozenset({"administrator"})),
    MapiUser("watcher", PASSWORDS["watcher"], frozenset({"monitor"})),
    MapiUser("auditor", PASSWORDS["auditor"], frozenset({"compliance"})),
]

LINK_CHILDREN = [
    "compression",
    "connection",
    "description",
    "encryption",
    "failoverSettings",
    "name",
    "priority",
    "type",
]
VERBOSE_LINK_CHILDREN = [
    "compression",
    "connection",
    "description",
    "encryption",
    "failoverSettings",
    "id",
    "name",
    "priority",
    "statistics",
    "status",
    "statusMessage",
    "suspended",
    "type",
]
STATISTICS_CHILDREN = [
    "upToDateAsOfString",
    "upToDateAsOfMillis",
    "bytesPending",
    "bytesPendingRemote",
    "bytesReplicated",
    "bytesPerSecond",
    "objectsPending",
    "objectsPendingRemote",
    "objectsReplicated",
    "operationsPerSecond",
    "errors",
    "errorsPerSecond",
    "objectsVerified",
    "objectsReplicatedAfterVerification",
]
NEW_LINK = (
    b"<link><name>MA CA</name><type>outbound</type><description>to CA</description>"
    b"<connection><remoteHost>replication.hcp-b.example.com</remoteHost></connection>"
    b"<failoverSettings><remote><autoFailover>true</autoFailover>"
    b"<autoFailoverMinutes>60</autoFailoverMinutes></remote></failoverSettings></link>"
)


class Systems:
    """Three systems sharing one topology, each with its management API."""

    def __init__(self) -> None:
        self.topology = Topology([A, B, C])
        self.services = {s.name: ReplicationService() for s in (A, B, C)}
        self.apis = {
            s.name: ManagementApi(s.name, USERS, self.services[s.name], self.topology)
            for s in (A, B, C)
        }

    def call(
        self,
        method: str,
        path: str,
        *,
        system: str = "hcp-a",
        query: Mapping[str, str | None] | None = None,
        headers: Mapping[str, str] | None = None,
        body: bytes = b"",
        user: str | None = "admin",
        content_type: str | None = None,
    ) -> MapiResponse:
        sent = dict(headers or {})
        if user is not None:
            sent["Authorization"] = "HCP " + credentials.hcp_token(user, PASSWORDS[user])
        if content_type is not None:
            sent["Content-Type"] = content_type
        request = MapiRequest(method, path, query or {}, sent, body)
        return self.apis[system].handle(request)

    def xml(
        self, path: str, *, system: str = "hcp-a", query: Mapping[str, str | None] | None = None
    ) -> ET.Element:
        response = self.call("GET", path, system=system, query=query)
        assert response.status == 200, response.headers.get("X-HCP-ErrorMessage")
        assert response.headers["Content-Type"].startswith("application/xml")
        return ET.fromstring(response.body)

    def json(
        self, path: str, *, system: str = "hcp-a", query: Mapping[str, str | None] | None = None
    ) -> object:
        accept = {"Accept": "application/json"}
        response = self.call("GET", path, system=system, query=query, headers=accept)
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("application/json")
        return json.loads(response.body)

    def link(self, name: str = "MA CA") -> Link:
        link = self.topology.find(name)
        assert link is not None
        return link


@pytest.fixture
def hcp() -> Systems:
    return Systems()


@pytest.fixture
def linked(hcp: Systems) -> Systems:
    response = hcp.call("PUT", BASE + "/links", body=NEW_LINK, content_type="application/xml")
    assert response.status == 200, response.headers.get("X-HCP-ErrorMessage")
    return hcp


def children(element: ET.Element | None) -> list[str]:
    assert element is not None
    return [child.tag for child in element]


def error_of(response: MapiResponse) -> str:
    return response.headers.get("X-HCP-ErrorMessage", "")


# -- authentication and roles (§11.1) ------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "HCP all_users:"},
        {"Authorization": "HCP " + credentials.hcp_token("admin", "wrong")},
        {"Authorization": "HCP " + credentials.hcp_token("nobody", "x")},
        {"Authorization": "Basic YWRtaW46eA=="},
        {"Authorization": "HCP not-base64!:abc"},
        {"Cookie": "hcp-ns-auth=" + credentials.hcp_token("admin", PASSWORDS["admin"])},
    ],
)
@pytest.mark.parametrize("method", ["GET", "HEAD", "POST"])
def test_missing_or_invalid_credentials_get_403(
    hcp: Systems, headers: dict[str, str], method: str
) -> None:
    response = hcp.call(method, BASE, headers=headers, user=None)
    assert response.status == 403
    assert error_of(response)
    assert response.body == b""


def test_management_cookie_and_active_directory_forms_are_accepted(hcp: Systems) -> None:
    cookie = "hcp-api-auth=" + credentials.hcp_token("watcher", PASSWORDS["watcher"])
    assert hcp.call("GET", BASE, headers={"Cookie": cookie}, user=None).status == 200
    ad = {"Authorization": f"AD watcher:{PASSWORDS['watcher']}"}
    assert hcp.call("GET", BASE, headers=ad, user=None).status == 200


def test_header_names_are_case_insensitive(hcp: Systems) -> None:
    token = "HCP " + credentials.hcp_token("admin", PASSWORDS["admin"])
    response = hcp.call("GET", BASE, headers={"authorization": token}, user=None)
    assert response.status == 200


def test_account_without_monitor_or_administrator_role_is_refused(hcp: Systems) -> None:
    assert hcp.call("GET", BASE, user="auditor").status == 403


def test_monitor_reads_but_may_not_act(linked: Systems) -> None:
    assert linked.call("GET", BASE + "/links/MA%20CA", user="watcher").status == 200
    assert linked.call("HEAD", BASE + "/links/MA%20CA", user="watcher").status == 200
    refused = linked.call("POST", BASE + "/links/MA%20CA", query={"suspend": None}, user="watcher")
    assert refused.status == 403 and "monitor" in error_of(refused)
    assert not linked.link().suspended
    assert linked.call("DELETE", BASE + "/links/MA%20CA", user="watcher").status == 403
    put = linked.call(
        "PUT", BASE + "/links", body=NEW_LINK, content_type="application/xml", user="watcher"
    )
    assert put.status == 403
    assert linked.topology.find("MA CA") is not None


def test_every_response_carries_version_and_security_headers(linked: Systems) -> None:
    responses = [
        linked.call("GET", BASE),
        linked.call("GET", BASE, user=None),
        linked.call("HEAD", BASE + "/links/missing"),
        linked.call("POST", BASE + "/links/MA%20CA", query={"suspend": None}),
        linked.call("DELETE", BASE),
    ]
    for response in responses:
        assert response.headers["X-HCP-SoftwareVersion"] == "9.0.0.2"
        for name, value in SECURITY_HEADERS.items():
            assert response.headers[name] == value
        assert response.headers["Content-Length"] == str(len(response.body))


def test_credentials_never_reach_the_logs(
    linked: Systems, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="hcpfs")
    token = credentials.hcp_token("admin", PASSWORDS["admin"])
    linked.call("GET", BASE + "/links/MA%20CA", query={"verbose": "true"})
    linked.call("POST", BASE + "/links/MA%20CA", query={"suspend": None})
    linked.call(
        "GET", BASE, headers={"Authorization": f"AD admin:{PASSWORDS['admin']}"}, user=None
    )
    linked.call("GET", BASE, headers={"Authorization": "HCP " + token[:-1] + "0"}, user=None)
    text = caplog.text
    for secret in [*PASSWORDS.values(), token, token.split(":")[1], token.split(":")[0]]:
        assert secret not in text
    lines = [r.getMessage() for r in caplog.records if r.name == "hcpfs.emulator.mapi"]
    assert len(lines) == 4
    assert lines[0].startswith("GET /mapi/services/replication/links/MA%20CA -> 200")
    assert lines[3].startswith("GET /mapi/services/replication -> 403")


def test_user_repr_masks_the_password() -> None:
    assert PASSWORDS["admin"] not in repr(USERS[0])
    request = MapiRequest("GET", BASE, {}, {"Authorization": "AD admin:hunter2"})
    assert "hunter2" not in repr(request)


# -- replication service (§11.3) -----------------------------------------------------------

SERVICE_CHILDREN = [
    "allowTenantsToMonitorNamespaces",
    "enableDNSFailover",
    "network",
    "connectivityTimeoutSeconds",
    "verification",
]


def test_get_service_settings(hcp: Systems) -> None:
    root = hcp.xml(BASE)
    assert root.tag == "replicationService"
    assert children(root) == SERVICE_CHILDREN
    assert root.findtext("connectivityTimeoutSeconds") == "30"
    assert root.findtext("enableDNSFailover") == "false"


@pytest.mark.parametrize(("value", "shown"), [("true", True), ("TRUE", True), ("yes", False)])
def test_verbose_adds_status_and_invalid_booleans_count_as_false(
    hcp: Systems, value: str, shown: bool
) -> None:
    root = hcp.xml(BASE, query={"verbose": value, "unknownParameter": "1"})
    expected = [*SERVICE_CHILDREN[:4], "status", "verification"] if shown else SERVICE_CHILDREN
    assert children(root) == expected
    if shown:
        assert root.findtext("status") == "ENABLED"


def test_service_settings_as_json(hcp: Systems) -> None:
    body = hcp.json(BASE, query={"verbose": "true"})
    assert body == {
        "allowTenantsToMonitorNamespaces": False,
        "enableDNSFailover": False,
        "network": "[hcp_system]",
        "connectivityTimeoutSeconds": 30,
        "status": "ENABLED",
        "verification": "OFF",
    }


def test_post_service_settings_changes_only_what_is_given(hcp: Systems) -> None:
    body = b"<replicationService><enableDNSFailover>true</enableDNSFailover>" + (
        b"<verification>once</verification></replicationService>"
    )
    response = hcp.call("POST", BASE, body=body, content_type="application/xml; charset=UTF-8")
    assert (response.status, response.headers["Content-Length"]) == (200, "0")
    settings = hcp.services["hcp-a"].settings
    assert settings.enable_dns_failover and settings.verification is Verification.ONCE
    assert settings.connectivity_timeout_seconds == 30
    assert not hcp.services["hcp-b"].settings.enable_dns_failover
    as_json = json.dumps({"connectivityTimeoutSeconds": 45}).encode()
    assert hcp.call("POST", BASE, body=as_json, content_type="application/json").status == 200
    assert hcp.services["hcp-a"].settings.connectivity_timeout_seconds == 45


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        (b"<replicationService><status>SHUTDOWN</status></replicationService>", "xml", 403),
        (b"<replicationService><colour>blue</colour></replicationService>", "xml", 400),
        (
            b"<replicationService><enableDNSFailover>maybe</enableDNSFailover>"
            b"</replicationService>",
            "xml",
            400,
        ),
        (
            b"<replicationService><verification>SOMETIMES</verification></replicationService>",
            "xml",
            400,
        ),
        (
            b"<replicationService><connectivityTimeoutSeconds>0</connectivityTimeoutSeconds>"
            b"</replicationService>",
            "xml",
            400,
        ),
        (b"<link><network>x</network></link>", "xml", 400),
        (b"<replicationService><network>x</network>", "xml", 400),
        (b'{"network": [1, 2]}', "json", 400),
        (b"[]", "json", 400),
        (b"<replicationService/>", None, 415),
        (b"<replicationService/>", "text/plain", 415),
    ],
)
def test_post_service_settings_refusals(
    hcp: Systems, body: bytes, content_type: str | None, status: int
) -> None:
    types = {"xml": "application/xml", "json": "application/json"}
    sent = types.get(content_type or "", content_type)
    response = hcp.call("POST", BASE, body=body, content_type=sent)
    assert response.status == status
    assert error_of(response)
    assert hcp.services["hcp-a"].settings.network == "[hcp_system]"


def test_doctype_is_refused(hcp: Systems) -> None:
    body = (
        b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY e "x">]>'
        b"<replicationService><network>&e;</network></replicationService>"
    )
    assert hcp.call("POST", BASE, body=body, content_type="application/xml").status == 400


def test_shut_down_and_reestablish_all_links(linked: Systems) -> None:
    response = linked.call("POST", BASE, query={"shutDownAllLinks": "planned maintenance"})
    assert (response.status, response.headers["Content-Length"]) == (200, "0")
    service = linked.services["hcp-a"]
    assert service.status is ServiceStatus.SHUTDOWN
    assert service.shutdown_reason == "planned maintenance"
    assert linked.xml(BASE, query={"verbose": "true"}).findtext("status") == "SHUTDOWN"
    link = linked.xml(BASE + "/links/MA%20CA", query={"verbose": "true"}, system="hcp-b")
    assert (link.findtext("suspended"), link.findtext("statusMessage")) == (
        "true",
        "Suspended by user",
    )
    assert linked.call("POST", BASE, query={"reestablishAllLinks": None}).status == 200
    assert service.status.value == "ENABLED"
    assert not linked.link().suspended


def test_shut_down_refusals(linked: Systems) -> None:
    with_body = linked.call(
        "POST",
        BASE,
        query={"shutDownAllLinks": "x"},
        body=b"<replicationService/>",
        content_type="application/xml",
    )
    assert with_body.status == 400
    too_long = linked.call("POST", BASE, query={"shutDownAllLinks": "x" * 1025})
    assert too_long.status == 400
    both = linked.call("POST", BASE, query={"shutDownAllLinks": "x", "reestablishAllLinks": None})
    assert both.status == 400
    assert linked.services["hcp-a"].status is ServiceStatus.ENABLED
    assert not linked.link().suspended


# -- links (§11.4) -------------------------------------------------------------------------


def test_created_link_as_each_side_sees_it(linked: Systems) -> None:
    primary = linked.xml(BASE + "/links/MA%20CA")
    assert primary.tag == "link"
    assert children(primary) == LINK_CHILDREN
    assert primary.findtext("type") == "OUTBOUND"
    assert primary.findtext("description") == "to CA"
    assert children(primary.find("connection")) == [
        "localHost",
        "localPort",
        "remoteHost",
        "remotePort",
    ]
    assert primary.findtext("connection/localHost") == "127.0.0.1, 127.0.0.2"
    assert primary.findtext("connection/remoteHost") == "replication.hcp-b.example.com"
    assert primary.findtext("connection/remotePort") == "5748"
    assert children(primary.find("failoverSettings")) == ["remote"]
    assert primary.findtext("failoverSettings/remote/autoFailoverMinutes") == "60"
    assert children(primary.find("failoverSettings/remote")) == [
        "autoFailover",
        "autoFailoverMinutes",
        "autoCompleteRecovery",
        "autoCompleteRecoveryMinutes",
    ]

    replica = linked.xml(BASE + "/links/ma%20ca", system="hcp-b")
    assert replica.findtext("type") == "INBOUND"
    assert replica.findtext("connection/remoteHost") == "replication.hcp-a.example.com"
    assert children(replica.find("failoverSettings")) == ["local"]
    assert replica.findtext("failoverSettings/local/autoFailover") == "true"


def test_verbose_link_has_read_only_properties(linked: Systems) -> None:
    root = linked.xml(BASE + "/links/MA%20CA", query={"verbose": "true"})
    assert children(root) == VERBOSE_LINK_CHILDREN
    assert root.findtext("id") == linked.link().id
    statistics = root.find("statistics")
    assert statistics is not None and children(statistics) == STATISTICS_CHILDREN
    assert (root.findtext("status"), root.findtext("statusMessage")) == (
        "GOOD",
        "Synchronizing data",
    )
    assert root.findtext("suspended") == "false"


def test_link_as_json(linked: Systems) -> None:
    body = linked.json(BASE + "/links/MA%20CA", query={"verbose": "true"}, system="hcp-b")
    assert isinstance(body, dict)
    assert list(body) == VERBOSE_LINK_CHILDREN
    assert body["type"] == "INBOUND" and body["compression"] is False
    assert body["connection"]["localPort"] == 5748
    assert body["failoverSettings"] == {
        "local": {
            "autoFailover": True,
            "autoFailoverMinutes": 60,
            "autoCompleteRecovery": False,
            "autoCompleteRecoveryMinutes": 120,
        }
    }
    assert list(body["statistics"]) == STATISTICS_CHILDREN


def test_link_list_in_xml_and_json(linked: Systems) -> None:
    linked.topology.create_link("B-C", "hcp-b", "hcp-c", LinkType.ACTIVE_ACTIVE)
    root = linked.xml(BASE + "/links", system="hcp-b")
    assert root.tag == "links"
    assert [(c.tag, c.text) for c in root] == [("name", "B-C"), ("name", "MA CA")]
    assert linked.json(BASE + "/links") == {"name": ["MA CA"]}
    assert linked.json(BASE + "/links", system="hcp-c") == {"name": ["B-C"]}


def test_links_of_other_systems_are_invisible(linked: Systems) -> None:
    assert linked.call("GET", BASE + "/links/MA%20CA", system="hcp-c").status == 404
    assert linked.call("DELETE", BASE + "/links/MA%20CA", system="hcp-c").status == 404


def test_create_link_from_json(hcp: Systems) -> None:
    body = {
        "name": "AA",
        "type": "ACTIVE_ACTIVE",
        "compression": True,
        "priority": "fair",
        "connection": {"remoteHost": "127.0.1.1", "remotePort": 5749},
    }
    response = hcp.call(
        "PUT", BASE + "/links", body=json.dumps(body).encode(), content_type="application/json"
    )
    assert response.status == 200
    link = hcp.topology.get("aa")
    view = link.view("hcp-b")
    assert (view.type, view.compression, view.priority.value) == (
        LinkType.ACTIVE_ACTIVE,
        True,
        "FAIR",
    )
    assert view.connection.local_port == 5749


def test_create_existing_link_is_a_conflict(linked: Systems) -> None:
    # Names are unique in the whole topology, whichever systems the new link would join.
    again = NEW_LINK.replace(b"MA CA", b"ma ca").replace(b"hcp-b", b"hcp-c")
    response = linked.call(
        "PUT", BASE + "/links", body=again, content_type="application/xml", system="hcp-b"
    )
    assert response.status == 409 and error_of(response)


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (
            b"<link><name>x</name><connection><remoteHost>replication.hcp-b.example.com"
            b"</remoteHost></connection></link>",
            400,
        ),
        (b"<link><name>x</name><type>OUTBOUND</type></link>", 400),
        (
            b"<link><name>x</name><type>OUTBOUND</type><connection><remoteHost>"
            b"replication.nowhere.example.com</remoteHost></connection></link>",
            400,
        ),
        (
            b"<link><name>x</name><type>OUTBOUND</type><connection><remoteHost>"
            b"replication.hcp-a.example.com</remoteHost></connection></link>",
            400,
        ),
        (
            b"<link><name>x</name><type>SIDEWAYS</type><connection><remoteHost>"
            b"replication.hcp-b.example.com</remoteHost></connection></link>",
            400,
        ),
        (
            b"<link><name>x</name><type>OUTBOUND</type><connection><remoteHost>"
            b"replication.hcp-b.example.com</remoteHost><remotePort>http</remotePort>"
            b"</connection></link>",
            400,
        ),
        (
            b"<link><name>x</name><type>OUTBOUND</type><connection><remoteHost>"
            b"replication.hcp-b.example.com</remoteHost></connection>"
            b"<failoverSettings><remote><autoFailoverMinutes>5</autoFailoverMinutes></remote>"
            b"</failoverSettings></link>",
            400,
        ),
        (
            b"<link><name>x</name><type>OUTBOUND</type><id>1</id><connection><remoteHost>"
            b"replication.hcp-b.example.com</remoteHost></connection></link>",
            403,
        ),
        (b"<link><name>x</name><type>OUTBOUND</type><name>y</name></link>", 400),
        (b"<replicationService/>", 400),
        (b"not xml", 400),
    ],
)
def test_create_link_refusals(hcp: Systems, body: bytes, status: int) -> None:
    response = hcp.call("PUT", BASE + "/links", body=body, content_type="application/xml")
    assert response.status == status
    assert error_of(response)
    assert hcp.topology.links_of("hcp-a") == []


def test_head_and_get_of_a_link(linked: Systems) -> None:
    get = linked.call("GET", BASE + "/links/MA%20CA")
    head = linked.call("HEAD", BASE + "/links/MA%20CA")
    assert (head.status, head.body) == (200, b"")
    assert head.headers["Content-Length"] == str(len(get.body))
    missing_head = linked.call("HEAD", BASE + "/links/nothing")
    assert (missing_head.status, missing_head.body) == (302, b"")
    missing_get = linked.call("GET", BASE + "/links/nothing")
    assert missing_get.status == 404 and error_of(missing_get)


def test_link_names_are_percent_decoded_and_case_insensitive(hcp: Systems) -> None:
    body = NEW_LINK.replace(b"MA CA", "Zürich/1".encode())
    assert (
        hcp.call("PUT", BASE + "/links", body=body, content_type="application/xml").status == 200
    )
    root = hcp.xml(BASE + "/links/Z%C3%9CRICH%2F1")
    assert root.findtext("name") == "Zürich/1"
    bad = hcp.call("GET", BASE + "/links/%FF")
    assert bad.status == 400


def test_modify_link_with_a_body(linked: Systems) -> None:
    body = b"<link><description>new</description><type>ACTIVE_ACTIVE</type></link>"
    response = linked.call(
        "POST", BASE + "/links/MA%20CA", body=body, content_type="application/xml", system="hcp-b"
    )
    assert (response.status, response.headers["Content-Length"]) == (200, "0")
    view = linked.link().view("hcp-a")
    assert (view.description, view.type) == ("new", LinkType.ACTIVE_ACTIVE)
    rename = linked.call(
        "POST",
        BASE + "/links/MA%20CA",
        body=b"<link><name>other</name></link>",
        content_type="application/xml",
    )
    assert rename.status == 400


def test_delete_link(linked: Systems) -> None:
    response = linked.call("DELETE", BASE + "/links/ma%20CA", system="hcp-b")
    assert (response.status, response.headers["Content-Length"]) == (200, "0")
    assert linked.call("GET", BASE + "/links/MA%20CA").status == 404
    assert linked.call("DELETE", BASE + "/links/MA%20CA").status == 404


# -- link actions (§11.5) ------------------------------------------------------------------


def test_actions_through_the_whole_active_passive_cycle(linked: Systems) -> None:
    steps = [
        ("failOver", LinkState.FAILED_OVER, "Failed over"),
        ("beginRecover", LinkState.RECOVERING, "Recovering data"),
        ("completeRecovery", LinkState.COMPLETING_RECOVERY, "Completing recovery"),
    ]
    for action, state, message in steps:
        response = linked.call(
            "POST", BASE + "/links/MA%20CA", query={action: None}, system="hcp-b"
        )
        assert (response.status, response.body) == (200, b"")
        assert response.headers["Content-Length"] == "0"
        assert linked.link().state is state
        shown = linked.xml(BASE + "/links/MA%20CA", query={"verbose": "true"})
        assert shown.findtext("statusMessage") == message
    linked.link().finish_recovery()
    assert linked.link().writable("hcp-a")


def test_unknown_query_parameters_are_ignored_next_to_an_action(linked: Systems) -> None:
    response = linked.call(
        "POST", BASE + "/links/MA%20CA", query={"suspend": None, "prettyprint": None}
    )
    assert response.status == 200
    assert linked.link().suspended


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ({"failBack": None}, "failBack"),
        ({"failOver": None}, "replica"),
        ({"completeRecovery": None}, "completeRecovery"),
        ({"explode": None}, "explode"),
        ({}, "none"),
        ({"suspend": None, "resume": None}, "exactly one"),
    ],
)
def test_refused_actions_get_400_with_a_message(
    linked: Systems, query: dict[str, str | None], words: str
) -> None:
    response = linked.call("POST", BASE + "/links/MA%20CA", query=query)
    assert response.status == 400
    assert words in error_of(response)
    assert linked.link().state is LinkState.NORMAL and not linked.link().suspended


def test_an_action_with_a_body_is_refused(linked: Systems) -> None:
    response = linked.call(
        "POST",
        BASE + "/links/MA%20CA",
        query={"suspend": None},
        body=b"<link/>",
        content_type="application/xml",
    )
    assert response.status == 400
    assert not linked.link().suspended


def test_action_on_a_missing_link_is_404(linked: Systems) -> None:
    response = linked.call("POST", BASE + "/links/nothing", query={"suspend": None})
    assert response.status == 404


# -- tenants on a link ---------------------------------------------------------------------


def test_tenant_control(linked: Systems) -> None:
    tenants = BASE + "/links/MA%20CA/content/tenants"
    assert linked.call("PUT", tenants + "/finance").status == 200
    assert linked.call("PUT", tenants + "/finance").status == 409
    assert linked.json(tenants) == {"name": ["finance"]}
    root = linked.xml(tenants + "/finance", system="hcp-b")
    assert root.tag == "tenant"
    assert children(root) == [
        "status",
        "upToDateAsOfString",
        "upToDateAsOfMillis",
        "objectsPending",
        "bytesPending",
        "objectsPendingRemote",
        "bytesPendingRemote",
    ]
    assert root.findtext("status") == "REPLICATING"

    assert linked.call("POST", tenants + "/finance", query={"pause": None}).status == 200
    assert linked.xml(tenants + "/finance").findtext("status") == "PAUSED"
    assert linked.call("POST", tenants + "/finance", query={"resume": None}).status == 200
    assert linked.xml(tenants + "/finance").findtext("status") == "REPLICATING"
    assert linked.call("POST", tenants + "/finance").status == 400
    refused = linked.call("POST", tenants + "/finance", query={"pause": None}, user="watcher")
    assert refused.status == 403
    assert linked.call("GET", tenants + "/payroll").status == 404
    assert linked.call("HEAD", tenants + "/payroll").status == 302
    assert linked.call("DELETE", tenants + "/finance").status == 200
    assert linked.json(tenants) == {"name": []}


# -- methods, paths, formats ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("PUT", BASE),
        ("DELETE", BASE),
        ("DELETE", BASE + "/links"),
        ("POST", BASE + "/links"),
        ("PUT", BASE + "/links/MA%20CA"),
        ("POST", BASE + "/links/MA%20CA/content/tenants"),
    ],
)
def test_unsupported_methods_get_405(linked: Systems, method: str, path: str) -> None:
    response = linked.call(method, path)
    assert response.status == 405
    assert "GET" in response.headers["Allow"]
    assert error_of(response)


@pytest.mark.parametrize(
    "path",
    [
        "/mapi/tenants",
        "/mapi/services/other",
        "/rest/services/replication",
        BASE + "/certificates",
        BASE + "/links/MA%20CA/schedule",
        BASE + "/links/MA%20CA/content/tenants/finance/extra",
        BASE + "//links",
    ],
)
def test_unknown_resources_get_404(linked: Systems, path: str) -> None:
    assert linked.call("GET", path).status == 404


def test_too_long_path_gets_414(hcp: Systems) -> None:
    assert hcp.call("GET", BASE + "/links/" + "x" * 4096).status == 414


def test_prettyprint_output_still_parses(linked: Systems) -> None:
    response = linked.call("GET", BASE + "/links/MA%20CA", query={"prettyprint": None})
    assert b"\n  <connection>" in response.body
    assert ET.fromstring(response.body).findtext("name") == "MA CA"


def test_unexpected_failures_become_500(
    linked: Systems, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    def explode(system: str) -> list[Link]:
        raise RuntimeError("topology lost")

    monkeypatch.setattr(linked.topology, "links_of", explode)
    response = linked.call("GET", BASE + "/links")
    assert response.status == 500
    assert response.headers["X-HCP-SoftwareVersion"] == "9.0.0.2"
    assert "topology lost" in caplog.text
