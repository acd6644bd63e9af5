"""Emulator configuration: the default, JSON round trip and clear errors."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from hcpfs.emulator.config import ALL_PERMISSIONS, SystemConfig
from hcpfs.emulator.errors import ConfigError


def test_default_configuration() -> None:
    config = SystemConfig.default()
    tenant = config.tenant("DEV")
    assert config.domain == "hcp.example.com" and tenant is not None
    ns1, versioned = tenant.namespace("ns1"), tenant.namespace("versioned")
    assert ns1 is not None and versioned is not None
    assert (ns1.versioning, versioned.versioning) == (False, True)
    assert ns1.hash_scheme == "SHA-256" and ns1.retention_mode == "enterprise"
    assert ns1.retention_classes
    user = tenant.user("dev")
    assert user is not None and user.password == "devpass"
    assert user.permissions == {"ns1": ALL_PERMISSIONS, "versioned": ALL_PERMISSIONS}
    assert len(ALL_PERMISSIONS) == 10


def test_json_round_trip(tmp_path: Path) -> None:
    config = SystemConfig.default()
    path = tmp_path / "hcp.json"
    config.save(path)
    data = json.loads(path.read_text())
    assert data["tenants"][0]["users"][0]["permissions"]["ns1"][:3] == ["browse", "read", "write"]
    assert SystemConfig.load(path) == config


def test_permissions_may_be_all() -> None:
    data = SystemConfig.default().to_dict()
    data["tenants"][0]["users"][0]["permissions"] = {"ns1": "all", "versioned": ["read"]}
    user = SystemConfig.from_dict(data).tenants[0].users[0]
    assert user.permissions == {"ns1": ALL_PERMISSIONS, "versioned": frozenset({"read"})}


def test_minimal_file() -> None:
    config = SystemConfig.from_dict(
        {"domain": "HCP.Lab.Example", "tenants": [{"name": "t", "namespaces": [{"name": "n"}]}]}
    )
    assert config.domain == "hcp.lab.example"
    assert config.tenants[0].namespaces[0].versioning is False


def _broken(change: Any) -> dict[str, Any]:
    data = copy.deepcopy(SystemConfig.default().to_dict())
    change(data)
    return data


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (lambda d: d.update(colour="blue"), "unknown setting 'colour'"),
        (lambda d: d.update(domain="localhost"), "domain"),
        (lambda d: d.update(tenants=[]), "at least one tenant"),
        (lambda d: d["tenants"][0]["namespaces"][0].update(versioning="yes"), "true or false"),
        (lambda d: d["tenants"][0]["namespaces"][0].update(dpl=True), "expected a number"),
        (lambda d: d["tenants"][0]["namespaces"][0].update(name="-bad"), "namespace '-bad'"),
        (lambda d: d["tenants"][0]["namespaces"][1].update(name="NS1"), "defined twice"),
        (lambda d: d["tenants"][0]["namespaces"][0].update(hash_scheme="CRC"), "hash_scheme"),
        (
            lambda d: d["tenants"][0]["namespaces"][0].update(retention_default="N+1d"),
            "cannot be relative",
        ),
        (
            lambda d: d["tenants"][0]["namespaces"][0]["retention_classes"][0].update(value="x"),
            "invalid retention class value",
        ),
        (
            lambda d: d["tenants"][0]["users"][0]["permissions"].update(ns1=["fly"]),
            "unknown permission 'fly'",
        ),
        (
            lambda d: d["tenants"][0]["users"][0]["permissions"].update(nope=["read"]),
            "no namespace 'nope'",
        ),
        (lambda d: d["tenants"][0]["users"][0].pop("password"), "'password' is required"),
        (lambda d: d["tenants"][0].update(name="admin"), "not a valid tenant name"),
    ],
)
def test_errors_name_the_setting(change: Any, words: str) -> None:
    with pytest.raises(ConfigError) as caught:
        SystemConfig.from_dict(_broken(change))
    assert words in str(caught.value)


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        SystemConfig.load(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    with pytest.raises(ConfigError, match="not JSON"):
        SystemConfig.load(bad)


def test_user_repr_hides_the_password() -> None:
    user = SystemConfig.default().tenants[0].users[0]
    assert "devpass" not in repr(user)
    assert "devpass" not in repr(SystemConfig.default())
