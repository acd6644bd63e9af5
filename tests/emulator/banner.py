"""What ``hcpfs emulator`` prints once it is up, read by the tests of its command line."""

from __future__ import annotations

import subprocess
import time

import pytest

LAST_LINE = "Press Ctrl+C"


def read_banner(process: subprocess.Popen[str], seconds: float = 20.0) -> str:
    """Return the lines ``process`` printed up to the banner's last one; fail the test when the
    banner does not end within ``seconds`` or the output ends first."""
    assert process.stdout is not None
    lines = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip("\n"))
        if line.startswith(LAST_LINE):
            return "\n".join(lines)
    pytest.fail("no banner:\n" + "\n".join(lines))
