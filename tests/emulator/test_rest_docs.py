"""The curl commands of docs/emulator.md give the statuses the document shows."""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

from hcpfs.emulator import Emulator

DOCUMENT = Path(__file__).resolve().parents[2] / "docs" / "emulator.md"
DOCUMENTED_NODE = "127.0.0.2:8080"


def documented_commands() -> list[tuple[str, int]]:
    """Return each ``$ curl ...`` line of the console blocks with the status shown after it."""
    lines = DOCUMENT.read_text(encoding="utf-8").splitlines()
    found = []
    for number, line in enumerate(lines):
        if line.startswith("$ curl "):
            status = re.match(r"HTTP/1\.1 (\d{3}) ", lines[number + 1])
            assert status, f"docs/emulator.md:{number + 2}: no status line after the command"
            found.append((line[2:], int(status.group(1))))
    return found


def test_the_document_has_the_promised_examples() -> None:
    commands = " ".join(command for command, _ in documented_commands())
    for needle in ("-X PUT", "/rest/docs ", "-I ", "type=custom-metadata", "retention=",
                   "-X DELETE", "/proc/statistics"):  # fmt: skip
        assert needle in commands


def test_documented_curl_commands(hcp: Emulator) -> None:
    assert f"-H 'Authorization: {hcp.auth_header}'" in DOCUMENT.read_text(encoding="utf-8")
    for command, expected in documented_commands():
        argv = shlex.split(command.replace(DOCUMENTED_NODE, f"{hcp.addresses[0]}:{hcp.port}"))
        argv[1:1] = ["--silent", "--show-error", "--max-time", "10"]
        result = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
        assert result.returncode == 0, f"{command}\n{result.stderr}"
        status = re.match(r"HTTP/1\.1 (\d{3}) ", result.stdout)
        assert status, f"{command}\n{result.stdout}"
        assert int(status.group(1)) == expected, command
