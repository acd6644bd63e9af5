"""``hcpfs emulator`` run as a child process by the tests of its command line: reading what it
prints once it is up, and stopping it."""

from __future__ import annotations

import signal
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


def stop(process: subprocess.Popen[str], seconds: float = 20.0) -> int | None:
    """Stop ``process`` with SIGTERM, killing it when it does not exit within ``seconds``, and
    close its pipes; return its exit status, or None when it had to be killed."""
    try:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            return process.wait(seconds)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(seconds)
            return None
    finally:
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()
