"""``hcpfs.sdk.namespace.Info`` against the emulator's ``/proc`` documents: the dicts hold
every attribute HCP sent, numbers as int and flags as bool (docs/sdk.md, "Namespace
information")."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING
from xml.etree import ElementTree as ET

import pytest

import hcpfs.sdk as hcpsdk
from hcpfs.emulator import Emulator, UserConfig
from hcpfs.sdk import namespace

if TYPE_CHECKING:
    from conftest import Client

PERMISSIONS = frozenset(
    [
        "browse",
        "read",
        "write",
        "readAcl",
        "writeAcl",
        "changeOwner",
        "delete",
        "privileged",
        "purge",
        "search",
    ]
)
COUNTERS = (
    "objectCount",
    "usedCapacityBytes",
    "customMetadataObjectCount",
    "customMetadataObjectBytes",
    "shredObjectCount",
    "shredObjectBytes",
)
MASKS = (
    "namespacePermissions",
    "namespaceEffectivePermissions",
    "userPermissions",
    "userEffectivePermissions",
)


def expected(text: str) -> bool | int | str:
    """How a ``/proc`` attribute should come back: flags as bool, whole numbers as int."""
    if text in ("true", "false"):
        return text == "true"
    if text.lstrip("-").isdigit():
        return int(text)
    return text


def expected_attributes(element: ET.Element) -> dict[str, bool | int | str]:
    return {name: expected(value) for name, value in element.attrib.items() if "}" not in name}


@pytest.fixture
def target(hcp: Emulator) -> Iterator[hcpsdk.Target]:
    auth = hcpsdk.NativeAuthorization(hcp.user, hcp.password)
    made = hcpsdk.Target(hcp.host, auth, port=hcp.port, tls=False, lookup=lambda n: hcp.addresses)
    try:
        yield made
    finally:
        made.close()


def user_target(hcp: Emulator, user: str, password: str) -> hcpsdk.Target:
    auth = hcpsdk.NativeAuthorization(user, password)
    return hcpsdk.Target(hcp.host, auth, port=hcp.port, tls=False, lookup=lambda n: hcp.addresses)


def test_statistics_match_the_document(
    hcp: Emulator, client: Client, target: hcpsdk.Target
) -> None:
    client.put("/rest/stats/one", b"x" * 100)
    stats = namespace.Info(target).nsstatistics()
    document = client.request("GET", "/proc/statistics").xml()
    assert stats == expected_attributes(document)
    assert stats["namespaceName"] == "ns1"
    for name, value in stats.items():
        assert isinstance(value, str if name == "namespaceName" else int), name
        assert not isinstance(value, bool), name


def test_statistics_change_after_a_put_and_an_annotation(
    client: Client, target: hcpsdk.Target
) -> None:
    info = namespace.Info(target)
    before = info.nsstatistics()
    data, annotation = b"y" * 1000, b"<note>statistics</note>"
    with hcpsdk.Connection(target) as con:
        con.PUT("/rest/stats/two", body=data)
        con.read()
        assert con.response_status == 201
        con.PUT("/rest/stats/two", body=annotation, params={"type": "custom-metadata"})
        con.read()
        assert con.response_status == 201
    after = info.nsstatistics()
    grown = {name: int(after[name]) - int(before[name]) for name in after if name in COUNTERS}
    assert grown == {
        "objectCount": 1,
        "usedCapacityBytes": len(data) + len(annotation),
        "customMetadataObjectCount": 1,
        "customMetadataObjectBytes": len(annotation),
        "shredObjectCount": 0,
        "shredObjectBytes": 0,
    }
    assert info.service_time > 0


def test_settings_of_this_namespace_match_the_document(
    client: Client, target: hcpsdk.Target
) -> None:
    settings = namespace.Info(target).listaccessiblens()
    document = client.request("GET", "/proc?single=true").xml()
    (element,) = document.iter("namespace")
    assert list(settings) == ["ns1"]
    ns1 = settings["ns1"]
    assert ns1 == {**expected_attributes(element), "description": ["Default namespace"]}
    assert ns1["versioningEnabled"] is False
    assert ns1["searchEnabled"] is False
    assert ns1["dpl"] == 1
    assert ns1["hashScheme"] == "SHA-256"
    assert ns1["retentionMode"] == "enterprise"


def test_every_accessible_namespace_is_listed_with_all(target: hcpsdk.Target) -> None:
    settings = namespace.Info(target).listaccessiblens(all=True)
    assert sorted(settings) == ["ns1", "versioned"]
    assert settings["versioned"]["versioningEnabled"] is True
    assert settings["ns1"]["versioningEnabled"] is False


def test_a_description_is_split_into_parts(hcp: Emulator, target: hcpsdk.Target) -> None:
    config = hcp.system.namespace("dev", "ns1")
    assert config is not None
    config[1].description = "first part \N{DEGREE SIGN} second part"
    settings = namespace.Info(target).listaccessiblens()
    assert settings["ns1"]["description"] == ["first part", "second part"]


def test_permissions_are_four_masks_of_flags(client: Client, target: hcpsdk.Target) -> None:
    permissions = namespace.Info(target).listpermissions()
    document = client.request("GET", "/proc/permissions").xml()
    assert permissions == {child.tag: expected_attributes(child) for child in document}
    assert sorted(permissions) == sorted(MASKS)
    for mask in MASKS:
        assert set(permissions[mask]) == PERMISSIONS
        assert all(type(flag) is bool for flag in permissions[mask].values())
    assert set(permissions["userEffectivePermissions"].values()) == {True}


def test_permissions_of_a_user_with_fewer_rights(hcp: Emulator) -> None:
    tenant = hcp.system.config.tenant("dev")
    assert tenant is not None
    tenant.users.append(UserConfig("reader", "readpass", {"ns1": frozenset({"read", "browse"})}))
    with user_target(hcp, "reader", "readpass") as target:
        effective = namespace.Info(target).listpermissions()["userEffectivePermissions"]
    assert {name for name, granted in effective.items() if granted} == {"read", "browse"}


def test_retention_classes_match_the_document(client: Client, target: hcpsdk.Target) -> None:
    classes = namespace.Info(target).listretentionclasses()
    document = client.request("GET", "/proc/retentionClasses").xml()
    assert sorted(classes) == ["forever", "short"]
    for element in document.iter("retentionClass"):
        description = (element.findtext("description") or "").strip()
        name = element.get("name")
        assert classes[str(name)] == {**expected_attributes(element), "description": description}
    assert classes["short"]["value"] == "A+1d"
    assert classes["short"]["autoDelete"] is False
    assert classes["forever"]["value"] == -1


def test_a_user_without_access_gets_the_status_in_the_error(hcp: Emulator) -> None:
    tenant = hcp.system.config.tenant("dev")
    assert tenant is not None
    tenant.users.append(UserConfig("outsider", "outpass", {"versioned": frozenset({"read"})}))
    with (
        user_target(hcp, "outsider", "outpass") as target,
        pytest.raises(hcpsdk.HcpsdkError) as err,
    ):
        namespace.Info(target).nsstatistics()
    assert err.value.status == 401
    assert err.value.url == "/proc/statistics"
    assert err.value.error_message
    assert err.value.node == hcp.addresses[0]


def test_wrong_credentials_get_403(hcp: Emulator) -> None:
    with (
        user_target(hcp, hcp.user, "not the password") as target,
        pytest.raises(hcpsdk.HcpsdkError) as err,
    ):
        namespace.Info(target).listpermissions()
    assert err.value.status == 403
