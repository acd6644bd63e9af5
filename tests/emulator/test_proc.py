"""Namespace information requests: /proc and its sub-resources (hcp-protocol §10)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hcpfs.emulator import Emulator, UserConfig
from hcpfs.emulator.config import PERMISSIONS
from hcpfs.emulator.credentials import hcp_token

if TYPE_CHECKING:
    from conftest import Client

XSI = "{http://www.w3.org/2001/XMLSchema-instance}noNamespaceSchemaLocation"
NAMESPACE_ATTRIBUTES = [
    "name", "nameIDNA", "versioningEnabled", "searchEnabled", "retentionMode",
    "defaultShredValue", "defaultIndexValue", "defaultRetentionValue", "hashScheme", "dpl",
]  # fmt: skip


def add_user(hcp: Emulator, name: str, grants: dict[str, frozenset[str]]) -> str:
    hcp.system.config.tenants[0].users.append(UserConfig(name, "pw", grants))
    return "HCP " + hcp_token(name, "pw")


def test_namespaces(client: Client) -> None:
    reply = client.request("GET", "/proc")
    assert reply.status == 200
    assert b'href="/static/xsl/proc-namespaces.xsl"' in reply.body
    root = reply.xml()
    assert root.tag == "namespaces"
    assert root.get(XSI) == "/static/xsd/proc-namespaces.xsd"
    assert (root.get("tenantHostName"), root.get("httpScheme")) == ("dev.hcp.example.com", "http")
    assert [ns.get("name") for ns in root] == ["ns1", "versioned"]
    ns1, versioned = root
    assert list(ns1.attrib) == NAMESPACE_ATTRIBUTES
    assert (ns1.get("versioningEnabled"), versioned.get("versioningEnabled")) == ("false", "true")
    assert ns1.get("retentionMode") == "enterprise" and ns1.get("hashScheme") == "SHA-256"
    assert ns1.get("defaultRetentionValue") == "0" and ns1.get("dpl") == "1"
    assert ns1.findtext("description") == "Default namespace"
    single = client.request("GET", "/proc?single=true").xml()
    assert [ns.get("name") for ns in single] == ["ns1"]


def test_namespaces_a_user_can_access(client: Client, hcp: Emulator) -> None:
    token = add_user(hcp, "limited", {"versioned": frozenset({"read"})})
    root = client.request("GET", "/proc", auth=token).xml()
    assert [ns.get("name") for ns in root] == ["versioned"]
    assert len(client.request("GET", "/proc?single=true", auth=token).xml()) == 0
    assert len(client.request("GET", "/proc", auth=None).xml()) == 0
    assert client.request("GET", "/proc", auth="HCP ZGV2:" + "0" * 32).status == 403


def test_statistics_count_objects_versions_and_annotations(client: Client) -> None:
    host = "versioned.dev.hcp.example.com"
    client.put("/rest/a", b"12345")
    client.put("/rest/a?type=custom-metadata", b"<x/>")
    client.put("/rest/v", b"1", host=host)
    client.put("/rest/v", b"22", host=host)
    client.request("DELETE", "/rest/v", host=host)
    root = client.request("GET", "/proc/statistics").xml()
    assert root.tag == "statistics" and len(root) == 0
    assert root.get("namespaceName") == "ns1"
    assert root.get("objectCount") == "1"
    assert root.get("usedCapacityBytes") == "9"
    assert root.get("totalCapacityBytes") == str(50 * 1024**3)
    assert root.get("softQuotaPercent") == "85"
    assert root.get("customMetadataObjectCount") == "1"
    assert root.get("customMetadataObjectBytes") == "4"
    assert (root.get("shredObjectCount"), root.get("shredObjectBytes")) == ("0", "0")
    other = client.request("GET", "/proc/statistics", host=host).xml()
    assert (other.get("objectCount"), other.get("usedCapacityBytes")) == ("2", "3")


def test_quota_is_enforced(client: Client, hcp: Emulator) -> None:
    namespace = hcp.system.config.tenants[0].namespace("ns1")
    assert namespace is not None
    namespace.hard_quota_bytes = 100
    assert client.put("/rest/a", b"x" * 90).status == 201
    assert client.put("/rest/b", b"x" * 20).status == 413
    assert client.request("GET", "/proc/statistics").xml().get("totalCapacityBytes") == "100"


def test_permissions(client: Client, hcp: Emulator) -> None:
    namespace = hcp.system.config.tenants[0].namespace("ns1")
    assert namespace is not None
    namespace.permissions = frozenset({"read", "write", "browse"})
    token = add_user(hcp, "some", {"ns1": frozenset({"read", "delete"})})
    root = client.request("GET", "/proc/permissions", auth=token).xml()
    assert root.tag == "permissions" and root.get("namespaceName") == "ns1"
    tags = [element.tag for element in root]
    assert tags == [
        "namespacePermissions",
        "namespaceEffectivePermissions",
        "userPermissions",
        "userEffectivePermissions",
    ]
    for element in root:
        assert list(element.attrib) == list(PERMISSIONS)
    granted = {
        tag: {k for k, v in e.attrib.items() if v == "true"}
        for tag, e in zip(tags, root, strict=True)
    }
    assert granted["namespacePermissions"] == {"read", "write", "browse"}
    assert granted["userPermissions"] == {"read", "delete"}
    assert granted["userEffectivePermissions"] == {"read"}


def test_retention_classes(client: Client) -> None:
    root = client.request("GET", "/proc/retentionClasses").xml()
    assert root.tag == "retentionClasses" and root.get("namespaceName") == "ns1"
    classes = [(c.get("name"), c.get("value"), c.get("autoDelete")) for c in root]
    assert classes == [("short", "A+1d", "false"), ("forever", "-1", "false")]
    assert root[0].findtext("description") == "One day, for trying retention"


def test_no_access_is_401(client: Client, hcp: Emulator) -> None:
    token = add_user(hcp, "elsewhere", {"versioned": frozenset({"read"})})
    for resource in ("statistics", "permissions", "retentionClasses"):
        assert client.request("GET", f"/proc/{resource}", auth=token).status == 401
        assert client.request("GET", f"/proc/{resource}", auth=None).status == 401
        bad = client.request("GET", f"/proc/{resource}", auth="HCP ZGV2:" + "0" * 32)
        assert bad.status == 403


def test_unknown_resources_and_methods(client: Client) -> None:
    assert client.request("GET", "/proc/nothing").status == 404
    assert client.request("POST", "/proc").status == 405
    assert client.request("GET", "/proc?colour=red").status == 400
    assert client.request("HEAD", "/proc/statistics").status == 200
