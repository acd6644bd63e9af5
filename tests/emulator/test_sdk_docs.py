"""The ``python`` examples of docs/sdk.md run, in order, against an emulator with HTTPS, DNS,
the management API and a replica; their first block (the settings) is replaced by the
emulator's values."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hcpfs.emulator import Emulator

DOCUMENT = Path(__file__).resolve().parents[2] / "docs" / "sdk.md"
BLOCK = re.compile(r"^```python\n(.*?)^```$", re.DOTALL | re.MULTILINE)


def python_blocks() -> list[tuple[int, str]]:
    """Return each ``python`` block of the document with the line number it starts on."""
    text = DOCUMENT.read_text(encoding="utf-8")
    return [
        (text.count("\n", 0, found.start(1)) + 1, found.group(1)) for found in BLOCK.finditer(text)
    ]


def run_block(line: int, source: str, names: dict[str, Any]) -> None:
    """Run a block so that a failure points at its line in the document."""
    code = compile("\n" * (line - 1) + source, str(DOCUMENT), "exec")
    exec(code, names)


@pytest.fixture(scope="module")
def deployment() -> Iterator[Emulator]:
    with Emulator(nodes=2, address_base="127.0.0.91", tls=True, dns=True, replica=True) as hcp:
        yield hcp


def settings(hcp: Emulator) -> dict[str, Any]:
    """The values of the first block's names for this emulator."""
    assert hcp.https_port is not None and hcp.mapi_port is not None
    assert hcp.dns_address is not None and hcp.dns_port is not None
    return {
        "NAMESPACE": hcp.host,
        "PORT": hcp.https_port,
        "TLS": True,  # the emulator's ports are not HTTPS's usual ones
        "USER": hcp.user,
        "PASSWORD": hcp.password,
        "ADMIN": hcp.admin_host,
        "MAPI_PORT": hcp.mapi_port,
        "ADMIN_USER": hcp.management_user,
        "ADMIN_PASSWORD": hcp.management_password,
        "REPLICA_NAMESPACE": hcp.replica_host,
        "REPLICA_PORT": hcp.https_port,
        "RESOLVER": f"{hcp.dns_address}:{hcp.dns_port}",
        "CAFILE": str(hcp.ca_file),
    }


def test_the_document_has_the_promised_examples() -> None:
    sources = "\n".join(source for _, source in python_blocks())
    for needle in ("con.PUT(", "con.HEAD(", "con.GET(", "con.DELETE(", "build_url(",
                   "replica_strategy=", "nsstatistics()", "listaccessiblens()",
                   "listpermissions()", "listretentionclasses()", "getlinklist()",
                   "setreplicationlinkstate("):  # fmt: skip
        assert needle in sources, needle


def test_the_first_block_holds_only_the_settings(deployment: Emulator) -> None:
    (line, source), *_ = python_blocks()
    documented: dict[str, Any] = {}
    run_block(line, source, documented)
    documented.pop("__builtins__")
    assert sorted(documented) == sorted(settings(deployment))


def test_the_examples_run_in_order(deployment: Emulator) -> None:
    names = settings(deployment)
    blocks = python_blocks()
    for line, source in blocks[1:]:
        run_block(line, source, names)
    # Every block ran to its end, down to the replication link of the last one.
    assert {"target", "replicated", "info", "replication", "link"} <= names.keys()
