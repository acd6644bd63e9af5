"""``make demo``: an HCP emulator in a process of its own, a namespace mounted, a short tour.

:func:`run` starts the emulator (three nodes and a DNS server that names them) with its data in
a persistent directory, mounts its first namespace with ``hcpfs mount`` and runs a few
ordinary commands on the mount; the emulator and the mount stay up afterwards for the user to
explore, until :func:`stop` unmounts and stops the emulator. Each step is handed to a callback
as a :class:`Step`; the command line prints them.

The emulator process records itself in ``<data dir>/emulator.json`` (pid, start time, port,
DNS server), so a later ``hcpfs demo --stop`` finds it, and a second ``hcpfs demo`` stops the
first one's processes before starting again.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import hcpfs
from hcpfs.emulator.dns import DnsServer, zone_resolver
from hcpfs.emulator.emulator import Emulator
from hcpfs.fs import mounting

log = logging.getLogger(__name__)

NODES = 3
STATE_FILE = "emulator.json"
START_DEADLINE = 30.0
STOP_DEADLINE = 30.0
RETENTION = "N+1d"
_COMMAND_TIMEOUT = 120.0


@dataclass(frozen=True)
class Step:
    """One step of the tour and how it went.

    :param title: what the step shows
    :param command: the command run, as a person would type it ("" for none)
    :param output: what the command printed
    :param ok: whether the step did what the tour expects (a refusal can be expected)
    """

    title: str
    command: str = ""
    output: str = ""
    ok: bool = True


@dataclass(frozen=True)
class EmulatorProcess:
    """The demo's emulator process, as it recorded itself."""

    pid: int
    start: str
    host: str
    port: int
    dns: str
    addresses: list[str]
    user: str
    password: str

    def alive(self) -> bool:
        """Tell whether the recorded process still runs (and is the one recorded)."""
        return mounting.alive(self.pid) and mounting.process_start_time(self.pid) == self.start


class DemoError(Exception):
    """A step of the demo failed.

    :param message: what failed
    :param log_file: where to look for details
    """

    def __init__(self, message: str, log_file: Path | None = None) -> None:
        super().__init__(message)
        self.log_file = log_file


# -- the emulator process ----------------------------------------------------------------------


def serve(data_dir: Path, stop: threading.Event) -> None:
    """Run the demo's emulator and its DNS server until ``stop`` is set.

    :param data_dir: the demo's directory; the emulator keeps its content in ``hcp/`` below it
    :param stop: set it to stop
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    with Emulator(data_dir=data_dir / "hcp", nodes=NODES, port=0) as hcp:
        config = hcp.system.config
        resolve = zone_resolver(
            config.domain,
            lambda: {t.name: [ns.name for ns in t.namespaces] for t in config.tenants},
            lambda: hcp.addresses,
        )
        with DnsServer(resolve, "127.0.0.1", 0) as dns:
            record = EmulatorProcess(
                pid=os.getpid(),
                start=mounting.process_start_time(os.getpid()),
                host=hcp.host,
                port=hcp.port,
                dns=f"{dns.address}:{dns.port}",
                addresses=hcp.addresses,
                user=hcp.user,
                password=hcp.password,
            )
            _write_state(data_dir, record)
            log.info("demo emulator ready: %s port %d, DNS %s", hcp.host, hcp.port, record.dns)
            try:
                while not stop.wait(1.0):
                    pass
            finally:
                with contextlib.suppress(OSError):
                    (data_dir / STATE_FILE).unlink()


def _write_state(data_dir: Path, record: EmulatorProcess) -> None:
    temporary = data_dir / (STATE_FILE + ".tmp")
    # The record holds the demo account's password: keep it to the user.
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as file:
        json.dump(asdict(record), file)
    temporary.replace(data_dir / STATE_FILE)


def running_emulator(data_dir: Path) -> EmulatorProcess | None:
    """Return the demo's emulator process if it runs.

    :param data_dir: the demo's directory
    """
    try:
        record = EmulatorProcess(**json.loads((data_dir / STATE_FILE).read_text("utf-8")))
    except (OSError, ValueError, TypeError):
        return None
    return record if record.alive() else None


def start_emulator(data_dir: Path, deadline: float = START_DEADLINE) -> EmulatorProcess:
    """Start the emulator process in a session of its own and wait until it is ready.

    :param data_dir: the demo's directory
    :param deadline: seconds to wait
    :raises DemoError: when it does not come up
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(OSError):
        (data_dir / STATE_FILE).unlink()
    log_file = data_dir / "emulator.log"
    with log_file.open("ab") as sink:
        process = subprocess.Popen(  # noqa: S603  # our own interpreter and module
            [sys.executable, "-m", "hcpfs.cli", "demo", "--serve", "--data-dir", str(data_dir)],
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=sink,
            start_new_session=True,
        )
    found: list[EmulatorProcess] = []

    def ready() -> bool:
        record = running_emulator(data_dir)
        if record is not None:
            found.append(record)
        return bool(found) or process.poll() is not None

    mounting.wait_until(ready, time.monotonic() + deadline)
    if found:
        return found[0]
    if process.poll() is None:
        process.kill()
        process.wait(deadline)
    raise DemoError("the emulator did not start", log_file)


def stop_emulator(data_dir: Path, deadline: float = STOP_DEADLINE) -> int | None:
    """Stop the demo's emulator process (SIGTERM) and wait until it has exited.

    :param data_dir: the demo's directory
    :param deadline: seconds to wait before SIGKILL
    :return: its pid, or None when none was running
    """
    record = running_emulator(data_dir)
    if record is None:
        return None
    os.kill(record.pid, signal.SIGTERM)
    if not mounting.wait_until(lambda: not record.alive(), time.monotonic() + deadline):
        os.kill(record.pid, signal.SIGKILL)
        mounting.wait_until(lambda: not record.alive(), time.monotonic() + deadline)
    with contextlib.suppress(OSError):
        (data_dir / STATE_FILE).unlink()
    return record.pid


# -- the tour ----------------------------------------------------------------------------------


def stop(data_dir: Path, mountpoint: Path, on_step: Callable[[Step], None]) -> None:
    """Unmount the demo's mount and stop its emulator, if they run.

    :param data_dir: the demo's directory
    :param mountpoint: the demo's mount point
    :param on_step: called with each thing done
    """
    entry = mounting.mounted_at(mountpoint.resolve())
    if entry is not None and entry.fstype == mounting.FSTYPE:
        mounting.unmount(mountpoint.resolve())
        on_step(Step(f"Unmounted {mountpoint}", f"hcpfs umount {mountpoint}"))
    pid = stop_emulator(data_dir)
    if pid is not None:
        on_step(Step(f"Stopped the HCP emulator (process {pid})"))


def run(
    data_dir: Path, mountpoint: Path, tree: Path, on_step: Callable[[Step], None]
) -> EmulatorProcess:
    """Start the emulator, mount its namespace and tour the mount; leave both running.

    :param data_dir: the demo's directory (kept between runs)
    :param mountpoint: where to mount (created if missing)
    :param tree: a directory to copy onto the mount
    :param on_step: called with each step as soon as it is done
    :raises DemoError: when a step fails
    """
    stop(data_dir, mountpoint, on_step)
    hcp = start_emulator(data_dir)
    on_step(
        Step(
            f"Started an HCP emulator (process {hcp.pid}): {len(hcp.addresses)} nodes "
            f"{', '.join(hcp.addresses)} on port {hcp.port}, DNS at {hcp.dns}, "
            f"data in {data_dir / 'hcp'}"
        )
    )
    mountpoint.mkdir(parents=True, exist_ok=True)
    _mount(data_dir, mountpoint, hcp, on_step)
    _tour(mountpoint, tree, on_step)
    return hcp


def _mount(
    data_dir: Path, mountpoint: Path, hcp: EmulatorProcess, on_step: Callable[[Step], None]
) -> None:
    credentials = data_dir / "credentials"
    fd = os.open(credentials, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as file:
        file.write(f"user={hcp.user}\npassword={hcp.password}\n")
    options = ",".join(
        [
            f"credentials={credentials}",
            f"dns={hcp.dns}",
            f"port={hcp.port}",
            f"staging_dir={data_dir / 'staging'}",
            f"log={data_dir / 'mount.log'}",
        ]
    )
    command = ["hcpfs", "mount", hcp.host, str(mountpoint), "-o", options]
    step = _run(f"Mount {hcp.host} on {mountpoint}", command, python_module=True)
    on_step(step)
    if not step.ok:
        raise DemoError(f"mounting failed: {step.output.strip()}", data_dir / "mount.log")


def _tour(mountpoint: Path, tree: Path, on_step: Callable[[Step], None]) -> None:
    copied = mountpoint / tree.name
    sample = _sample_file(tree)
    steps = [
        _run(f"Copy the directory {tree} onto HCP", ["cp", "-r", str(tree), str(mountpoint)]),
        _run("List it; attributes come from one listing request", ["ls", "-l", str(copied)]),
        _compare(tree / sample, copied / sample),
        _run("Read a file back from HCP", ["head", "-n", "5", str(copied / sample)]),
        _run("Capacity and usage of the namespace", ["df", "-h", str(mountpoint)]),
    ]
    for step in steps:
        on_step(step)
        if not step.ok:
            raise DemoError(f"{step.title} failed: {step.output.strip()}")
    for step in _retention(mountpoint):
        on_step(step)
        if not step.ok:
            raise DemoError(f"{step.title} failed: {step.output.strip()}")


def default_tree() -> Path:
    """Return what the tour copies by default: ``docs`` when run in the source tree, else the
    installed ``hcpfs`` package."""
    docs = Path("docs")
    return docs if docs.is_dir() else Path(hcpfs.__path__[0])


def _sample_file(tree: Path) -> Path:
    files = sorted(p for p in tree.rglob("*") if p.is_file())
    if not files:
        raise DemoError(f"{tree} has no file to show")
    readable = [p for p in files if p.suffix in (".md", ".txt", ".py")] or files
    return readable[0].relative_to(tree)


def _compare(original: Path, copy: Path) -> Step:
    step = _run("Compare a file with the original", ["cmp", str(original), str(copy)])
    if step.ok:
        return Step(step.title, step.command, "identical\n")
    return step


def _retention(mountpoint: Path) -> list[Step]:
    kept = mountpoint / f"retained-{time.strftime('%Y%m%d-%H%M%S')}.txt"
    write = _run(
        "Store a file",
        ["sh", "-c", f"echo 'HCP keeps this file for a day.' > {shlex.quote(str(kept))}"],
    )
    if not write.ok:
        return [write]
    setting = _set_retention(kept)
    refused = _run(
        "Try to delete it: HCP refuses, the file is under retention",
        ["rm", "-f", str(kept)],
        expect_failure=True,
    )
    shown = _run("Its write bits are gone while retention lasts", ["ls", "-l", str(kept)])
    return [write, setting, refused, shown]


def _set_retention(path: Path) -> Step:
    title = f"Put it under retention until {RETENTION} (now plus one day)"
    name = "user.hcp.retention"
    command = f"setfattr -n {name} -v {RETENTION} {path}"
    try:
        os.setxattr(path, name, RETENTION.encode())
        value = os.getxattr(path, name).decode()
    except OSError as error:
        return Step(title, command, f"{error}\n", ok=False)
    return Step(title, command, f"{name} is now {value!r}\n")


def _run(
    title: str,
    command: Sequence[str],
    *,
    expect_failure: bool = False,
    python_module: bool = False,
) -> Step:
    shown = shlex.join(command)
    argv = [sys.executable, "-m", "hcpfs.cli", *command[1:]] if python_module else list(command)
    if not python_module and shutil.which(argv[0]) is None:
        return Step(title, shown, f"{argv[0]}: command not found\n", ok=False)
    result = subprocess.run(  # noqa: S603  # fixed commands on paths the demo chose
        argv,
        capture_output=True,
        text=True,
        timeout=_COMMAND_TIMEOUT,
        check=False,
        cwd=Path.cwd(),
        env={**os.environ, "PYTHONPATH": _package_root()},
    )
    ok = (result.returncode != 0) if expect_failure else (result.returncode == 0)
    return Step(title, shown, result.stdout + result.stderr, ok)


def _package_root() -> str:
    # The commands run in a fresh interpreter: let it import this very hcpfs.
    root = str(Path(hcpfs.__path__[0]).resolve().parent)
    current = os.environ.get("PYTHONPATH")
    return f"{root}{os.pathsep}{current}" if current else root
