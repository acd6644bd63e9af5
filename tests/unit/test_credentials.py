"""Credentials parsing as hcp-protocol §2 describes it."""

import pytest

from hcpfs.emulator import credentials as c


def test_documented_token_example() -> None:
    # §2.1: user lgreen, password p4ssw0rd
    assert c.hcp_token("lgreen", "p4ssw0rd") == "bGdyZWVu:2a9d119df47ff993b662a8ef36f9ea20"


def test_header_token_with_uppercase_hex_matches() -> None:
    token = "HCP bGdyZWVu:" + c.md5_hex("p4ssw0rd").upper()
    creds = c.parse(token, None, c.DATA_COOKIE)
    assert creds.scheme is c.Scheme.HCP
    assert creds.user == "lgreen"
    assert creds.matches("p4ssw0rd")
    assert not creds.matches("other")


def test_header_wins_over_cookie() -> None:
    cookie = f"{c.DATA_COOKIE}={c.hcp_token('bob', 'x')}"
    creds = c.parse("HCP " + c.hcp_token("alice", "y"), cookie, c.DATA_COOKIE)
    assert creds.user == "alice"


def test_cookie_alone() -> None:
    cookie = f"other=1; {c.DATA_COOKIE}={c.hcp_token('bob', 'x')}"
    creds = c.parse(None, cookie, c.DATA_COOKIE)
    assert (creds.user, creds.matches("x")) == ("bob", True)


def test_management_cookie_is_not_a_data_cookie() -> None:
    cookie = f"{c.MAPI_COOKIE}={c.hcp_token('bob', 'x')}"
    assert c.parse(None, cookie, c.DATA_COOKIE).scheme is c.Scheme.ANONYMOUS


@pytest.mark.parametrize("header", [None, "HCP all_users:", "AD all_users"])
def test_anonymous_forms(header: str | None) -> None:
    assert c.parse(header, None, c.DATA_COOKIE).scheme is c.Scheme.ANONYMOUS


def test_active_directory_form() -> None:
    creds = c.parse("AD lgreen@example.com:p4ss:w0rd", None, c.DATA_COOKIE)
    assert creds.scheme is c.Scheme.AD
    assert creds.user == "lgreen@example.com"
    assert creds.matches("p4ss:w0rd")


@pytest.mark.parametrize("header", ["Basic abc", "HCP nocolon", "HCP !!!:abc", "AD nouser"])
def test_malformed(header: str) -> None:
    with pytest.raises(c.CredentialsError):
        c.parse(header, None, c.DATA_COOKIE)


def test_repr_hides_secret() -> None:
    creds = c.parse("AD u:topsecret", None, c.DATA_COOKIE)
    assert "topsecret" not in repr(creds)
