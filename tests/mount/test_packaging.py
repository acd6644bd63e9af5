"""Packaging: the mount helper mount(8) runs for ``fuse.hcpfs`` lines of /etc/fstab, the systemd
unit ``packaging/hcpfs@.service``, and the lists in docs/usage.md and docs/troubleshooting.md
that must follow the code.

The fstab test runs the real mount(8) in a private mount namespace (``unshare -m``) in which a
directory holding only the helper is bound over /usr/sbin: nothing is written to /sbin, and the
mount is seen in that namespace only; ``mount -n`` leaves /run/mount alone. The unit test runs
the unit's commands the way systemd would, with the variables and escapes systemd expands.

``hcpfs mount`` leaves its serving process in the background, an orphan; this process becomes
the subreaper of orphans while such a test runs, so it can wait for them and check their exit
status, and kill them should the test fail.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from hcpfs import cli
from hcpfs.emulator import Emulator
from hcpfs.fs import mounting, options
from hcpfs.fs.mounting import Problem
from hcpfs.fs.options import Options

ROOT = Path(__file__).resolve().parents[2]
HELPER = ROOT / "packaging" / "mount.hcpfs"
UNIT = ROOT / "packaging" / "hcpfs@.service"
DOCS = ROOT / "docs"
DEADLINE = 30.0
HOST = "ns1.dev.hcp.example.com"
PR_SET_CHILD_SUBREAPER = 36
# The PATH systemd gives services.
SYSTEMD_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
UNIT_HCPFS = "/usr/local/bin/hcpfs"


def run(command: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run a command with a deadline, capturing its output."""
    return subprocess.run(
        command, capture_output=True, text=True, timeout=DEADLINE * 2, check=False, env=env
    )


def hcpfs_program(directory: Path) -> Path:
    """Write an ``hcpfs`` program into ``directory`` that runs this checkout's hcpfs."""
    directory.mkdir(parents=True, exist_ok=True)
    program = directory / "hcpfs"
    program.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -m hcpfs.cli "$@"\n')
    program.chmod(0o755)
    return program


def credentials_file(hcp: Emulator, path: Path) -> Path:
    path.write_text(f"user={hcp.user}\npassword={hcp.password}\n")
    path.chmod(0o600)
    return path


# -- orphans -----------------------------------------------------------------------------------


class Orphans:
    """This process as subreaper: background serving processes become its children."""

    def __init__(self) -> None:
        self._libc = ctypes.CDLL(None, use_errno=True)
        self.pids: set[int] = set()

    def adopt(self) -> None:
        assert self._libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0

    def release(self) -> None:
        self._libc.prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)

    def wait(self, pid: int) -> int:
        """Wait (with the deadline) for child ``pid`` and return its exit status."""
        deadline = time.monotonic() + DEADLINE
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                self.pids.discard(pid)
                return os.waitstatus_to_exitcode(status)
            assert time.monotonic() < deadline, f"process {pid} did not end"
            time.sleep(0.05)

    def serving(self, mountpoint: Path) -> list[int]:
        """Return the children of this process whose command line names ``mountpoint``."""
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                status = (entry / "status").read_text()
                command = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            parent = re.search(r"^PPid:\s+(\d+)", status, re.MULTILINE)
            if (
                parent
                and int(parent.group(1)) == os.getpid()
                and os.fsencode(mountpoint) in command
            ):
                found.append(int(entry.name))
        return found

    def stop(self, mountpoint: Path) -> None:
        """Kill and wait every child still serving ``mountpoint`` or not waited for yet."""
        for pid in self.pids | set(self.serving(mountpoint)):
            # Not waited for yet, so the pid still belongs to that child.
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                self.wait(pid)
        mounting.pid_file(mountpoint).unlink(missing_ok=True)


@pytest.fixture
def orphans() -> Iterator[Orphans]:
    reaper = Orphans()
    reaper.adopt()
    try:
        yield reaper
    finally:
        reaper.release()


# -- the mount helper --------------------------------------------------------------------------

# The generic options mount(8) of util-linux 2.38 passes on to a helper, and those it drops
# itself (defaults, auto, noauto, x-*, X-*, comment=) in case a helper gets them anyway.
GENERIC = (
    "rw,noatime,noexec,nosuid,nodev,lazytime,nolazytime,dirsync,nosymfollow,symfollow,silent,loud,"
    "iversion,noiversion,mand,nomand,strictatime,nostrictatime,diratime,nodiratime,relatime,"
    "norelatime,sync,async,dev,suid,exec,atime,_netdev,nofail,users,user,nouser,owner,group,"
    "defaults,auto,noauto,x-systemd.automount,X-mount.mkdir,comment=systemd.automount"
)
OURS = "credentials=/etc/hcpfs/ns1.cred,uid=1000,staging_dir=/var/lib/hcpfs/ns1"


@pytest.fixture
def recorder(tmp_path: Path) -> Callable[..., tuple[subprocess.CompletedProcess[str], list[str]]]:
    """Run the helper with an ``hcpfs`` that records its arguments and exits with status 7."""
    record = tmp_path / "arguments"
    program = tmp_path / "recording-hcpfs"
    program.write_text(f"#!/bin/sh\nprintf '%s\\0' \"$@\" > {shlex.quote(str(record))}\nexit 7\n")
    program.chmod(0o755)

    def helper(*arguments: str) -> tuple[subprocess.CompletedProcess[str], list[str]]:
        record.unlink(missing_ok=True)
        result = run([str(HELPER), *arguments], env={**os.environ, "HCPFS": str(program)})
        recorded = record.read_text().split("\0")[:-1] if record.exists() else []
        return result, recorded

    return helper


def test_helper_runs_hcpfs_mount_with_its_own_options_only(
    recorder: Callable[..., tuple[subprocess.CompletedProcess[str], list[str]]],
) -> None:
    result, arguments = recorder(
        HOST, "/mnt/hcp", "-s", "-n", "-v", "-o", f"{GENERIC},{OURS}", "-t", "fuse.hcpfs"
    )
    assert result.returncode == 7, result.stderr  # the status of hcpfs, passed on
    assert arguments == ["mount", HOST, "/mnt/hcp", "-o", f"rw,{OURS}"]
    assert "mount.fuse.hcpfs: running: " in result.stderr
    parsed = cli._parser().parse_args(arguments)
    request = mounting.parse_request(parsed.namespace, parsed.mountpoint, ",".join(parsed.options))
    assert (request.options.uid, request.options.read_only) == (1000, False)
    assert request.credentials == Path("/etc/hcpfs/ns1.cred")


def test_helper_refusals_and_fake_mounts(
    recorder: Callable[..., tuple[subprocess.CompletedProcess[str], list[str]]],
) -> None:
    result, arguments = recorder(HOST, "/mnt/hcp", "-f", "-o", OURS)
    assert (result.returncode, arguments) == (0, [])  # mount -f: fake, nothing runs
    for flags in (["-N", "/proc/1/ns/mnt"], ["-x"], ["extra"], ["-o"]):
        result, arguments = recorder(HOST, "/mnt/hcp", *flags)
        assert (result.returncode, arguments) == (Problem.USAGE, []), flags
        assert result.stderr.startswith("hcpfs: error: "), result.stderr
    result = run([str(HELPER), HOST, "/mnt/hcp"], env={"PATH": "/usr/bin:/bin"})
    assert result.returncode == Problem.FAILURE
    assert "cannot find the hcpfs program" in result.stderr


def test_fstab_line_mounts_through_mount8(
    hcp: Emulator,
    dns: str,
    tmp_path: Path,
    orphans: Orphans,
    hcp_status: Callable[[str], int],
) -> None:
    """mount(8) finds /sbin/mount.fuse.hcpfs, a link to the helper, which finds hcpfs beside
    its real file; the file written reaches HCP; hcpfs umount ends the serving process."""
    hcp.reset()
    installed = tmp_path / "opt"
    hcpfs = hcpfs_program(installed)
    shutil.copy(HELPER, installed / "mount.hcpfs")
    sbin = tmp_path / "sbin"
    sbin.mkdir()
    (sbin / "mount.fuse.hcpfs").symlink_to(installed / "mount.hcpfs")
    real = tmp_path / "real-sbin"
    real.mkdir()
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    credentials = credentials_file(hcp, tmp_path / "ns1.cred")
    fstab = tmp_path / "fstab"
    fstab.write_text(
        f"{hcp.host} {mnt} fuse.hcpfs credentials={credentials},dns={dns},port={hcp.port},"
        f"staging_dir={tmp_path / 'staging'},log={tmp_path / 'mount.log'},"
        "_netdev,nofail,noatime,x-systemd.automount 0 0\n"
    )
    # /usr/sbin keeps its programs (ctypes asks /sbin/ldconfig for libfuse), as links into the
    # real one bound elsewhere.
    script = """set -eu
    mount --bind /usr/sbin "$REAL"
    for program in "$REAL"/*; do
        [ -e "$SBIN/${program##*/}" ] || ln -s "$program" "$SBIN/${program##*/}"
    done
    mount --bind "$SBIN" /usr/sbin
    mount -n -T "$FSTAB" "$MNT"
    echo "pid: $(cat "$PIDFILE")"
    echo "mounted: $(findmnt -rn -o FSTYPE,SOURCE -M "$MNT")"
    printf 'through fstab' > "$MNT/fstab.txt"
    echo "read: $(cat "$MNT/fstab.txt")"
    "$PROGRAM" umount "$MNT"
    findmnt -M "$MNT" >/dev/null || echo "unmounted"
    """
    env = {
        "PATH": "/usr/bin:/bin",  # no hcpfs on it: the helper must find its own
        "SBIN": str(sbin),
        "REAL": str(real),
        "FSTAB": str(fstab),
        "MNT": str(mnt),
        "PIDFILE": str(mounting.pid_file(mnt)),
        "PROGRAM": str(hcpfs),
    }
    try:
        result = run(["unshare", "-m", "--propagation", "private", "sh", "-c", script], env=env)
        log = (tmp_path / "mount.log").read_text() if (tmp_path / "mount.log").exists() else ""
        said = f"{result.stdout}\n{result.stderr}\n---- log ----\n{log}"
        lines = dict(line.split(": ", 1) for line in result.stdout.splitlines() if ": " in line)
        if "pid" in lines:
            orphans.pids.add(int(lines["pid"].split()[0]))
        assert result.returncode == 0, said
        assert lines["mounted"] == f"fuse.hcpfs {hcp.host}", said
        assert lines["read"] == "through fstab", said
        assert result.stdout.splitlines()[-1] == "unmounted", said
        (pid,) = orphans.pids
        assert orphans.wait(pid) == 0, said
        assert hcp_status("/fstab.txt") == 200
    finally:
        orphans.stop(mnt)


# -- the systemd unit --------------------------------------------------------------------------


@dataclasses.dataclass
class Unit:
    """The settings of a unit file, in order, continuation lines joined."""

    settings: list[tuple[str, str, str]]

    @classmethod
    def read(cls, path: Path) -> Unit:
        text = path.read_text().replace("\\\n", " ")
        section, settings = "", []
        for raw in text.splitlines():
            line = raw.strip()
            if not line or line.startswith(("#", ";")):
                continue
            if line.startswith("["):
                section = line.strip("[]")
                continue
            key, _, value = line.partition("=")
            settings.append((section, key.strip(), value.strip()))
        return cls(settings)

    def values(self, section: str, key: str) -> list[str]:
        return [v for s, k, v in self.settings if (s, k) == (section, key)]

    def value(self, section: str, key: str) -> str:
        (found,) = self.values(section, key)
        return found


def expand(command: str, instance: str, environment: dict[str, str]) -> tuple[list[str], bool]:
    """Split and expand an Exec line as systemd does; return the words and whether a failure
    is ignored (the ``-`` prefix)."""
    ignore = command.startswith("-")
    command = command.removeprefix("-")
    assert command[0] not in "@+!:", f"prefix not handled here: {command}"
    # Only ${NAME} and $$ are used: a bare $NAME would split into words, which this does not do.
    assert not re.search(r"(?<!\$)\$(?![{$])", command.replace("$$", "")), command
    words = shlex.split(command.replace("%i", instance).replace("%I", instance))

    def variable(match: re.Match[str]) -> str:
        return "$" if match.group(0) == "$$" else environment.get(match.group(1), "")

    return [re.sub(r"\$\$|\$\{(\w+)\}", variable, word) for word in words], ignore


def unit_environment(unit: Unit, instance: str, config: Path) -> dict[str, str]:
    """Environment= first, then the EnvironmentFile (which wins), as systemd does."""
    environment = {"PATH": SYSTEMD_PATH}
    for line in unit.values("Service", "Environment"):
        for word in shlex.split(line.replace("%i", instance)):
            name, _, value = word.partition("=")
            environment[name] = value
    assert unit.value("Service", "EnvironmentFile") == "/etc/hcpfs/%i.conf"
    for line in config.read_text().splitlines():
        name, _, value = line.partition("=")
        environment[name] = value
    return environment


def test_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    assert shutil.which("systemd-analyze"), "systemd-analyze (package systemd) is needed"
    hcpfs = hcpfs_program(tmp_path / "bin")
    text = UNIT.read_text()
    assert text.count(f"={UNIT_HCPFS} ") == 2  # ExecStart and ExecStop
    copy = tmp_path / "hcpfs@.service"
    # verify checks that the programs exist; the unit's is not installed here.
    copy.write_text(text.replace(UNIT_HCPFS, str(hcpfs)))
    result = run(["systemd-analyze", "verify", "--man=no", str(tmp_path / "hcpfs@ns1.service")])
    assert (result.returncode, result.stdout + result.stderr) == (0, "")
    broken = tmp_path / "broken@.service"
    broken.write_text(copy.read_text().replace("Restart=", "Restrat="))
    result = run(["systemd-analyze", "verify", "--man=no", str(tmp_path / "broken@ns1.service")])
    assert "Restrat" in result.stderr  # what the first check would have shown


def test_unit_mounts_stops_and_clears_a_dead_mount(
    hcp: Emulator, dns: str, tmp_path: Path, hcp_status: Callable[[str], int]
) -> None:
    """ExecStart serves the mount, ExecStartPost waits for it, ExecStop unmounts and the
    process ends with 0; after a crash, ExecStopPost clears the dead mount."""
    hcp.reset()
    unit = Unit.read(UNIT)
    assert unit.value("Service", "Type") == "exec"
    assert unit.value("Service", "Restart") == "on-failure"
    assert "network-online.target" in unit.value("Unit", "After")
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    config = tmp_path / "ns1.conf"
    config.write_text(
        f"NAMESPACE={hcp.host}\nMOUNTPOINT={mnt}\n"
        f"CREDENTIALS={credentials_file(hcp, tmp_path / 'ns1.cred')}\n"
        f"STAGING={tmp_path / 'staging'}\nOPTIONS=dns={dns},port={hcp.port}\n"
    )
    environment = unit_environment(unit, "ns1", config)
    hcpfs = str(hcpfs_program(tmp_path / "bin"))

    def command(key: str) -> tuple[list[str], bool]:
        words, ignore = expand(unit.value("Service", key), "ns1", environment)
        if words[0] == UNIT_HCPFS:
            words[0] = hcpfs
        return words, ignore

    start, _ = command("ExecStart")
    parsed = cli._parser().parse_args(start[1:])
    assert (parsed.command, parsed.namespace, parsed.mountpoint) == ("mount", hcp.host, str(mnt))
    assert parsed.foreground
    log = (tmp_path / "serving.log").open("wb")
    main: subprocess.Popen[bytes] | None = None

    def serve() -> subprocess.Popen[bytes]:
        process = subprocess.Popen(start, env=environment, stdout=log, stderr=log)
        post, _ = command("ExecStartPost")
        started = run(post, env={**environment, "MAINPID": str(process.pid)})
        said = (tmp_path / "serving.log").read_text()
        assert started.returncode == 0, said
        entry = mounting.mounted_at(mnt)
        assert entry is not None and entry.fstype == mounting.FSTYPE, said
        return process

    try:
        main = serve()
        (mnt / "unit.txt").write_text("served by the unit")
        assert (mnt / "unit.txt").read_text() == "served by the unit"
        assert hcp_status("/unit.txt") == 200
        stop, ignore = command("ExecStop")
        assert not ignore
        stopped = run(stop, env={**environment, "MAINPID": str(main.pid)})
        assert stopped.returncode == 0, stopped.stderr
        assert main.wait(DEADLINE) == 0
        assert (tmp_path / "staging").is_dir()

        main = serve()
        main.kill()
        main.wait(DEADLINE)
        assert mounting.mounted_at(mnt) is not None  # dead: "Transport endpoint ..."
        stop_post, ignore = command("ExecStopPost")
        assert ignore
        assert run(stop_post, env=environment).returncode == 0
        assert mounting.mounted_at(mnt) is None
    finally:
        if mounting.mounted_at(mnt) is not None:
            subprocess.run(["fusermount3", "-uz", str(mnt)], check=False, timeout=DEADLINE)
        if main is not None and main.poll() is None:
            main.kill()
            main.wait(DEADLINE)
        mounting.pid_file(mnt).unlink(missing_ok=True)
        log.close()


def test_unit_does_not_restart_after_refusals_that_would_repeat() -> None:
    unit = Unit.read(UNIT)
    statuses = {int(s) for s in unit.value("Service", "RestartPreventExitStatus").split()}
    assert statuses == {
        Problem.USAGE,
        Problem.CREDENTIALS,
        Problem.AUTH,
        Problem.NAMESPACE,
        Problem.TLS,
    }


# -- documents that follow the code ------------------------------------------------------------


def section(text: str, heading: str) -> str:
    """Return the part of ``text`` under ``heading`` up to the next heading of its level."""
    level = heading.split(" ", maxsplit=1)[0]
    start = text.index(f"\n{heading}\n")
    end = re.search(rf"\n{level} ", text[start + 1 :])
    return text[start : start + 1 + end.start()] if end else text[start:]


def test_usage_lists_every_option_and_no_other() -> None:
    from_code = {field.name for field in dataclasses.fields(Options)}
    from_code |= set(options._ALIASES) | set(mounting._MOUNT_OPTIONS)
    table = section((DOCS / "usage.md").read_text(), "### Options")
    documented = set()
    for line in table.splitlines():
        if line.startswith("| `"):
            first_cell = line.split("|")[1]
            documented |= set(re.findall(r"`([a-z_]+)(?:=[^`]*)?`", first_cell))
    assert documented == from_code


def test_troubleshooting_has_every_exit_status() -> None:
    text = (DOCS / "troubleshooting.md").read_text()
    for problem in Problem:
        assert re.search(rf"^\| {problem.value} \| `{problem.name}` \|", text, re.M), problem
        assert re.search(rf"^### {problem.value}: ", text, re.M), problem


def slugs(path: Path) -> set[str]:
    """The anchors GitHub makes for the headings of a Markdown file."""
    headings = re.findall(r"^#+ (.+)$", path.read_text(), re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}


@pytest.mark.parametrize("page", ["docs/usage.md", "docs/troubleshooting.md", "README.md"])
def test_links_lead_to_existing_sections(page: str) -> None:
    path = ROOT / page
    links = re.findall(r"\]\(([^)#\s]*)(?:#([^)\s]+))?\)", path.read_text())
    assert links
    for target, anchor in links:
        if target.startswith("http"):
            continue
        linked = (path.parent / target) if target else path
        assert linked.exists(), target
        if anchor:
            assert anchor in slugs(linked), f"{target}#{anchor}"
