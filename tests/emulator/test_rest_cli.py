"""The ``hcpfs emulator`` command (``hcpfs demo`` is tested in tests/mount/test_demo.py)."""

from __future__ import annotations

import http.client
import json
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from emulator_process import read_banner

from hcpfs.cli import main
from hcpfs.emulator import SystemConfig

DEADLINE = 20.0


def test_bad_configuration(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "hcp.json"
    config.write_text(json.dumps({"domain": "hcp.example.com", "tenants": [], "x": 1}))
    assert main(["emulator", "--config", str(config), "--port", "0"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "hcpfs: error: config: unknown setting 'x'"
    assert err[1].startswith("hcpfs: hint: ")
    assert len(err) == 2


def test_print_config_is_a_valid_configuration(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["emulator", "--print-config"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert SystemConfig.from_dict(printed) == SystemConfig.default()


@pytest.fixture
def foreground() -> Iterator[subprocess.Popen[str]]:
    """``hcpfs emulator`` on free ports as a child process, always stopped at the end."""
    ports = ["--port", "0", "--https-port", "0", "--mapi-port", "0", "--dns-port", "0"]
    ports += ["--control-port", "0"]
    process = subprocess.Popen(
        [sys.executable, "-m", "hcpfs.cli", "emulator", *ports],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(DEADLINE)
        assert process.stdout is not None and process.stderr is not None
        process.stdout.close()
        process.stderr.close()


def test_emulator_runs_until_sigterm(foreground: subprocess.Popen[str]) -> None:
    text = read_banner(foreground, DEADLINE)
    assert "ns1.dev.hcp.example.com" in text and "versioned.dev.hcp.example.com" in text
    assert "user: dev  password: devpass" in text
    found = re.search(r"curl -i --connect-to ::(127\.0\.0\.2):(\d+) -H 'Authorization: (.+?)' "
                      r"http://ns1\.dev\.hcp\.example\.com/rest/", text)  # fmt: skip
    assert found, text
    conn = http.client.HTTPConnection(found.group(1), int(found.group(2)), timeout=DEADLINE)
    try:
        headers = {"Host": "ns1.dev.hcp.example.com", "Authorization": found.group(3)}
        conn.request("GET", "/rest/", headers=headers)
        assert conn.getresponse().status == 200
    finally:
        conn.close()
    foreground.send_signal(signal.SIGTERM)
    assert foreground.wait(DEADLINE) == 0
    assert foreground.stdout.read().strip() == "Stopping."
