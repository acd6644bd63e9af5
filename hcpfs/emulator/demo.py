"""A first look at HCP: start an emulator, then store, list, read and delete an object.

The requests are plain HTTP (``http.client``) so the demo shows the protocol itself; the
command line prints the steps :func:`run` returns.
"""

from __future__ import annotations

import http.client
import logging
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from hcpfs.emulator.emulator import Emulator

log = logging.getLogger(__name__)

CONTENT = b"Hello from the hcpfs demo.\n"
_TIMEOUT = 30.0


@dataclass(frozen=True)
class Step:
    """One request of the demo and how it went.

    :param action: what the step does (``store``, ``list``, ``read``, ``delete``)
    :param check: empty when the answer was as expected, else what was wrong
    """

    action: str
    method: str
    path: str
    status: int
    reason: str
    check: str = ""

    @property
    def ok(self) -> bool:
        """Whether the step succeeded."""
        return not self.check


@dataclass
class Outcome:
    """What the demo did: the emulator it ran and its steps in order."""

    url: str
    host: str
    data_dir: Path
    steps: list[Step] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether every step succeeded."""
        return all(step.ok for step in self.steps)


class DemoError(Exception):
    """A demo step failed; ``outcome`` holds the steps run so far."""

    def __init__(self, message: str, outcome: Outcome) -> None:
        super().__init__(message)
        self.outcome = outcome


def run(data_dir: Path, on_step: Callable[[Step], None] | None = None) -> Outcome:
    """Run the demo against a new emulator that keeps its data in ``data_dir``.

    :param data_dir: the emulator's data directory (created if missing)
    :param on_step: called after each step, e.g. to print it at once
    :raises DemoError: when a step does not get the expected answer
    :raises OSError: when the emulator cannot start
    """
    with Emulator(data_dir=data_dir, address="127.0.0.1", port=0) as hcp:
        outcome = Outcome(hcp.url, hcp.host, data_dir)
        conn = http.client.HTTPConnection(hcp.addresses[0], hcp.port, timeout=_TIMEOUT)
        headers = {"Host": hcp.host, "Authorization": hcp.auth_header}
        name = f"hello-{time.strftime('%Y%m%d-%H%M%S')}.txt"
        try:
            for action, method, path, expected, verify in _plan(name):
                data = CONTENT if method == "PUT" else None
                conn.request(method, path, body=data, headers=headers)
                response = conn.getresponse()
                body = response.read()
                check = _check(response.status, expected, verify, body)
                step = Step(action, method, path, response.status, response.reason, check)
                outcome.steps.append(step)
                if on_step is not None:
                    on_step(step)
                if check:
                    raise DemoError(f"{action} failed: {check}", outcome)
        finally:
            conn.close()
    return outcome


_Verify = Callable[[bytes], str]


def _plan(name: str) -> list[tuple[str, str, str, int, _Verify | None]]:
    path = f"/rest/demo/{name}"

    def listed(body: bytes) -> str:
        try:
            # The listing comes from the emulator this demo started itself.
            names = [entry.get("utf8Name") for entry in ET.fromstring(body)]  # noqa: S314
        except ET.ParseError:
            return "the listing is not XML"
        return "" if name in names else f"{name} is missing from the listing"

    def same(body: bytes) -> str:
        return "" if body == CONTENT else "the data read differs from the data stored"

    return [
        ("store", "PUT", path, 201, None),
        ("list", "GET", "/rest/demo", 200, listed),
        ("read", "GET", path, 200, same),
        ("delete", "DELETE", path, 200, None),
    ]


def _check(status: int, expected: int, verify: _Verify | None, body: bytes) -> str:
    if status != expected:
        return f"expected HTTP {expected}, got {status}"
    return verify(body) if verify is not None else ""
