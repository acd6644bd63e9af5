"""Authentication and data access permissions over REST (hcp-protocol §1.4, §2, §17)."""

from __future__ import annotations

import base64
import hashlib
from typing import TYPE_CHECKING

import pytest

from hcpfs.emulator import Emulator, UserConfig
from hcpfs.emulator.config import NamespaceConfig

if TYPE_CHECKING:
    from conftest import Client

VERSIONED = "versioned.dev.hcp.example.com"


def add_user(hcp: Emulator, name: str, *permissions: str, namespace: str = "ns1") -> str:
    """Add a user to tenant dev with ``permissions`` on ``namespace``; return its token."""
    tenant = hcp.system.config.tenants[0]
    tenant.users.append(UserConfig(name, "pw-" + name, {namespace: frozenset(permissions)}))
    return (
        "HCP "
        + base64.b64encode(name.encode()).decode()
        + ":"
        + hashlib.md5(f"pw-{name}".encode()).hexdigest()
    )


def ns1(hcp: Emulator) -> NamespaceConfig:
    namespace = hcp.system.config.tenants[0].namespace("ns1")
    assert namespace is not None
    return namespace


def test_hcp_token_with_either_hex_case(client: Client, hcp: Emulator) -> None:
    encoded = base64.b64encode(b"dev").decode()
    digest = hashlib.md5(b"devpass").hexdigest()
    for secret in (digest, digest.upper()):
        assert client.request("GET", "/rest", auth=f"HCP {encoded}:{secret}").status == 200


@pytest.mark.parametrize(
    "authorization",
    [
        "HCP ZGV2:" + hashlib.md5(b"wrong").hexdigest(),
        "HCP " + base64.b64encode(b"nobody").decode() + ":" + hashlib.md5(b"devpass").hexdigest(),
        "HCP garbage",
        "Basic ZGV2OmRldnBhc3M=",
        "AD dev:wrong",
    ],
)
def test_bad_credentials_are_403_with_a_message(client: Client, authorization: str) -> None:
    reply = client.request("GET", "/rest", auth=authorization)
    assert reply.status == 403
    assert reply.header("X-HCP-ErrorMessage")
    assert reply.body == b""


def test_no_credentials_is_403(client: Client) -> None:
    assert client.request("GET", "/rest", auth=None).status == 403
    assert client.request("GET", "/rest", auth="HCP all_users:").status == 403


def test_active_directory_form(client: Client) -> None:
    assert client.request("GET", "/rest", auth="AD dev:devpass").status == 200


def test_cookie_and_header_precedence(client: Client, hcp: Emulator) -> None:
    good = "hcp-ns-auth=" + hcp.auth_header.removeprefix("HCP ")
    bad = "hcp-ns-auth=ZGV2:" + "0" * 32
    assert client.request("GET", "/rest", headers={"Cookie": good}, auth=None).status == 200
    assert client.request("GET", "/rest", headers={"Cookie": bad}, auth=None).status == 403
    # the header wins over the cookie, whichever of them is wrong
    assert client.request("GET", "/rest", headers={"Cookie": bad}).status == 200
    wrong = "HCP ZGV2:" + "0" * 32
    assert client.request("GET", "/rest", headers={"Cookie": good}, auth=wrong).status == 403


def test_anonymous_access_where_the_namespace_allows_it(client: Client, hcp: Emulator) -> None:
    client.put("/rest/public.txt", b"hi")
    ns1(hcp).anonymous_permissions = frozenset({"read", "browse"})
    assert client.request("GET", "/rest/public.txt", auth=None).body == b"hi"
    assert client.request("GET", "/rest/public.txt", auth="HCP all_users:").status == 200
    assert client.request("GET", "/rest", auth=None).status == 200
    assert client.put("/rest/anon.txt", b"x", auth=None).status == 403
    # wrong credentials stay wrong even where anonymous access would succeed
    assert client.request("GET", "/rest/public.txt", auth="HCP ZGV2:" + "1" * 32).status == 403


def test_read_only_user(client: Client, hcp: Emulator) -> None:
    reader = add_user(hcp, "reader", "read")
    client.put("/rest/dir/doc", b"x")
    assert client.request("GET", "/rest/dir/doc", auth=reader).status == 200
    assert client.request("HEAD", "/rest/dir/doc", auth=reader).status == 200
    assert client.request("GET", "/rest/dir", auth=reader).status == 403  # needs browse
    assert client.put("/rest/dir/new", b"x", auth=reader).status == 403
    assert client.request("DELETE", "/rest/dir/doc", auth=reader).status == 403
    assert client.request("POST", "/rest/dir/doc?index=false", auth=reader).status == 403


def test_permissions_for_special_operations(client: Client, hcp: Emulator) -> None:
    writer = add_user(hcp, "writer", "read", "write", "delete", "browse")
    purger = add_user(hcp, "purger", "purge")
    client.put("/rest/doc", b"x")
    assert client.put("/rest/held?hold=true", b"x", auth=writer).status == 403
    assert client.request("POST", "/rest/doc?hold=true", auth=writer).status == 403
    assert client.request("POST", "/rest/doc?owner=dev", auth=writer).status == 403
    assert client.request("DELETE", "/rest/doc?purge=true", auth=writer).status == 403
    reason = "privileged=true&reason=audit"
    assert client.request("DELETE", f"/rest/doc?{reason}", auth=writer).status == 403
    assert client.request("DELETE", "/rest/doc", auth=purger).status == 200  # purge implies delete


def test_user_without_grants_on_the_namespace(client: Client, hcp: Emulator) -> None:
    other = add_user(hcp, "other", "read", "write", namespace="versioned")
    assert client.request("GET", "/rest", auth=other).status == 403
    assert client.put("/rest/doc", b"x", auth=other, host=VERSIONED).status == 201


def test_namespace_mask_limits_every_user(client: Client, hcp: Emulator) -> None:
    ns1(hcp).permissions = frozenset({"read", "browse"})
    assert client.put("/rest/doc", b"x").status == 403
    assert client.request("GET", "/rest").status == 200


@pytest.mark.parametrize(
    "host",
    ["nope.dev.hcp.example.com", "ns1.nope.hcp.example.com", "ns1.dev.other.example.com",
     "a.b.ns1.dev.hcp.example.com", "127.0.0.1"],
)  # fmt: skip
def test_unknown_namespace_is_403_or_400_on_head(client: Client, host: str) -> None:
    for method in ("GET", "PUT", "DELETE", "POST"):
        assert client.request(method, "/rest/doc", host=host).status == 403, method
    assert client.request("HEAD", "/rest/doc", host=host).status == 400


def test_host_names_are_case_insensitive_and_may_carry_a_port(
    client: Client, hcp: Emulator
) -> None:
    assert client.request("GET", "/rest", host="NS1.Dev.HCP.example.com").status == 200
    assert client.request("GET", "/rest", host=f"{hcp.host}:{hcp.port}").status == 200


@pytest.mark.parametrize("host", ["admin.hcp.example.com", "dev.hcp.example.com"])
def test_management_hosts_are_reserved(client: Client, host: str) -> None:
    assert client.request("GET", "/rest", host=host).status == 403


def test_read_only_namespace_refuses_writes(client: Client, hcp: Emulator) -> None:
    client.put("/rest/doc", b"x")
    ns1(hcp).read_only = True
    for method, path in [("PUT", "/rest/new"), ("POST", "/rest/doc?index=false"),
                         ("DELETE", "/rest/doc")]:  # fmt: skip
        reply = client.request(method, path, b"x" if method == "PUT" else None)
        assert reply.status == 403, method
        assert "read-only" in (reply.header("X-HCP-ErrorMessage") or "")
    assert client.request("GET", "/rest/doc").status == 200
    ns1(hcp).read_only = False
    assert client.put("/rest/new", b"x").status == 201
