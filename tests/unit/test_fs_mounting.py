"""The parts of ``hcpfs mount`` that need no network and no FUSE: options, credentials, the
mount table, pid files, and the serving process's errors (docs/usage.md)."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hcpfs.fs import mounting
from hcpfs.fs.mounting import Credentials, MountError, Problem
from hcpfs.fs.options import Overwrite

HOST = "ns1.dev.hcp.example.com"


def test_options_are_split_between_the_mount_and_the_filesystem(tmp_path: Path) -> None:
    request = mounting.parse_request(
        HOST.upper(),
        str(tmp_path / "x" / ".." / "mnt"),
        "defaults,_netdev,noauto,x-systemd.automount,ro,uid=1000,overwrite=refuse,"
        f"credentials={tmp_path}/cred,dns=10.0.0.1:5353,port=8080,notls,nonempty,"
        f"cafile={tmp_path}/ca.pem,log={tmp_path}/log",
    )
    assert request.fqdn == HOST
    assert request.mountpoint == tmp_path / "mnt"
    assert request.options.read_only and request.options.uid == 1000
    assert request.options.overwrite is Overwrite.REFUSE
    assert request.credentials == tmp_path / "cred"
    assert request.cafile == str(tmp_path / "ca.pem")
    assert (request.dns, request.port, request.tls, request.nonempty) == (
        "10.0.0.1:5353",
        8080,
        False,
        True,
    )
    assert request.log_file == tmp_path / "log"


def test_relative_paths_become_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    request = mounting.parse_request(HOST, "mnt", "staging_dir=st,credentials=c,log=l")
    assert request.mountpoint == tmp_path / "mnt"
    assert request.options.staging_dir == tmp_path / "st"
    assert (request.credentials, request.log_file) == (tmp_path / "c", tmp_path / "l")


def test_defaults() -> None:
    request = mounting.parse_request(HOST, "/mnt", "")
    assert (request.port, request.tls, request.dns, request.credentials) == (443, None, None, None)
    assert mounting.parse_request(HOST, "/mnt", "tls").tls is True


@pytest.mark.parametrize(
    ("options", "tls", "nonempty"),
    [
        ("tls=true,nonempty=yes", True, True),
        ("tls=false,nonempty=false", False, False),
        ("tls=0,nonempty=off", False, False),
        ("tls,notls=no", True, False),
        ("notls=true", False, False),
    ],
)
def test_flags_take_a_truth_value(options: str, tls: bool, nonempty: bool) -> None:
    request = mounting.parse_request(HOST, "/mnt", options)
    assert (request.tls, request.nonempty) == (tls, nonempty)


def test_debug_is_an_option_of_the_mount() -> None:
    assert mounting.parse_request(HOST, "/mnt", "debug,ro").debug
    assert not mounting.parse_request(HOST, "/mnt", "ro").debug


def test_flag_with_a_bad_value_is_refused() -> None:
    with pytest.raises(MountError, match="tls: 'maybe' is not valid"):
        mounting.parse_request(HOST, "/mnt", "tls=maybe")


def test_generic_fstab_options_are_accepted() -> None:
    request = mounting.parse_request(
        HOST, "/mnt", "lazytime,nosymfollow,dirsync,X-mount.mkdir,comment=systemd.x,noiversion"
    )
    assert request.options == mounting.parse_request(HOST, "/mnt", "").options


@pytest.mark.parametrize(
    ("fqdn", "options", "says"),
    [
        ("ns1.example.com", "", "not a namespace host name"),
        ("10.0.0.1", "", "not a namespace host name"),
        (HOST, "port=http", "not a TCP port"),
        (HOST, "port=70000", "not a TCP port"),
        (HOST, "credentials=", "needs a file name"),
        (HOST, "readahead_max=lots", "readahead_max"),
        (HOST, "nosuchoption", "unknown option 'nosuchoption'"),
    ],
)
def test_bad_requests_are_usage_errors(fqdn: str, options: str, says: str) -> None:
    with pytest.raises(MountError) as raised:
        mounting.parse_request(fqdn, "/mnt", options)
    assert raised.value.problem is Problem.USAGE
    assert says in raised.value.message


def private(path: Path, text: str, mode: int = 0o600) -> Path:
    path.write_text(text)
    path.chmod(mode)
    return path


@pytest.mark.parametrize(
    "text",
    [
        "user=dev\npassword=s3cr=t:x\n",
        "# comment\n\nusername = dev\npassword = s3cr=t:x\n",
        "dev:s3cr=t:x\n",
    ],
)
def test_credentials_file_formats(tmp_path: Path, text: str) -> None:
    found = mounting.read_credentials(private(tmp_path / "c", text), {})
    assert found == Credentials("dev", "s3cr=t:x")
    assert "s3cr" not in repr(found)


def test_credentials_from_the_environment() -> None:
    environ = {"HCPFS_USER": "dev", "HCPFS_PASSWORD": "pw"}
    assert mounting.read_credentials(None, environ) == Credentials("dev", "pw")


@pytest.mark.parametrize(
    ("text", "mode", "says"),
    [
        ("user=dev\npassword=pw\n", 0o644, "accessible to group or others (mode 644)"),
        ("user=dev\npassword=pw\n", 0o660, "accessible to group or others (mode 660)"),
        ("user=dev\n", 0o600, "does not give both a user and a password"),
        ("user=dev\nnonsense\n", 0o600, "line 2"),
    ],
)
def test_unsafe_or_incomplete_credentials(tmp_path: Path, text: str, mode: int, says: str) -> None:
    with pytest.raises(MountError) as raised:
        mounting.read_credentials(private(tmp_path / "c", text, mode), {})
    assert raised.value.problem is Problem.CREDENTIALS
    assert says in raised.value.message
    assert "pw" not in raised.value.message


def test_no_credentials_at_all() -> None:
    with pytest.raises(MountError) as raised:
        mounting.read_credentials(None, {"HCPFS_USER": "dev"})
    assert raised.value.problem is Problem.CREDENTIALS


def test_the_mount_table_is_read_and_unescaped() -> None:
    assert mounting._unescape(r"/mnt/with\040space\011tab\134back") == "/mnt/with space\ttab\\back"
    root = [entry for entry in mounting.mounts() if entry.mountpoint == "/"]
    assert root and root[-1].fstype
    assert mounting.mounted_at(Path("/proc")) is not None


def test_mount_point_checks(tmp_path: Path) -> None:
    mounting.check_mountpoint(tmp_path)
    (tmp_path / "f").write_text("x")
    mounting.check_mountpoint(tmp_path, nonempty=True)
    for path, nonempty, says in [
        (tmp_path, False, "is not empty"),
        (tmp_path / "missing", False, "does not exist"),
        (tmp_path / "f", False, "is not a directory"),
        (Path("/proc"), True, "is already a mount point (proc"),
    ]:
        with pytest.raises(MountError) as raised:
            mounting.check_mountpoint(path, nonempty)
        assert raised.value.problem is Problem.MOUNTPOINT
        assert says in raised.value.message


def test_pid_files_name_the_mount_point_and_check_the_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(mounting, "runtime_dir", lambda: tmp_path / "run")
    mountpoint = Path("/srv/hcp space")
    assert mounting.pid_file(mountpoint).name == "%2Fsrv%2Fhcp%20space.pid"
    assert mounting.serving_pid(mountpoint) is None
    with mounting.serving(mountpoint):
        assert mounting.serving_pid(mountpoint) == os.getpid()
        pid, started = mounting.pid_file(mountpoint).read_text().split()
        # Another process that got the same pid later is not taken for the server.
        mounting.pid_file(mountpoint).write_text(f"{pid} {int(started) + 1}\n")
        assert mounting.serving_pid(mountpoint) is None
    assert not mounting.pid_file(mountpoint).exists()


def test_alive_treats_zombies_as_ended() -> None:
    assert mounting.alive(os.getpid())
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    assert mounting.wait_until(lambda: not mounting.alive(child.pid), time.monotonic() + 10)
    child.wait()  # it was a zombie until now
    assert not mounting.alive(child.pid)


def test_the_serving_process_error_becomes_ours(tmp_path: Path) -> None:
    log = tmp_path / "log"
    log.write_text("old line\n")
    start = log.stat().st_size
    with log.open("a") as file:
        file.write(
            "some libfuse noise\nhcpfs: error: HCP refused user 'dev'\nhcpfs: hint: check\n"
        )
    error = mounting._child_error(4, log, start)
    assert (error.problem, error.message, error.hint) == (
        Problem.AUTH,
        "HCP refused user 'dev'",
        "check",
    )
    silent = mounting._child_error(-9, log, log.stat().st_size)
    assert silent.problem is Problem.MOUNT
    assert "stopped before the mount was up" in silent.message


def test_the_daemon_freezes_what_it_started_with_and_collects_less_often() -> None:
    before = gc.get_threshold()
    try:
        mounting.settle_garbage_collector()
        assert gc.get_threshold() == (mounting.GC_THRESHOLD, *before[1:])
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
