"""Retention, holds, privileged delete and POST of system metadata (hcp-protocol §4.4, §4.5,
§6)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import pytest

from hcpfs.emulator import Emulator
from hcpfs.emulator import retention as r

if TYPE_CHECKING:
    from conftest import Client, Reply

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def post(client: Client, path: str, form: str) -> Reply:
    return client.request("POST", path, form.encode(), headers=FORM)


def test_retention_on_store_blocks_delete(client: Client) -> None:
    assert client.put("/rest/doc?retention=N+1d", b"x").status == 201
    head = client.request("HEAD", "/rest/doc")
    value = int(head.header("X-HCP-Retention") or 0)
    assert abs(value - (time.time() + 86400)) < 120
    assert head.header("X-HCP-RetentionString") == r.text(value)
    reply = client.request("DELETE", "/rest/doc")
    assert reply.status == 403 and reply.header("X-HCP-ErrorMessage")
    assert client.request("DELETE", "/rest/doc?purge=true").status == 403


@pytest.mark.parametrize(
    ("value", "number", "text"),
    [("-1", "-1", "Deletion Prohibited"), ("Initial%20Unspecified", "-2", "Initial Unspecified")],
)
def test_special_values(client: Client, value: str, number: str, text: str) -> None:
    client.put(f"/rest/doc?retention={value}", b"x")
    head = client.request("HEAD", "/rest/doc")
    assert (head.header("X-HCP-Retention"), head.header("X-HCP-RetentionString")) == (number, text)
    assert client.request("DELETE", "/rest/doc").status == 403


def test_retention_class(client: Client) -> None:
    client.put("/rest/doc?retention=C%2Bforever", b"x")
    head = client.request("HEAD", "/rest/doc")
    assert head.header("X-HCP-RetentionClass") == "forever"
    assert head.header("X-HCP-Retention") == "-1"
    assert post(client, "/rest/doc", "retention=-1").status == 400  # class -> explicit
    assert client.put("/rest/other?retention=C%2Bmissing", b"x").status == 400


def test_privileged_delete(client: Client, hcp: Emulator) -> None:
    client.put("/rest/doc?retention=-1", b"x")
    assert client.request("DELETE", "/rest/doc?privileged=true").status == 400  # no reason
    form = "privileged=true&reason=court+order"
    assert client.request("DELETE", "/rest/doc", form.encode(), headers=FORM).status == 200
    assert client.request("GET", "/rest/doc").status == 404
    namespace = hcp.system.config.tenants[0].namespace("ns1")
    assert namespace is not None
    namespace.retention_mode = "compliance"
    client.put("/rest/doc2?retention=-1", b"x")
    reply = client.request("DELETE", "/rest/doc2?privileged=true&reason=audit")
    assert reply.status == 403


def test_hold(client: Client) -> None:
    client.put("/rest/doc?hold=true", b"x")
    assert client.request("HEAD", "/rest/doc").header("X-HCP-RetentionHold") == "true"
    assert client.request("DELETE", "/rest/doc").status == 403
    assert client.request("DELETE", "/rest/doc?privileged=true&reason=x").status == 403
    assert post(client, "/rest/doc", "retention=N%2B1d").status == 400  # on hold
    assert post(client, "/rest/doc", "hold=false").status == 200
    assert client.request("DELETE", "/rest/doc").status == 200


def test_hold_blocks_new_versions(client: Client) -> None:
    host = "versioned.dev.hcp.example.com"
    client.put("/rest/doc?hold=true", b"1", host=host)
    assert client.put("/rest/doc", b"2", host=host).status == 403
    client.put("/rest/kept?retention=N%2B1d", b"1", host=host)
    assert client.put("/rest/kept", b"2", host=host).status == 403


def test_labeled_holds(client: Client) -> None:
    client.put("/rest/doc", b"x")
    labels = '[{"id":"CASE-1","hold":true}]'
    assert post(client, "/rest/doc", "label_hold=" + labels).status == 200
    head = client.request("HEAD", "/rest/doc")
    assert head.header("X-HCP-LabelRetentionHold") == "true"
    assert head.header("X-HCP-LabelRetentionHold-Labels") == '[{"id": "CASE-1", "hold": true}]'
    assert client.request("DELETE", "/rest/doc").status == 403
    assert post(client, "/rest/doc", 'label_hold=[{"id":"CASE-1","hold":false}]').status == 200
    assert client.request("DELETE", "/rest/doc").status == 200
    assert post(client, "/rest/x", "label_hold=nonsense").status == 400


def test_post_changes_only_what_is_given(client: Client) -> None:
    client.put("/rest/doc", b"x")
    before = client.request("HEAD", "/rest/doc")
    assert post(client, "/rest/doc", "index=false&shred=true").status == 200
    after = client.request("HEAD", "/rest/doc")
    assert (after.header("X-HCP-Index"), after.header("X-HCP-Shred")) == ("false", "true")
    assert after.header("X-HCP-Retention") == before.header("X-HCP-Retention")
    assert float(after.header("X-HCP-ChangeTimeMilliseconds") or 0) > float(
        before.header("X-HCP-ChangeTimeMilliseconds") or 0
    )
    assert after.header("X-HCP-IngestTime") == before.header("X-HCP-IngestTime")
    # parameters in the query string work too
    assert client.request("POST", "/rest/doc?index=true").status == 200
    assert client.request("HEAD", "/rest/doc").header("X-HCP-Index") == "true"


def test_post_refusals(client: Client) -> None:
    client.put("/rest/doc?shred=true&retention=N%2B1d", b"x")
    assert post(client, "/rest/doc", "shred=false").status == 400
    assert post(client, "/rest/doc", "retention=N%2B1h").status == 400  # shorter
    assert post(client, "/rest/doc", "retention=0").status == 400
    assert post(client, "/rest/doc", "retention=N%2B2d&hold=true").status == 400
    assert post(client, "/rest/doc", "retention=N%2B2d").status == 200  # longer is fine
    assert post(client, "/rest/doc", "retention=-1").status == 200
    assert post(client, "/rest/doc", "retention=N%2B9d").status == 400  # -1 is final
    assert post(client, "/rest/doc", "").status == 400
    assert post(client, "/rest/doc", "colour=red").status == 400
    assert post(client, "/rest/missing", "index=true").status == 404
    conditional = client.request(
        "POST", "/rest/doc", b"index=true", headers={**FORM, "If-Match": "*"}
    )
    assert conditional.status == 400


def test_owner(client: Client) -> None:
    client.put("/rest/doc", b"x")
    assert post(client, "/rest/doc", "owner=").status == 200
    assert client.request("HEAD", "/rest/doc").header("X-HCP-Owner") == ""
    assert post(client, "/rest/doc", "owner=dev").status == 200
    assert client.request("HEAD", "/rest/doc").header("X-HCP-Owner") == "dev"
    assert post(client, "/rest/doc", "owner=stranger").status == 400
    assert post(client, "/rest/doc", "owner=dev&domain=example.com").status == 400


def test_delete_refuses_conditional_headers(client: Client) -> None:
    client.put("/rest/doc", b"x")
    assert client.request("DELETE", "/rest/doc", headers={"If-Match": "*"}).status == 400
    assert client.request("HEAD", "/rest/doc").status == 200


def test_retention_expires(client: Client, hcp: Emulator) -> None:
    client.put("/rest/doc?retention=N%2B1h", b"x")
    assert client.request("DELETE", "/rest/doc").status == 403
    hcp.system.store.clock.shift(3601)
    assert client.request("DELETE", "/rest/doc").status == 200


def test_default_retention_of_the_namespace(client: Client, hcp: Emulator) -> None:
    namespace = hcp.system.config.tenants[0].namespace("ns1")
    assert namespace is not None
    namespace.retention_default = "A+1d"
    client.put("/rest/doc", b"x")
    head = client.request("HEAD", "/rest/doc")
    ingest = int(head.header("X-HCP-IngestTime") or 0)
    assert int(head.header("X-HCP-Retention") or 0) == ingest + 86400
