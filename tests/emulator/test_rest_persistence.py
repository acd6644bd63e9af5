"""An emulator with a data directory keeps its content across a restart."""

from __future__ import annotations

import http.client
from pathlib import Path

from hcpfs.emulator import Emulator

VERSIONED = "versioned.dev.hcp.example.com"


def call(
    hcp: Emulator, method: str, path: str, body: bytes | None = None, host: str | None = None
) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection(hcp.addresses[0], hcp.port, timeout=10)
    try:
        headers = {"Host": host or hcp.host, "Authorization": hcp.auth_header}
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def test_restart_with_the_same_data_directory(tmp_path: Path) -> None:
    with Emulator(data_dir=tmp_path) as hcp:
        assert call(hcp, "PUT", "/rest/keep/a.txt?retention=N%2B1d", b"alpha")[0] == 201
        assert call(hcp, "PUT", "/rest/keep/a.txt?type=custom-metadata", b"<a/>")[0] == 201
        assert call(hcp, "PUT", "/rest/temp", b"x")[0] == 201
        assert call(hcp, "DELETE", "/rest/temp")[0] == 200
        call(hcp, "PUT", "/rest/v", b"1", VERSIONED)
        call(hcp, "PUT", "/rest/v", b"22", VERSIONED)
        _, before = call(hcp, "GET", "/rest/keep")
    assert (tmp_path / "journal.jsonl").is_file()

    with Emulator(data_dir=tmp_path) as hcp:
        assert call(hcp, "GET", "/rest/keep/a.txt") == (200, b"alpha")
        assert call(hcp, "GET", "/rest/keep/a.txt?type=custom-metadata") == (200, b"<a/>")
        assert call(hcp, "DELETE", "/rest/keep/a.txt")[0] == 403  # still under retention
        assert call(hcp, "GET", "/rest/temp")[0] == 404
        assert call(hcp, "GET", "/rest/keep") == (200, before)
        status, listing = call(hcp, "GET", "/rest/v?version=list", None, VERSIONED)
        assert status == 200 and listing.count(b"<entry ") == 2
        assert call(hcp, "GET", "/rest/v", None, VERSIONED) == (200, b"22")
        assert call(hcp, "PUT", "/rest/keep/b.txt", b"beta")[0] == 201
        hcp.reset()
        assert call(hcp, "GET", "/rest/keep/a.txt")[0] == 404

    with Emulator(data_dir=tmp_path) as hcp:
        assert call(hcp, "GET", "/rest/keep/b.txt")[0] == 404  # reset emptied the directory
