"""/proc (hcp-protocol §10) and replication MAPI (§11.3-11.5) documents and requests."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from urllib3 import BaseHTTPResponse

import hcpfs.sdk as hcpsdk
from hcpfs.sdk import mapi, namespace, xmldoc
from hcpfs.sdk.mapi import Replication, ReplicationSettingsError
from hcpfs.sdk.testing import FakeNodes, FakeRequest, respond

NS_HOST = "finance.europe.hcp.example.com"
ADMIN_HOST = "admin.hcp.example.com"
NODES = ["127.0.0.2", "127.0.0.3"]

STATISTICS = b"""<?xml version="1.0" encoding="UTF-8"?>
<?xml-stylesheet type="text/xsl" href="/static/xsl/proc-statistics.xsl"?>
<statistics xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
            xsi:noNamespaceSchemaLocation="/static/xsd/proc-statistics.xsd"
            namespaceName="n1" totalCapacityBytes="53687091200"
            usedCapacityBytes="13792362496" softQuotaPercent="85"
            objectCount="402403" shredObjectCount="0" shredObjectBytes="0"
            customMetadataObjectCount="380107" customMetadataObjectBytes="13542405"/>
"""

NAMESPACES = """<?xml version="1.0" encoding="UTF-8"?>
<?xml-stylesheet type="text/xsl" href="/static/xsl/proc-namespaces.xsl"?>
<namespaces xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
            xsi:noNamespaceSchemaLocation="/static/xsd/proc-namespaces.xsd"
            tenantHostName="europe.hcp.example.com" httpScheme="https">
  <namespace name="finance" nameIDNA="finance" versioningEnabled="true" searchEnabled="true"
             retentionMode="enterprise" defaultShredValue="false" defaultIndexValue="true"
             defaultRetentionValue="0" hashScheme="SHA-256" dpl="2">
    <description><![CDATA[ replicated\u00b0search\u00b0versioning ]]></description>
  </namespace>
  <namespace name="hr" nameIDNA="hr" versioningEnabled="false" searchEnabled="false"
             retentionMode="compliance" defaultShredValue="true" defaultIndexValue="false"
             defaultRetentionValue="-1" hashScheme="MD5" dpl="1">
    <description><![CDATA[]]></description>
  </namespace>
</namespaces>
""".encode()

RETENTION_CLASSES = b"""<?xml version="1.0" encoding="UTF-8"?>
<retentionClasses xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
                  namespaceName="finance">
  <retentionClass name="TAX_DATA" value="A+10y" autoDelete="true">
    <description><![CDATA[Class for tax data]]></description>
  </retentionClass>
  <retentionClass name="deletion_prohibited" value="-1" autoDelete="false">
    <description><![CDATA[Class which prohibits deletion.]]></description>
  </retentionClass>
  <retentionClass name="initial_unspecified" value="-2" autoDelete="false">
    <description></description>
  </retentionClass>
</retentionClasses>
"""

FLAGS = ("browse", "read", "write", "readAcl", "writeAcl", "changeOwner", "delete",
         "privileged", "purge", "search")  # fmt: skip


def _mask(denied: str = "") -> str:
    return " ".join(f'{flag}="{"false" if flag == denied else "true"}"' for flag in FLAGS)


PERMISSIONS = f"""<?xml version="1.0" encoding="UTF-8"?>
<permissions xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
             xsi:noNamespaceSchemaLocation="/static/xsd/proc-permissions.xsd"
             namespaceName="finance">
  <namespacePermissions {_mask()}/>
  <namespaceEffectivePermissions {_mask()}/>
  <userPermissions {_mask("purge")}/>
  <userEffectivePermissions {_mask("purge")}/>
</permissions>
""".encode()

REPLICATION_SERVICE = b"""<replicationService>
  <allowTenantsToMonitorNamespaces>false</allowTenantsToMonitorNamespaces>
  <enableDNSFailover>true</enableDNSFailover>
  <network>[hcp_system]</network>
  <connectivityTimeoutSeconds>30</connectivityTimeoutSeconds>
  <status>ENABLED</status>
  <verification>ONCE</verification>
</replicationService>"""

LINKS = b"<links><name>MA-CA</name><name>to the lab</name></links>"

LINK = b"""<link>
  <compression>false</compression>
  <connection>
    <localHost>192.168.210.16, 192.168.210.17</localHost>
    <localPort>5748</localPort>
    <remoteHost>replication.admin.hcp-ca.example.com</remoteHost>
    <remotePort>5748</remotePort>
  </connection>
  <description>Active/active link between systems in MA and CA</description>
  <failoverSettings>
    <local><autoFailover>true</autoFailover><autoFailoverMinutes>60</autoFailoverMinutes></local>
    <remote><autoFailover>false</autoFailover><autoFailoverMinutes>120</autoFailoverMinutes></remote>
  </failoverSettings>
  <id>2de89eec-0ec0-4f98-b852-0778dfeee792</id>
  <name>MA-CA</name>
  <statistics>
    <bytesPending>189027593061</bytesPending>
    <operationsPerSecond>119.1</operationsPerSecond>
  </statistics>
  <status>GOOD</status>
  <suspended>false</suspended>
  <type>ACTIVE_ACTIVE</type>
</link>"""


def _target(
    host: str, port: int, handler: Callable[[FakeRequest], BaseHTTPResponse]
) -> tuple[hcpsdk.Target, FakeNodes]:
    nodes = FakeNodes(handler)
    auth = hcpsdk.NativeAuthorization("monitor", "secret")
    return hcpsdk.Target(host, auth, port, lookup=lambda name: NODES, pool_factory=nodes), nodes


def _serve(documents: dict[str, bytes]) -> Callable[[FakeRequest], BaseHTTPResponse]:
    def handler(request: FakeRequest) -> BaseHTTPResponse:
        if request.path in documents:
            return respond(200, documents[request.path], {"Content-Type": "application/xml"})
        return respond(404)

    return handler


def test_statistics_are_ints_without_schema_attributes() -> None:
    target, nodes = _target(NS_HOST, hcpsdk.P_HTTPS, _serve({"/proc/statistics": STATISTICS}))
    stats = namespace.Info(target).nsstatistics()
    assert stats == {
        "namespaceName": "n1",
        "totalCapacityBytes": 53687091200,
        "usedCapacityBytes": 13792362496,
        "softQuotaPercent": 85,
        "objectCount": 402403,
        "shredObjectCount": 0,
        "shredObjectBytes": 0,
        "customMetadataObjectCount": 380107,
        "customMetadataObjectBytes": 13542405,
    }
    assert nodes.requests[0].headers["Host"] == NS_HOST


def test_listaccessiblens_asks_for_this_namespace_unless_all() -> None:
    target, nodes = _target(NS_HOST, hcpsdk.P_HTTPS, _serve({"/proc": NAMESPACES}))
    info = namespace.Info(target)
    found = info.listaccessiblens()
    assert nodes.requests[-1].url == "/proc?single=true"
    info.listaccessiblens(all=True)
    assert nodes.requests[-1].url == "/proc"
    assert found["finance"] == {
        "name": "finance",
        "nameIDNA": "finance",
        "versioningEnabled": True,
        "searchEnabled": True,
        "retentionMode": "enterprise",
        "defaultShredValue": False,
        "defaultIndexValue": True,
        "defaultRetentionValue": 0,
        "hashScheme": "SHA-256",
        "dpl": 2,
        "description": ["replicated", "search", "versioning"],
    }
    assert found["hr"]["defaultRetentionValue"] == -1
    assert found["hr"]["description"] == []


def test_retention_classes_keep_expressions_as_text() -> None:
    root = xmldoc.parse(RETENTION_CLASSES)
    classes = namespace.parse_retention_classes(root)
    assert classes["TAX_DATA"] == {
        "name": "TAX_DATA",
        "value": "A+10y",
        "autoDelete": True,
        "description": "Class for tax data",
    }
    assert classes["deletion_prohibited"]["value"] == -1
    assert classes["initial_unspecified"]["value"] == -2
    assert classes["initial_unspecified"]["description"] == ""


def test_permissions_are_four_masks_of_ten_flags() -> None:
    target, _ = _target(NS_HOST, hcpsdk.P_HTTPS, _serve({"/proc/permissions": PERMISSIONS}))
    masks = namespace.Info(target).listpermissions()
    assert set(masks) == {
        "namespacePermissions",
        "namespaceEffectivePermissions",
        "userPermissions",
        "userEffectivePermissions",
    }
    assert masks["namespacePermissions"] == dict.fromkeys(FLAGS, True)
    assert masks["userEffectivePermissions"]["purge"] is False
    assert masks["userEffectivePermissions"]["read"] is True


def test_proc_refusal_carries_status_message_node_and_url() -> None:
    def refuse(request: FakeRequest) -> BaseHTTPResponse:
        return respond(401, headers={"X-HCP-ErrorMessage": "no access to namespace"})

    target, _ = _target(NS_HOST, hcpsdk.P_HTTPS, refuse)
    with pytest.raises(hcpsdk.HcpsdkError) as failure:
        namespace.Info(target).nsstatistics()
    error = failure.value
    assert (error.status, error.error_message) == (401, "no access to namespace")
    assert error.node in NODES
    assert error.url == "/proc/statistics"
    assert "401" in str(error)
    assert "no access to namespace" in str(error)


@pytest.mark.parametrize(
    "body", [b"<statistics", b'<!DOCTYPE x [<!ENTITY a "aaaa">]><statistics a="&a;"/>']
)
def test_malformed_or_doctype_documents_are_refused(body: bytes) -> None:
    with pytest.raises(xmldoc.XmlError):
        xmldoc.parse(body)


def test_replication_settings_and_links() -> None:
    documents = {
        mapi.REPLICATION: REPLICATION_SERVICE,
        mapi.LINKS: LINKS,
        f"{mapi.LINKS}/MA-CA": LINK,
    }
    target, nodes = _target(ADMIN_HOST, hcpsdk.P_MAPI, _serve(documents))
    replication = Replication(target)
    settings = replication.getreplicationsettings()
    assert settings["enableDNSFailover"] == "true"
    assert settings["network"] == "[hcp_system]"
    assert settings["verification"] == "ONCE"
    assert replication.getlinklist() == ["MA-CA", "to the lab"]
    link = replication.getlinkdetails("MA-CA")
    assert nodes.requests[-1].url == f"{mapi.LINKS}/MA-CA?verbose=true"
    assert link["type"] == "ACTIVE_ACTIVE"
    assert link["connection"] == {
        "localHost": "192.168.210.16, 192.168.210.17",
        "localPort": "5748",
        "remoteHost": "replication.admin.hcp-ca.example.com",
        "remotePort": "5748",
    }
    assert link["failoverSettings"] == {
        "local": {"autoFailover": "true", "autoFailoverMinutes": "60"},
        "remote": {"autoFailover": "false", "autoFailoverMinutes": "120"},
    }
    assert link["statistics"] == {"bytesPending": "189027593061", "operationsPerSecond": "119.1"}


def test_link_action_is_a_bodiless_post_with_a_bare_parameter() -> None:
    target, nodes = _target(ADMIN_HOST, hcpsdk.P_MAPI, lambda request: respond(200))
    Replication(target).setreplicationlinkstate("to the lab", Replication.R_SUSPEND)
    (request,) = nodes.requests
    assert request.method == "POST"
    assert request.url == f"{mapi.LINKS}/to%20the%20lab?suspend"
    assert request.body == b""
    assert request.headers["Host"] == ADMIN_HOST


def test_typed_action_without_type_looks_the_type_up_first() -> None:
    def handler(request: FakeRequest) -> BaseHTTPResponse:
        return respond(200, LINK if request.method == "GET" else b"")

    target, nodes = _target(ADMIN_HOST, hcpsdk.P_MAPI, handler)
    Replication(target).setreplicationlinkstate("MA-CA", Replication.R_FAILBACK)
    assert [r.method for r in nodes.requests] == ["GET", "POST"]
    assert nodes.requests[1].query == "failBack"
    with pytest.raises(ReplicationSettingsError):
        Replication(target).setreplicationlinkstate("MA-CA", Replication.R_BEGINRECOVERY)
    assert len(nodes.requests) == 3, "the refused action was not sent"


ALLOWED = {
    (Replication.R_FAILOVER, Replication.R_ACTIVE_ACTIVE),
    (Replication.R_FAILOVER, Replication.R_INBOUND),
    (Replication.R_FAILBACK, Replication.R_ACTIVE_ACTIVE),
    (Replication.R_BEGINRECOVERY, Replication.R_INBOUND),
    (Replication.R_COMPLETERECOVERY, Replication.R_INBOUND),
}
TYPES = (Replication.R_ACTIVE_ACTIVE, Replication.R_OUTBOUND, Replication.R_INBOUND)
UNTYPED = (Replication.R_SUSPEND, Replication.R_RESUME, Replication.R_RESTORE)
ACTIONS = sorted({*UNTYPED, *(action for action, _ in ALLOWED)})


@pytest.mark.parametrize("linktype", TYPES)
@pytest.mark.parametrize("action", ACTIONS)
def test_action_matrix(action: str, linktype: str) -> None:
    if action in UNTYPED or (action, linktype) in ALLOWED:
        mapi.check_action(action, linktype)
    else:
        with pytest.raises(ReplicationSettingsError):
            mapi.check_action(action, linktype)


@pytest.mark.parametrize(("action", "linktype"), [("explode", None), ("suspend", "SIDEWAYS")])
def test_unknown_action_or_type_is_a_value_error(action: str, linktype: str | None) -> None:
    with pytest.raises(ValueError, match="unknown"):
        mapi.check_action(action, linktype)


def test_link_action_refused_by_hcp_reports_status_and_message() -> None:
    def refuse(request: FakeRequest) -> BaseHTTPResponse:
        return respond(400, headers={"X-HCP-ErrorMessage": "link is not failed over"})

    target, _ = _target(ADMIN_HOST, hcpsdk.P_MAPI, refuse)
    with pytest.raises(hcpsdk.HcpsdkError) as failure:
        Replication(target).setreplicationlinkstate(
            "MA-CA", Replication.R_FAILBACK, Replication.R_ACTIVE_ACTIVE
        )
    assert failure.value.status == 400
    assert failure.value.error_message == "link is not failed over"


@pytest.mark.parametrize("port", [hcpsdk.P_HTTP, hcpsdk.P_HTTPS, hcpsdk.P_MGMT])
def test_replication_refuses_data_and_console_ports(port: int) -> None:
    target, _ = _target(ADMIN_HOST, port, lambda request: respond())
    with pytest.raises(hcpsdk.HcpsdkPortError):
        Replication(target)
    with pytest.raises(hcpsdk.HcpsdkPortError):
        hcpsdk.checkport(target, hcpsdk.P_MAPI)
