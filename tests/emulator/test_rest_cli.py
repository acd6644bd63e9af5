"""The ``hcpfs emulator`` and ``hcpfs demo`` commands."""

from __future__ import annotations

import http.client
import json
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hcpfs.cli import main
from hcpfs.emulator import SystemConfig, demo

DEADLINE = 20.0


def test_demo_runs_every_step(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--data-dir", str(tmp_path / "data")]) == 0
    out = capsys.readouterr().out
    steps = re.findall(r"^  (\w+) +(PUT|GET|DELETE) +(\S+) -> (\d{3}) .*\[ok\]$", out, re.M)
    assert [(action, status) for action, _, _, status in steps] == [
        ("store", "201"),
        ("list", "200"),
        ("read", "200"),
        ("delete", "200"),
    ]
    assert (tmp_path / "data" / "journal.jsonl").is_file()
    assert main(["demo", "--data-dir", str(tmp_path / "data")]) == 0  # again, same directory


def test_demo_failure_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    assert main(["demo", "--data-dir", str(blocker)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("hcpfs: error: ")
    assert "Traceback" not in err


def test_demo_step_failure_is_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    planned = demo._plan

    def expect_the_wrong_status(name: str) -> list[Any]:
        steps = planned(name)
        action, method, path, _, verify = steps[0]
        return [(action, method, path, 200, verify), *steps[1:]]

    monkeypatch.setattr(demo, "_plan", expect_the_wrong_status)
    assert main(["demo", "--data-dir", str(tmp_path)]) == 1
    captured = capsys.readouterr()
    assert "[FAILED]" in captured.out
    assert captured.err.splitlines()[0] == "hcpfs: error: store failed: expected HTTP 200, got 201"


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
    """``hcpfs emulator --port 0`` as a child process, always stopped at the end."""
    process = subprocess.Popen(
        [sys.executable, "-m", "hcpfs.cli", "emulator", "--port", "0"],
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
    assert foreground.stdout is not None
    banner = []
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        line = foreground.stdout.readline()
        if not line:
            break
        banner.append(line.rstrip("\n"))
        if line.startswith("Press Ctrl+C"):
            break
    text = "\n".join(banner)
    assert "ns1.dev.hcp.example.com" in text and "versioned.dev.hcp.example.com" in text
    assert "user: dev  password: devpass" in text
    found = re.search(r"curl -i --connect-to ::127\.0\.0\.1:(\d+) -H 'Authorization: (.+?)' "
                      r"http://ns1\.dev\.hcp\.example\.com/rest/", text)  # fmt: skip
    assert found, text
    conn = http.client.HTTPConnection("127.0.0.1", int(found.group(1)), timeout=DEADLINE)
    try:
        headers = {"Host": "ns1.dev.hcp.example.com", "Authorization": found.group(2)}
        conn.request("GET", "/rest/", headers=headers)
        assert conn.getresponse().status == 200
    finally:
        conn.close()
    foreground.send_signal(signal.SIGTERM)
    assert foreground.wait(DEADLINE) == 0
    assert foreground.stdout.read().strip() == "Stopping."
