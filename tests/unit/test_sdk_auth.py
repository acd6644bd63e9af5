"""Authorization headers (hcp-protocol §2) and keeping credentials out of text and logs."""

from __future__ import annotations

import base64
import hashlib
import logging
from collections.abc import Callable

import pytest
from urllib3 import HTTPResponse

import hcpfs.sdk as hcpsdk
from hcpfs.sdk.testing import FakeNodes, FakeRequest, respond, timed_out

USER, PASSWORD = "lgreen", "p4ssw0rd"
# §2.1 worked example: base64("lgreen") and md5("p4ssw0rd").
TOKEN = "bGdyZWVu:2a9d119df47ff993b662a8ef36f9ea20"
NODES = ["127.0.0.2", "127.0.0.3"]


def test_native_authorization_sends_the_documented_token_and_cookie() -> None:
    auth = hcpsdk.NativeAuthorization(USER, PASSWORD)
    assert auth.headers == {"Authorization": f"HCP {TOKEN}", "Cookie": f"hcp-ns-auth={TOKEN}"}


def test_native_authorization_encodes_non_ascii_as_utf8() -> None:
    auth = hcpsdk.NativeAuthorization("jörg", "pässwort")
    user = base64.b64encode("jörg".encode()).decode()
    digest = hashlib.md5("pässwort".encode()).hexdigest()
    assert auth.headers["Authorization"] == f"HCP {user}:{digest}"


def test_ad_authorization_sends_user_and_password_in_plain_text() -> None:
    auth = hcpsdk.NativeADAuthorization("lgreen@example.com", PASSWORD)
    assert auth.headers == {"Authorization": f"AD lgreen@example.com:{PASSWORD}"}


def test_headers_are_a_copy() -> None:
    auth = hcpsdk.NativeAuthorization(USER, PASSWORD)
    auth.headers["Authorization"] = "changed"
    assert auth.headers["Authorization"] == f"HCP {TOKEN}"


@pytest.mark.parametrize("kind", [hcpsdk.NativeAuthorization, hcpsdk.NativeADAuthorization])
def test_repr_and_str_show_the_user_but_no_secret(
    kind: Callable[[str, str], hcpsdk.BaseAuthorization],
) -> None:
    auth = kind(USER, PASSWORD)
    for text in (repr(auth), str(auth)):
        assert USER in text
        assert PASSWORD not in text
        assert TOKEN.split(":")[1] not in text


def test_target_headers_carry_host_and_authorization() -> None:
    auth = hcpsdk.NativeAuthorization(USER, PASSWORD)
    target = hcpsdk.Target("ns1.t1.hcp.example.com", auth, lookup=lambda name: NODES)
    assert target.headers["Host"] == "ns1.t1.hcp.example.com"
    assert target.headers["Authorization"] == f"HCP {TOKEN}"
    assert PASSWORD not in repr(target)
    assert TOKEN not in repr(target)


@pytest.mark.parametrize("kind", [hcpsdk.NativeAuthorization, hcpsdk.NativeADAuthorization])
def test_no_secret_in_logs_or_errors(
    kind: Callable[[str, str], hcpsdk.BaseAuthorization], caplog: pytest.LogCaptureFixture
) -> None:
    auth = kind(USER, PASSWORD)
    secrets = [PASSWORD, TOKEN, TOKEN.split(":")[1], auth.headers["Authorization"]]
    nodes = FakeNodes(_store_then_time_out)
    caplog.set_level(logging.DEBUG)
    target = hcpsdk.Target(
        "ns1.t1.hcp.example.com", auth, lookup=lambda name: NODES, pool_factory=nodes
    )
    with hcpsdk.Connection(target, retries=1) as con:
        con.PUT("/rest/a", body=b"data")
        with pytest.raises(hcpsdk.HcpsdkTimeoutError) as failure:
            con.GET("/rest/a")
    assert nodes.requests[0].headers["Authorization"] == auth.headers["Authorization"]
    texts = [caplog.text, str(failure.value), repr(failure.value), repr(con), repr(target)]
    for text in texts:
        for secret in secrets:
            assert secret not in text


def _store_then_time_out(request: FakeRequest) -> HTTPResponse:
    if request.method == "PUT":
        return respond(201)
    raise timed_out(request.address)
