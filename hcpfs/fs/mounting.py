"""Mounting a namespace: credentials, checks before mounting, the serving process, unmounting.

``hcpfs mount`` and ``hcpfs umount`` (in :mod:`hcpfs.cli`) are thin over this module. Every
refusal is a :class:`MountError` whose :class:`Problem` is also the command's exit status, so a
script or mount(8) can tell a refused password from a missing mount point. Nothing here prints;
the serving process logs.

The process that serves a mount writes ``<pid> <start time>`` to a pid file named after the
mount point (:func:`pid_file`), so that ``hcpfs umount`` can wait for it to finish its uploads
and exit.
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import gc
import logging
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from hcpfs.fs.backend import BackendConnectionError, BackendError
from hcpfs.fs.core import Filesystem
from hcpfs.fs.errors import FsError
from hcpfs.fs.hcpbackend import HcpBackend
from hcpfs.fs.options import Options, OptionsError, default_staging_dir, parse_bool
from hcpfs.sdk import ips
from hcpfs.sdk.auth import NativeAuthorization
from hcpfs.sdk.errors import HcpsdkCertificateError, HcpsdkError
from hcpfs.sdk.target import Target

log = logging.getLogger(__name__)

GC_THRESHOLD = 20_000
"""Allocations of container objects, less deallocations, between two young collections."""

FSTYPE = "fuse.hcpfs"
"""The filesystem type the kernel shows for hcpfs mounts (``fuse.`` and the subtype)."""

MOUNT_DEADLINE = 30.0
"""Seconds ``hcpfs mount`` waits for the serving process to have the mount up."""
UMOUNT_DEADLINE = 60.0
"""Seconds ``hcpfs umount`` waits for the serving process to finish and exit."""
_POLL = 0.05

ENV_USER = "HCPFS_USER"
ENV_PASSWORD = "HCPFS_PASSWORD"  # noqa: S105  # the name of a variable, not a password

# Options that fstab and mount(8) add for every filesystem; meaningless to hcpfs.
_GENERIC_OPTIONS = frozenset(
    {
        "defaults",
        "auto",
        "noauto",
        "user",
        "nouser",
        "users",
        "owner",
        "group",
        "_netdev",
        "nofail",
        "dev",
        "nodev",
        "suid",
        "nosuid",
        "exec",
        "noexec",
        "atime",
        "noatime",
        "relatime",
        "strictatime",
        "nodiratime",
        "async",
        "sync",
        "dirsync",
        "lazytime",
        "nolazytime",
        "diratime",
        "norelatime",
        "nostrictatime",
        "mand",
        "nomand",
        "iversion",
        "noiversion",
        "symfollow",
        "nosymfollow",
        "silent",
        "loud",
    }
)


class Problem(enum.IntEnum):
    """What went wrong; the value is the exit status of the command."""

    FAILURE = 1
    USAGE = 2
    CREDENTIALS = 3
    AUTH = 4
    NAMESPACE = 5
    DNS = 6
    UNREACHABLE = 7
    TLS = 8
    MOUNTPOINT = 9
    MOUNT = 10
    BUSY = 11


class MountError(Exception):
    """A refusal of ``hcpfs mount`` or ``hcpfs umount``, in one line, with a hint.

    :param problem: the kind, which is also the exit status
    :param message: what is wrong
    :param hint: what to do about it
    """

    def __init__(self, problem: Problem, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.problem = problem
        self.message = message
        self.hint = hint


@dataclass(frozen=True)
class Credentials:
    """A data access account of the namespace; the password never shows in ``repr``."""

    user: str
    password: str = field(repr=False)


@dataclass(frozen=True)
class MountRequest:
    """Everything ``hcpfs mount`` was asked for.

    :param fqdn: the namespace's host name, ``namespace.tenant.domain``
    :param mountpoint: the directory to mount on, absolute
    :param options: the filesystem's options
    :param credentials: the credentials file, or None for the environment
    :param dns: a DNS server ``host[:port]``, ``system`` for the system resolver (which also
        reads ``/etc/hosts``), or None to ask the servers of ``/etc/resolv.conf`` directly
    :param tls: force TLS on or off; None: on for ports 443, 8000 and 9090
    :param log_file: where a mount running in the background logs
    :param debug: log every request and every refused operation (like ``--debug``)
    """

    fqdn: str
    mountpoint: Path
    options: Options = field(default_factory=Options)
    credentials: Path | None = None
    cafile: str | None = None
    dns: str | None = None
    port: int = 443
    tls: bool | None = None
    nonempty: bool = False
    log_file: Path | None = None
    debug: bool = False
    raw_options: str = ""


# -- options and credentials -------------------------------------------------------------------


def parse_request(fqdn: str, mountpoint: str, option_text: str) -> MountRequest:
    """Split ``-o`` options into those of the mount and those of the filesystem.

    :param fqdn: the namespace's host name
    :param mountpoint: the mount point as given
    :param option_text: the comma-separated options
    :raises MountError: (USAGE) for an unknown option or a bad value
    """
    if fqdn.count(".") < 3 or ips._is_address(fqdn):
        raise MountError(
            Problem.USAGE,
            f"{fqdn!r} is not a namespace host name",
            "give the namespace as namespace.tenant.domain, e.g. ns1.dev.hcp.example.com",
        )
    ours: dict[str, str] = {}
    passed: list[str] = []
    for item in filter(None, (part.strip() for part in option_text.split(","))):
        name, _, value = item.partition("=")
        if name in _GENERIC_OPTIONS or name.lower().startswith(("x-", "comment")):
            continue
        if name in _MOUNT_OPTIONS:
            ours[name] = value
        else:
            passed.append(item)
    try:
        options = Options.parse(",".join(passed))
        # libfuse changes the serving process's directory to /: relative paths would break.
        options = dataclasses.replace(options, staging_dir=options.staging_dir.resolve())
    except OptionsError as error:
        mount_options = ", ".join(sorted(_MOUNT_OPTIONS))
        raise MountError(
            Problem.USAGE, str(error), f"options of the mount itself: {mount_options}"
        ) from None
    return _request(fqdn, Path(mountpoint).resolve(), options, ours, option_text)


_MOUNT_OPTIONS = frozenset(
    {"credentials", "cafile", "dns", "port", "tls", "notls", "nonempty", "log", "debug"}
)


def _request(
    fqdn: str, mountpoint: Path, options: Options, ours: Mapping[str, str], raw: str
) -> MountRequest:
    port_text = ours.get("port", "443")
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise MountError(Problem.USAGE, f"port: {port_text!r} is not a TCP port")
    tls = _flag(ours, "tls")
    if _flag(ours, "notls"):
        tls = False
    return MountRequest(
        fqdn=fqdn.lower(),
        mountpoint=mountpoint,
        options=options,
        credentials=_path_option(ours, "credentials"),
        cafile=str(_path_option(ours, "cafile")) if "cafile" in ours else None,
        dns=ours.get("dns") or None,
        port=int(port_text),
        tls=tls,
        nonempty=bool(_flag(ours, "nonempty")),
        log_file=_path_option(ours, "log"),
        debug=bool(_flag(ours, "debug")),
        raw_options=raw,
    )


def _flag(ours: Mapping[str, str], name: str) -> bool | None:
    """The truth value of a flag option (``name`` alone means true), None when not given."""
    if name not in ours:
        return None
    value = ours[name] or "true"
    try:
        return parse_bool(value)
    except ValueError:
        raise MountError(
            Problem.USAGE, f"{name}: {value!r} is not valid, expected true or false"
        ) from None


def _path_option(ours: Mapping[str, str], name: str) -> Path | None:
    if name not in ours:
        return None
    if not ours[name]:
        raise MountError(Problem.USAGE, f"{name}: needs a file name, as {name}=FILE")
    return Path(ours[name]).expanduser().resolve()


def read_credentials(path: Path | None, environ: Mapping[str, str]) -> Credentials:
    """Read the credentials from a file, or from ``HCPFS_USER`` and ``HCPFS_PASSWORD``.

    The file holds ``user=NAME`` and ``password=SECRET`` lines, or one ``NAME:SECRET`` line;
    blank lines and lines starting with ``#`` are skipped. It must not be accessible to group
    or others.

    :param path: the credentials file, or None for the environment
    :param environ: the environment
    :raises MountError: (CREDENTIALS) when none are found or the file is unsafe
    """
    if path is None:
        user, password = environ.get(ENV_USER, ""), environ.get(ENV_PASSWORD, "")
        if not user or not password:
            raise MountError(
                Problem.CREDENTIALS,
                "no credentials: give -o credentials=FILE, or set HCPFS_USER and HCPFS_PASSWORD",
                "credentials are never taken from the command line, where others could see them",
            )
        return Credentials(user, password)
    text = _read_private(path)
    found: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, has_equals, value = line.partition("=")
        if has_equals and key.strip() in ("user", "username", "password"):
            found["password" if key.strip() == "password" else "user"] = value.strip()
        elif ":" in line:
            found["user"], _, found["password"] = line.partition(":")
        else:
            raise MountError(
                Problem.CREDENTIALS,
                f"{path}, line {number}: expected user=NAME, password=SECRET or NAME:SECRET",
            )
    if not found.get("user") or not found.get("password"):
        raise MountError(Problem.CREDENTIALS, f"{path} does not give both a user and a password")
    return Credentials(found["user"], found["password"])


def _read_private(path: Path) -> str:
    try:
        with path.open(encoding="utf-8") as file:
            mode = os.fstat(file.fileno()).st_mode
            if mode & 0o077:
                raise MountError(
                    Problem.CREDENTIALS,
                    f"{path} is accessible to group or others (mode {mode & 0o777:o})",
                    f"make it private: chmod 600 {path}",
                )
            return file.read()
    except OSError as error:
        raise MountError(
            Problem.CREDENTIALS, f"cannot read the credentials file {path}: {error.strerror}"
        ) from None


# -- checks before mounting --------------------------------------------------------------------


@dataclass(frozen=True)
class MountEntry:
    """One line of ``/proc/self/mountinfo``."""

    mountpoint: str
    fstype: str
    source: str
    device: str = ""
    """The device number as ``major:minor``."""


def mounts() -> list[MountEntry]:
    """Return the mounts this process sees."""
    found = []
    table = Path("/proc/self/mountinfo")
    with table.open(encoding="utf-8", errors="surrogateescape") as file:
        for line in file:
            fields = line.split()
            rest = fields[fields.index("-") + 1 :]
            entry = MountEntry(_unescape(fields[4]), rest[0], _unescape(rest[1]), fields[2])
            found.append(entry)
    return found


def _unescape(text: str) -> str:
    # The kernel writes space, tab, newline and backslash as octal escapes.
    for code in ("040", "011", "012", "134"):
        text = text.replace("\\" + code, chr(int(code, 8)))
    return text


def mounted_at(mountpoint: Path) -> MountEntry | None:
    """Return the mount whose mount point is exactly ``mountpoint``, if any (the last one).

    :param mountpoint: an absolute path
    """
    found = [entry for entry in mounts() if entry.mountpoint == str(mountpoint)]
    return found[-1] if found else None


def check_mountpoint(mountpoint: Path, nonempty: bool = False) -> None:
    """Make sure ``mountpoint`` is an existing, empty directory that nothing is mounted on.

    :param mountpoint: an absolute path
    :param nonempty: allow a directory that has entries
    :raises MountError: (MOUNTPOINT) saying what is wrong
    """
    existing = mounted_at(mountpoint)
    if existing is not None:
        raise MountError(
            Problem.MOUNTPOINT,
            f"{mountpoint} is already a mount point ({existing.fstype} from {existing.source})",
            f"unmount it first: hcpfs umount {mountpoint}",
        )
    try:
        entries = list(mountpoint.iterdir())
    except FileNotFoundError:
        raise MountError(
            Problem.MOUNTPOINT,
            f"mount point {mountpoint} does not exist",
            f"create it: mkdir {mountpoint}",
        ) from None
    except NotADirectoryError:
        raise MountError(
            Problem.MOUNTPOINT, f"mount point {mountpoint} is not a directory"
        ) from None
    except OSError as error:
        raise MountError(
            Problem.MOUNTPOINT, f"cannot use {mountpoint} as mount point: {error.strerror}"
        ) from None
    if entries and not nonempty:
        raise MountError(
            Problem.MOUNTPOINT,
            f"mount point {mountpoint} is not empty",
            "mount on an empty directory, or add -o nonempty to hide its content",
        )


def connect(request: MountRequest, credentials: Credentials) -> HcpBackend:
    """Find the namespace's nodes, log in and check the namespace, then return the backend.

    :param request: what to connect to
    :param credentials: the account
    :raises MountError: DNS, NAMESPACE, AUTH, UNREACHABLE or TLS
    """
    _check_name(request)
    system = "system" if request.dns == "system" else None
    try:
        target = Target(
            request.fqdn,
            NativeAuthorization(credentials.user, credentials.password),
            port=request.port,
            dnscache=system is not None,
            resolver=None if system else request.dns,
            cafile=request.cafile,
            tls=request.tls,
        )
    except (HcpsdkError, OSError, ValueError) as error:
        raise MountError(Problem.DNS, f"cannot set up {request.fqdn}: {error}") from None
    backend = HcpBackend(target)
    try:
        backend.check_access()
        backend.namespace_info()
    except (BackendError, BackendConnectionError) as error:
        backend.close()
        raise _access_problem(request, credentials, target, error) from None
    return backend


def _check_name(request: MountRequest) -> None:
    """Resolve the namespace's name; tell an unknown namespace from a DNS that fails."""
    cache = request.dns == "system"
    server = None if cache else request.dns
    where = f"the DNS server {request.dns}" if server else "DNS"
    started = time.monotonic()
    answer = ips.query(request.fqdn, cache=cache, resolver=server)
    if not answer.raised:
        return
    if time.monotonic() - started >= ips.DNS_LIFETIME / 2:
        # A server that does not answer: asking it about the tenant would only wait again.
        raise MountError(
            Problem.DNS,
            f"{where} did not answer for {request.fqdn} within {ips.DNS_LIFETIME:.0f} s",
            "check that the DNS server is up, or name another with -o dns=ADDRESS[:PORT]",
        )
    namespace, tenant = request.fqdn.split(".", 1)
    if not ips.query(tenant, cache=cache, resolver=server).raised:
        raise MountError(
            Problem.NAMESPACE,
            f"tenant {tenant} has no namespace {namespace!r} (DNS knows {tenant}, "
            f"not {request.fqdn})",
            "check the namespace name; HCP's tenant administrator can list them",
        )
    raise MountError(
        Problem.DNS,
        f"cannot resolve {request.fqdn} with {where}: {answer.raised}",
        "check the name, or name HCP's DNS server with -o dns=ADDRESS[:PORT]",
    )


def _access_problem(
    request: MountRequest,
    credentials: Credentials,
    target: Target,
    error: BackendError | BackendConnectionError,
) -> MountError:
    said = f": {error.message}" if isinstance(error, BackendError) and error.message else ""
    if isinstance(error, BackendConnectionError):
        if isinstance(error.__cause__, HcpsdkCertificateError):
            return MountError(
                Problem.TLS,
                f"the TLS certificate of {request.fqdn} did not verify: {error.reason}",
                "give the CA of HCP's certificate with -o cafile=FILE",
            )
        nodes = ", ".join(target.addresses)
        return MountError(
            Problem.UNREACHABLE,
            f"no node of {request.fqdn} ({nodes}) answered on port {request.port}: {error.reason}",
            "check the port (-o port=N) and TLS (-o tls or -o notls) and that HCP is up",
        )
    if error.status == 400:
        return MountError(
            Problem.NAMESPACE,
            f"HCP has no namespace {request.fqdn}{said}",
            "check the namespace name",
        )
    if error.status in (401, 403):
        return MountError(
            Problem.AUTH,
            f"HCP refused user {credentials.user!r} for {request.fqdn} ({error.status}){said}",
            "check the user name and password, and the user's permissions on the namespace",
        )
    return MountError(Problem.FAILURE, f"HCP answered {error.status} for {request.fqdn}{said}", "")


# -- the serving process -----------------------------------------------------------------------


def runtime_dir() -> Path:
    """Return the directory for pid files: ``/run/hcpfs`` for root, else a per-user one."""
    if os.geteuid() == 0:
        return Path("/run/hcpfs")
    base = os.environ.get("XDG_RUNTIME_DIR")
    return Path(base) / "hcpfs" if base else Path(f"/tmp/hcpfs-{os.geteuid()}")  # noqa: S108


def pid_file(mountpoint: Path) -> Path:
    """Return the pid file of the process serving ``mountpoint``.

    :param mountpoint: an absolute path
    """
    return runtime_dir() / (quote(str(mountpoint), safe="") + ".pid")


@contextlib.contextmanager
def serving(mountpoint: Path) -> Iterator[None]:
    """Record this process as the server of ``mountpoint`` while the block runs.

    :param mountpoint: an absolute path
    """
    path = pid_file(mountpoint)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.write_text(f"{os.getpid()} {process_start_time(os.getpid())}\n", encoding="ascii")
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            path.unlink()


def serving_pid(mountpoint: Path) -> int | None:
    """Return the pid of the live process serving ``mountpoint``, if it recorded one.

    :param mountpoint: an absolute path
    """
    try:
        pid_text, _, started = pid_file(mountpoint).read_text(encoding="ascii").partition(" ")
        pid = int(pid_text)
    except (OSError, ValueError):
        return None
    # The start time tells the recorded process from a later one that got the same pid.
    return pid if alive(pid) and process_start_time(pid) == started.strip() else None


def alive(pid: int) -> bool:
    """Tell whether ``pid`` runs; a zombie (exited, not yet reaped) does not.

    :param pid: the process id
    """
    try:
        state = _stat_fields(pid)[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def process_start_time(pid: int) -> str:
    """Return when ``pid`` started (clock ticks after boot, as text), or "" if it is gone.

    :param pid: the process id
    """
    try:
        return _stat_fields(pid)[19]
    except (OSError, IndexError):
        return ""


def _stat_fields(pid: int) -> list[str]:
    """Return the fields of ``/proc/PID/stat`` after the command name (state first)."""
    text = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    return text.rpartition(")")[2].split()


def wait_until(condition: Callable[[], bool], deadline: float) -> bool:
    """Poll ``condition`` until it holds or ``deadline`` (monotonic seconds) passes.

    :param condition: what to wait for
    :param deadline: when to give up
    :return: whether the condition held
    """
    while True:
        if condition():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(_POLL)


def serve(request: MountRequest, credentials: Credentials) -> None:
    """Check, connect and serve the mount in this process until it is unmounted.

    :param request: what to mount
    :param credentials: the account
    :raises MountError: for every refusal before the mount is up
    """
    # Imported here: it loads libfuse, which only the serving process needs.
    from hcpfs.fs import fuse  # noqa: PLC0415

    check_mountpoint(request.mountpoint, request.nonempty)
    backend = connect(request, credentials)
    try:
        try:
            filesystem = Filesystem(backend, request.options)
        except FsError as error:
            raise MountError(Problem.FAILURE, f"cannot start the filesystem: {error}") from None
        log.info("serving %s at %s", request.fqdn, request.mountpoint)
        settle_garbage_collector()
        threading.Thread(
            target=widen_readahead,
            args=(request.mountpoint, fuse.KERNEL_READAHEAD, time.monotonic() + MOUNT_DEADLINE),
            name="hcpfs-readahead",
            daemon=True,
        ).start()
        with serving(request.mountpoint):
            try:
                fuse.mount(
                    filesystem,
                    request.mountpoint,
                    request.options,
                    foreground=True,
                    fsname=request.fqdn,
                )
            except RuntimeError as error:
                raise MountError(
                    Problem.MOUNT,
                    f"libfuse could not mount {request.mountpoint} (status {error})",
                    "is /dev/fuse there, and fuse3 installed? run with --debug for details",
                ) from None
        log.info("%s at %s is unmounted", request.fqdn, request.mountpoint)
    finally:
        backend.close()


def settle_garbage_collector() -> None:
    """Make the interpreter's cycle collector cheap for a long-running daemon.

    The objects made while starting (modules, classes, the backend) live as long as the mount,
    so they are moved out of the collector's sight. A listing of thousands of entries keeps
    thousands of new objects alive at once; with the interpreter's default threshold each
    batch of 700 of them sets off a collection, which together made parsing a large listing
    about 40 % slower.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_THRESHOLD, *gc.get_threshold()[1:])


def widen_readahead(mountpoint: Path, size: int, deadline: float) -> bool:
    """Let the kernel read ``size`` bytes ahead on the mount at ``mountpoint`` once it is up.

    Linux caps the read-ahead of a FUSE mount at the default of its backing device (128 KiB),
    whatever the filesystem asks for, so sequential reads would arrive in 128 KiB requests
    instead of 1 MiB ones. Root can raise the cap in ``/sys/class/bdi``; for other users the
    cap stays, and reads are slower.

    :param mountpoint: an absolute path
    :param size: the read-ahead, in bytes
    :param deadline: when to give up waiting for the mount (monotonic seconds)
    :return: whether the read-ahead was set
    """

    def up() -> bool:
        entry = mounted_at(mountpoint)
        return entry is not None and entry.fstype == FSTYPE

    entry = mounted_at(mountpoint) if wait_until(up, deadline) else None
    if entry is None or not entry.device:
        return False
    setting = Path("/sys/class/bdi") / entry.device / "read_ahead_kb"
    try:
        setting.write_text(f"{size // 1024}\n", encoding="ascii")
    except OSError as error:
        log.debug("read-ahead of %s stays as the kernel set it: %s", mountpoint, error)
        return False
    log.debug("read-ahead of %s set to %d KiB", mountpoint, size // 1024)
    return True


def default_log_file() -> Path:
    """Return where a mount in the background logs unless ``-o log=FILE`` says otherwise."""
    return default_staging_dir().parent / "mount.log"


def start_in_background(
    request: MountRequest, arguments: Sequence[str], deadline: float = MOUNT_DEADLINE
) -> int:
    """Start the serving process and return its pid once the mount is up.

    The serving process is ``hcpfs mount ... -f`` in a session of its own, logging to the log
    file; when it exits before the mount appears, its error becomes this function's.

    :param request: the mount asked for (already checked)
    :param arguments: the ``hcpfs`` arguments that make the serving process
    :param deadline: seconds to wait for the mount
    :raises MountError: with the serving process's problem and message
    """
    log_file = request.log_file or default_log_file()
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("ab") as sink:
        start = sink.tell()
        process = subprocess.Popen(  # noqa: S603  # our own interpreter and module
            [sys.executable, "-m", "hcpfs.cli", *arguments],
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=sink,
            start_new_session=True,
        )
    up = wait_until(
        lambda: process.poll() is not None or _is_hcpfs_mount(request.mountpoint),
        time.monotonic() + deadline,
    )
    if up and process.poll() is None:
        return process.pid
    if process.poll() is None:
        process.terminate()
        process.wait(deadline)
        raise MountError(
            Problem.MOUNT,
            f"the mount of {request.mountpoint} did not appear within {deadline:.0f} s",
            f"see the log: {log_file}",
        )
    raise _child_error(process.returncode, log_file, start)


def _is_hcpfs_mount(mountpoint: Path) -> bool:
    entry = mounted_at(mountpoint)
    return entry is not None and entry.fstype == FSTYPE


def _child_error(status: int, log_file: Path, start: int) -> MountError:
    with log_file.open("rb") as file:
        file.seek(start)
        lines = file.read().decode("utf-8", "replace").splitlines()
    said = [line for line in lines if line.startswith("hcpfs: ")]
    message = next((line[14:] for line in said if line.startswith("hcpfs: error: ")), "")
    hint = next((line[13:] for line in said if line.startswith("hcpfs: hint: ")), "")
    try:
        problem = Problem(status)
    except ValueError:
        problem = Problem.MOUNT
    if not message:
        tail = " / ".join(lines[-3:]) or f"exit status {status}"
        message = f"the hcpfs process stopped before the mount was up: {tail}"
        hint = hint or f"see the log: {log_file}"
    return MountError(problem, message, hint)


def unmount(mountpoint: Path, deadline: float = UMOUNT_DEADLINE) -> int | None:
    """Unmount an hcpfs mount and wait for its serving process to exit.

    :param mountpoint: an absolute path
    :param deadline: seconds to wait for the serving process
    :return: the pid of the process that served the mount, if it was known
    :raises MountError: MOUNTPOINT (not an hcpfs mount), BUSY, or FAILURE
    """
    entry = mounted_at(mountpoint)
    if entry is None:
        raise MountError(Problem.MOUNTPOINT, f"nothing is mounted on {mountpoint}")
    if entry.fstype != FSTYPE:
        raise MountError(
            Problem.MOUNTPOINT,
            f"{mountpoint} is not an hcpfs mount ({entry.fstype})",
            "use umount for other filesystems",
        )
    pid = serving_pid(mountpoint)
    _run_unmount(mountpoint)
    if pid is not None and not wait_until(lambda: not alive(pid), time.monotonic() + deadline):
        raise MountError(
            Problem.FAILURE,
            f"{mountpoint} is unmounted, but its hcpfs process {pid} has not exited after "
            f"{deadline:.0f} s",
            "it may still be uploading; see its log",
        )
    return pid


def _run_unmount(mountpoint: Path) -> None:
    fusermount = shutil.which("fusermount3") or shutil.which("fusermount")
    command = [fusermount, "-u"] if fusermount else ["umount"]
    # fusermount3 as found on PATH: the tool FUSE documents for unmounting.
    result = subprocess.run(  # noqa: S603, PLW1510  # the status is checked below
        [*command, str(mountpoint)], capture_output=True, text=True
    )
    if result.returncode == 0:
        return
    said = result.stderr.strip().splitlines()[-1:] or [f"exit status {result.returncode}"]
    if "busy" in said[0].lower():
        raise MountError(
            Problem.BUSY,
            f"{mountpoint} is busy: a program still has a file or directory open in it",
            f"close those programs (fuser -vm {mountpoint} lists them), then try again",
        )
    raise MountError(Problem.FAILURE, f"cannot unmount {mountpoint}: {said[0]}")
