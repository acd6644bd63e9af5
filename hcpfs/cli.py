"""The ``hcpfs`` command: the only module that prints for a person.

``main(argv)`` parses the arguments, runs one command and returns the exit code; every error
becomes one line (and a hint) in :func:`_report`, with a traceback only under ``--debug``.
"""

from __future__ import annotations

import argparse
import errno
import functools
import json
import logging
import os
import shlex
import signal
import sys
import threading
import traceback
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Any

import urllib3

from hcpfs import __version__
from hcpfs.emulator import demo
from hcpfs.emulator.config import SystemConfig
from hcpfs.emulator.emulator import LINK_NAME, Emulator
from hcpfs.emulator.errors import ConfigError
from hcpfs.emulator.faults import CONTROL_PATH, ControlError, control, control_parameters
from hcpfs.emulator.system import System
from hcpfs.fs import mounting
from hcpfs.fs.mounting import MountError

log = logging.getLogger(__name__)

EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

#: The port ``hcpfs emulator`` serves the primary's fault control on by default.
FAULT_CONTROL_PORT = 9099
#: The environment variable ``hcpfs fault`` takes the control URL from.
FAULT_URL_VARIABLE = "HCPFS_FAULT_URL"


def entry() -> None:
    """Console-script entry point."""
    sys.exit(main())


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return its exit code.

    :param argv: the arguments after the program name (default: ``sys.argv[1:]``)
    """
    parser = _parser()
    args = parser.parse_args(argv)
    debug = bool(getattr(args, "debug", False))
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        result: int = args.run(args)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except Exception as exc:  # every failure is reported in one place
        return _report(exc, debug)
    return result


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hcpfs", description="Use a Hitachi Content Platform namespace as a directory."
    )
    parser.add_argument("--version", action="version", version=f"hcpfs {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    _add_emulator_command(commands)
    _add_fault_command(commands)

    _add_mount_commands(commands)
    _add_demo_command(commands)
    return parser


# ---- hcpfs emulator --------------------------------------------------------------------------


def _add_emulator_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    emulator = commands.add_parser(
        "emulator",
        help="run an HCP emulator in the foreground until Ctrl+C",
        description="Run an emulated HCP system (and optionally a replica) with several nodes, "
        "HTTPS, the management API and a DNS server. See docs/emulator.md.",
    )
    emulator.add_argument("--config", type=Path, help="JSON configuration (default: built in)")
    emulator.add_argument("--data-dir", type=Path, help="keep content there across restarts")
    emulator.add_argument("--nodes", type=int, default=4, help="nodes per system (default 4)")
    emulator.add_argument(
        "--address-base",
        "--address",
        dest="address_base",
        help="address of the first node; the others follow it "
        "(default 127.0.0.2; 127.0.0.1 with --nodes 1)",
    )
    add_port = functools.partial(_add_port_option, emulator)
    add_port("--port", "HTTP port of every node", 80, 8080)
    add_port("--https-port", "HTTPS port of every node", 443, 8443)
    add_port("--mapi-port", "management API port of every node", 9090, 9090)
    emulator.add_argument(
        "--tls",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="serve HTTPS (and the management API over HTTPS) with certificates from the "
        "emulator's CA (default: on)",
    )
    emulator.add_argument(
        "--tls-dir",
        type=Path,
        help="keep the emulator's certificate authority there, so clients can trust it once "
        "(default: DATA_DIR/tls, else a temporary directory)",
    )
    emulator.add_argument(
        "--dns",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="run a DNS server for the systems' names (default: on)",
    )
    emulator.add_argument(
        "--dns-address", default="127.0.0.1", help="address of the DNS server (127.0.0.1)"
    )
    add_port("--dns-port", "port of the DNS server, UDP and TCP", 53, 5353)
    emulator.add_argument(
        "--replica",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="also run a replica system joined by a replication link (default: off)",
    )
    emulator.add_argument(
        "--link-type",
        choices=["active-passive", "active-active"],
        default="active-passive",
        help="type of the replication link (default active-passive)",
    )
    emulator.add_argument(
        "--replication-delay",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="how long a change waits before it is replicated (default 0)",
    )
    emulator.add_argument(
        "--control",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="serve the fault control endpoint that `hcpfs fault` talks to (default: on)",
    )
    emulator.add_argument(
        "--control-address",
        default="127.0.0.1",
        help="address of the fault control endpoint (127.0.0.1)",
    )
    add_port(
        "--control-port",
        "port of the primary's fault control endpoint; the replica's is the next one",
        FAULT_CONTROL_PORT,
        FAULT_CONTROL_PORT,
    )
    emulator.add_argument("--debug", action="store_true", help="log every request")
    emulator.add_argument(
        "--print-config", action="store_true", help="print the configuration as JSON and exit"
    )
    emulator.set_defaults(run=_run_emulator)


def _add_port_option(
    parser: argparse.ArgumentParser, flag: str, what: str, as_root: int, otherwise: int
) -> None:
    """Add a port option whose default is HCP's port for root and an unprivileged one else."""
    default = as_root if os.geteuid() == 0 else otherwise
    if as_root == otherwise:
        text = f"{what} (default {default}; 0: any free port)"
    else:
        text = f"{what} (default {as_root} as root, else {otherwise}; 0: any free port)"
    parser.add_argument(flag, type=int, default=default, metavar="PORT", help=text)


def _run_emulator(args: argparse.Namespace) -> int:
    config = SystemConfig.load(args.config) if args.config else SystemConfig.default()
    if args.print_config:
        print(_config_json(config))
        return 0
    emulator = _emulator_from(args, config)
    stop = threading.Event()
    with emulator as hcp:
        previous = _on_signals(stop)
        try:
            _print_banner(hcp, args)
            while not stop.wait(1.0):
                pass
            print("Stopping.", flush=True)
        finally:
            for number, handler in previous.items():
                signal.signal(number, handler)
    return 0


def _emulator_from(args: argparse.Namespace, config: SystemConfig) -> Emulator:
    """Build the emulator the options describe.

    :raises ConfigError: for options that do not fit together
    """
    if args.nodes < 1:
        raise ConfigError("--nodes must be at least 1")
    if args.replication_delay < 0:
        raise ConfigError("--replication-delay cannot be negative")
    address = args.address_base or ("127.0.0.1" if args.nodes == 1 else "127.0.0.2")
    try:
        return Emulator(
            config,
            data_dir=args.data_dir,
            nodes=args.nodes,
            address=address,
            address_base=address,
            port=args.port,
            tls=args.tls,
            https_port=args.https_port,
            tls_dir=args.tls_dir,
            management=True,
            mapi_port=args.mapi_port,
            dns=args.dns,
            dns_address=args.dns_address,
            dns_port=args.dns_port,
            replica=args.replica,
            link_type=args.link_type,
            replication_delay=args.replication_delay,
            control_port=args.control_port if args.control else None,
            control_address=args.control_address,
        )
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc


def _config_json(config: SystemConfig) -> str:
    return json.dumps(config.to_dict(), indent=2)


def _on_signals(stop: threading.Event) -> dict[int, Any]:
    """Make SIGINT and SIGTERM set ``stop``; return the handlers they had."""

    def handler(number: int, frame: FrameType | None) -> None:
        stop.set()

    return {number: signal.signal(number, handler) for number in (signal.SIGINT, signal.SIGTERM)}


def _print_banner(hcp: Emulator, args: argparse.Namespace) -> None:
    where = f"data in {args.data_dir}" if args.data_dir else "data in memory"
    lines = [f"HCP emulator for {hcp.domain} is running ({where})."]
    lines += _system_lines(hcp, hcp.system, args)
    lines.append("Namespaces (use the name as the Host header):")
    lines += [f"  {name}" for system in hcp.systems for name in system.host_names()]
    admin_hosts = " and ".join(f"admin.{system.domain}" for system in hcp.systems)
    lines.append(f"Management API: {admin_hosts}, port {hcp.mapi_port}")
    lines.append(f"Data access user: {hcp.user}  password: {hcp.password}")
    lines.append(f"Management user: {hcp.management_user}  password: {hcp.management_password}")
    if hcp.dns_port is not None:
        domains = ", ".join(system.domain for system in hcp.systems)
        lines.append(f"DNS server: {hcp.dns_address} port {hcp.dns_port} (for {domains})")
    if hcp.ca_file is not None:
        lines.append(f"CA certificate: {hcp.ca_file}")
    if hcp.control_url is not None:
        replica = hcp.replica_control_url
        also = f" (replica: {replica})" if replica is not None else ""
        lines.append(f"Fault control: {hcp.control_url}{also}; see hcpfs fault --help")
    lines.append("Try:")
    lines += [f"  {command}" for command in _examples(hcp)]
    lines.append("Press Ctrl+C to stop.")
    print("\n".join(lines), flush=True)


def _system_lines(hcp: Emulator, system: System, args: argparse.Namespace) -> list[str]:
    ports = [f"HTTP port {hcp.port}"]
    if hcp.https_port is not None:
        ports.append(f"HTTPS port {hcp.https_port}")
    scheme = "HTTPS" if hcp.ca_file is not None else "HTTP"
    ports.append(f"management API ({scheme}) port {hcp.mapi_port}")
    lines = [f"Nodes of {system.domain}: {', '.join(system.addresses)}", f"  {', '.join(ports)}"]
    replica = hcp.replica
    if replica is not None:
        lines.append(f"Replica {replica.domain}: {', '.join(replica.addresses)}")
        lines.append(
            f"  {args.link_type} link {LINK_NAME}, replication delay {args.replication_delay} s"
        )
    return lines


def _examples(hcp: Emulator) -> list[str]:
    """Ready-to-paste commands against the first node (curl and dig) and the fault control."""
    node = hcp.addresses[0]
    data = f"-H 'Authorization: {hcp.auth_header}'"
    admin = f"-H 'Authorization: {hcp.management_auth_header}'"
    links = "/mapi/services/replication/links"
    examples = [f"curl -i --connect-to ::{node}:{hcp.port} {data} http://{hcp.host}/rest/"]
    if hcp.ca_file is not None and hcp.https_port is not None:
        ca = f"--cacert {shlex.quote(str(hcp.ca_file))}"
        examples.append(
            f"curl -i {ca} --resolve {hcp.host}:{hcp.https_port}:{node} {data} "
            f"https://{hcp.host}:{hcp.https_port}/rest/"
        )
        examples.append(
            f"curl -i {ca} --resolve {hcp.admin_host}:{hcp.mapi_port}:{node} {admin} "
            f"https://{hcp.admin_host}:{hcp.mapi_port}{links}"
        )
    else:
        examples.append(
            f"curl -i --connect-to ::{node}:{hcp.mapi_port} {admin} "
            f"http://{hcp.admin_host}:{hcp.mapi_port}{links}"
        )
    if hcp.dns_port is not None:
        examples.append(f"dig @{hcp.dns_address} -p {hcp.dns_port} +short {hcp.host}")
    if hcp.control_url is not None:
        examples += _fault_examples(hcp.control_url)
    return examples


def _fault_examples(url: str) -> list[str]:
    """The same latency fault switched on with ``hcpfs fault`` and with curl."""
    option = "" if url == _default_fault_url() else f" --url {url}"
    body = json.dumps({"fault": "latency", "delay": 0.002})
    return [
        f"hcpfs fault{option} latency delay=0.002",
        f"curl -X POST -d '{body}' {url}{CONTROL_PATH}",
    ]


# ---- hcpfs fault -----------------------------------------------------------------------------


def _add_fault_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    fault = commands.add_parser(
        "fault",
        help="switch faults of a running `hcpfs emulator` on and off",
        description="Switch the faults of a running `hcpfs emulator` through its fault control\n"
        "endpoint. ACTION is list, clear (end every fault), remove ID (end one) or the\n"
        "name of a fault to switch on, followed by its parameters as NAME=VALUE.\n"
        'See docs/emulator.md, "Faults".',
        epilog=_fault_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    fault.add_argument(
        "--url",
        help=f"the fault control URL the emulator's banner shows (default: ${FAULT_URL_VARIABLE}"
        f", else http://127.0.0.1:{FAULT_CONTROL_PORT})",
    )
    fault.add_argument(
        "--json", action="store_true", help="print list's JSON answer instead of a table"
    )
    fault.add_argument("--debug", action="store_true", help="log the requests")
    fault.add_argument("action", metavar="ACTION", help="list | clear | remove ID | a fault")
    fault.add_argument(
        "params", nargs="*", metavar="NAME=VALUE", help="the fault's parameters, or the ID"
    )
    fault.set_defaults(run=_run_fault)


def _fault_epilog() -> str:
    names = control_parameters()
    width = max(len(name) for name in names)
    lines = [
        "faults and their parameters (node: a node's address, else every node; seconds and",
        "count: the fault ends after that many seconds or requests):",
    ]
    lines += [f"  {name.ljust(width)}  {' '.join(params)}" for name, params in names.items()]
    lines += [
        "examples:",
        "  hcpfs fault latency delay=0.002 node=127.0.0.3 seconds=30",
        "  hcpfs fault node_down node=127.0.0.3 seconds=5",
        "  hcpfs fault error_rate rate=0.1 seed=1 count=100",
        "  hcpfs fault list",
        "  hcpfs fault remove 2",
        "  hcpfs fault clear",
    ]
    return "\n".join(lines)


def _default_fault_url() -> str:
    return os.environ.get(FAULT_URL_VARIABLE) or f"http://127.0.0.1:{FAULT_CONTROL_PORT}"


class _FaultCommandError(Exception):
    """``hcpfs fault`` cannot do what it was asked: one line, an exit code and maybe a hint."""

    def __init__(self, message: str, code: int = EXIT_FAILURE, hint: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.hint = hint


def _run_fault(args: argparse.Namespace) -> int:
    url = (args.url or _default_fault_url()).rstrip("/")
    try:
        params = _fault_params(args.action, args.params)
        answer = _ask_control(url, args.action, params)
    except _FaultCommandError as failure:
        print(f"hcpfs: error: {failure}", file=sys.stderr)
        if failure.hint:
            print(f"hcpfs: hint: {failure.hint}", file=sys.stderr)
        return failure.code

    listed = args.action == "list" and not args.json
    print(_fault_table(answer.get("faults", [])) if listed else json.dumps(answer, indent=2))
    return 0


def _ask_control(url: str, action: str, params: dict[str, str]) -> dict[str, Any]:
    """Send the request to the fault control at ``url``; return its answer.

    :raises _FaultCommandError: when the URL is wrong, nothing answers or the answer is a refusal
    """
    if not url.startswith(("http://", "https://")):
        raise _FaultCommandError(f"the URL must start with http://, not {url!r}", EXIT_USAGE)
    try:
        return control(url, action, **params)
    except ControlError as exc:
        raise _FaultCommandError(exc.message) from exc
    except urllib3.exceptions.LocationValueError as exc:
        raise _FaultCommandError(f"not a URL: {url!r} ({exc})", EXIT_USAGE) from exc
    except urllib3.exceptions.NewConnectionError as exc:
        raise _FaultCommandError(
            f"no emulator fault control at {url}; is `hcpfs emulator` running?",
            hint=f"give the URL its banner shows (Fault control) with --url or "
            f"{FAULT_URL_VARIABLE}",
        ) from exc
    except urllib3.exceptions.HTTPError as exc:
        raise _FaultCommandError(f"no answer from the fault control at {url}: {exc}") from exc


def _fault_params(action: str, items: list[str]) -> dict[str, str]:
    """Turn the words after ACTION into the parameters of :func:`control`.

    :raises _FaultCommandError: for words that do not fit the action
    """
    if action in ("list", "clear"):
        if items:
            raise _FaultCommandError(f"{action} takes no parameters", EXIT_USAGE)
        return {}
    if action == "remove":
        if len(items) != 1 or not items[0].isdigit():
            raise _FaultCommandError(
                "remove takes one fault id (a number, as list shows it)", EXIT_USAGE
            )
        return {"id": items[0]}

    params: dict[str, str] = {}
    for item in items:
        name, equals, value = item.partition("=")
        if not equals or not name:
            raise _FaultCommandError(f"parameters are NAME=VALUE, not {item!r}", EXIT_USAGE)
        if name == "fault":
            raise _FaultCommandError("the fault is named by ACTION, not by fault=", EXIT_USAGE)
        if name in params:
            raise _FaultCommandError(f"{name} is given twice", EXIT_USAGE)
        params[name] = value
    return params


def _fault_table(faults: list[dict[str, Any]]) -> str:
    """Lay the active faults out as a table, one line each."""
    if not faults:
        return "No active faults."
    header = ("ID", "FAULT", "NODES", "PARAMETERS", "SECONDS LEFT", "COUNT LEFT")
    rows = [header, *(_fault_row(fault) for fault in faults)]
    widths = [max(len(row[column]) for row in rows) for column in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


def _fault_row(fault: dict[str, Any]) -> tuple[str, ...]:
    described = {"id", "fault", "node", "nodes", "seconds_left", "count_left"}
    nodes = fault.get("nodes") or ([fault["node"]] if fault.get("node") else [])
    params = [
        f"{name}={value}"
        for name, value in fault.items()
        if name not in described and value is not None
    ]
    return (
        str(fault.get("id")),
        str(fault.get("fault")),
        ", ".join(map(str, nodes)) or "all",
        " ".join(params) or "-",
        _or_dash(fault.get("seconds_left")),
        _or_dash(fault.get("count_left")),
    )


def _or_dash(value: Any) -> str:
    return "-" if value is None else str(value)


# ---- hcpfs mount, hcpfs umount ----------------------------------------------------------------


def _add_mount_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    mount = commands.add_parser(
        "mount",
        help="mount an HCP namespace on a directory",
        description="Mount an HCP namespace. Credentials come from -o credentials=FILE or from "
        "HCPFS_USER and HCPFS_PASSWORD, never from the command line. See docs/usage.md.",
    )
    mount.add_argument("namespace", metavar="NAMESPACE", help="namespace.tenant.domain")
    mount.add_argument("mountpoint", metavar="MOUNTPOINT", help="an empty directory")
    mount.add_argument(
        "-o",
        dest="options",
        action="append",
        default=[],
        metavar="OPTIONS",
        help="comma-separated options, e.g. credentials=FILE,ro,uid=1000 (repeatable)",
    )
    mount.add_argument(
        "-f", "--foreground", action="store_true", help="serve in the foreground until unmounted"
    )
    mount.add_argument("-d", "--debug", action="store_true", help="log every request")
    mount.set_defaults(run=_run_mount)

    umount = commands.add_parser("umount", help="unmount an hcpfs mount and wait for it to end")
    umount.add_argument("mountpoint", metavar="MOUNTPOINT")
    umount.add_argument(
        "--timeout",
        type=float,
        default=mounting.UMOUNT_DEADLINE,
        help="seconds to wait for the hcpfs process to finish (default 60)",
    )
    umount.add_argument("-d", "--debug", action="store_true", help="show tracebacks")
    umount.set_defaults(run=_run_umount)


def _run_mount(args: argparse.Namespace) -> int:
    option_text = ",".join(args.options)
    request = mounting.parse_request(args.namespace, args.mountpoint, option_text)
    if request.debug:  # -o debug, for mounts from /etc/fstab, which cannot pass --debug
        logging.getLogger().setLevel(logging.DEBUG)
    credentials = mounting.read_credentials(request.credentials, os.environ)
    if args.foreground:
        mounting.serve(request, credentials)
        return 0
    mounting.check_mountpoint(request.mountpoint, request.nonempty)
    mounting.connect(request, credentials).close()
    serving = ["mount", request.fqdn, str(request.mountpoint), "-f"]
    serving += ["-o", option_text] if option_text else []
    serving += ["--debug"] if args.debug else []
    mounting.start_in_background(request, serving)
    return 0


def _run_umount(args: argparse.Namespace) -> int:
    mounting.unmount(Path(args.mountpoint).resolve(), args.timeout)
    return 0


# ---- hcpfs demo ------------------------------------------------------------------------------


def _add_demo_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    demo_command = commands.add_parser(
        "demo",
        help="start an HCP emulator, mount it and show around; --stop ends both",
    )
    demo_command.add_argument(
        "--data-dir", type=Path, default=Path("demo-data"), help="data directory (demo-data)"
    )
    demo_command.add_argument(
        "--mountpoint", type=Path, default=Path("mnt"), help="where to mount (mnt)"
    )
    demo_command.add_argument(
        "--tree", type=Path, help="a directory to copy onto HCP (default: docs, if present)"
    )
    demo_command.add_argument(
        "--stop", action="store_true", help="unmount and stop the emulator of an earlier demo"
    )
    # The demo's emulator process runs this; it is not meant to be typed.
    demo_command.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    demo_command.add_argument("--debug", action="store_true", help="show tracebacks")
    demo_command.set_defaults(run=_run_demo)


def _run_demo(args: argparse.Namespace) -> int:
    if args.serve:
        stop = threading.Event()
        _stop_on_signals(stop)
        demo.serve(args.data_dir, stop)
        return 0
    if args.stop:
        demo.stop(args.data_dir, args.mountpoint, _show_step)
        print("The demo is stopped: nothing is mounted and the emulator is not running.")
        return 0
    tree = args.tree or demo.default_tree()
    hcp = demo.run(args.data_dir, args.mountpoint, tree, _show_step)
    mnt = args.mountpoint
    print(
        "\n".join(
            [
                "",
                f"The namespace {hcp.host} stays mounted on {mnt}; explore it with cp, ls, "
                "rsync, tar ...",
                f"  Extended attributes: getfattr -d -m - {mnt}/<file>  (package 'attr')",
                f"  Logs: {args.data_dir}/mount.log, {args.data_dir}/emulator.log",
                "When you are done, run:  make stop",
                f"  (that is: hcpfs demo --stop --data-dir {args.data_dir} --mountpoint {mnt};"
                " it unmounts and stops the emulator)",
            ]
        ),
        flush=True,
    )
    return 0


def _show_step(step: demo.Step) -> None:
    mark = "" if step.ok else "  [FAILED]"
    lines = [f"== {step.title}{mark}"]
    if step.command:
        lines.append(f"$ {step.command}")
    output = step.output.rstrip("\n")
    if output:
        shown = output.splitlines()
        if len(shown) > 12:
            shown = [*shown[:10], f"... ({len(shown) - 10} more lines)"]
        lines += shown
    print("\n".join(lines), flush=True)


def _stop_on_signals(stop: threading.Event) -> None:
    def handler(number: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)


# ---- errors ----------------------------------------------------------------------------------


def _report(error: Exception, debug: bool) -> int:
    """Print one line for ``error`` (and a hint); return the exit code."""
    if debug:
        traceback.print_exception(error, file=sys.stderr)
    code, hint = EXIT_FAILURE, ""
    if isinstance(error, MountError):
        code, hint = int(error.problem), error.hint
    elif isinstance(error, ConfigError):
        code, hint = EXIT_USAGE, "check the configuration file (see docs/emulator.md)"
    elif isinstance(error, demo.DemoError):
        hint = f"see {error.log_file}" if error.log_file else "run again with --debug"
    elif isinstance(error, PermissionError) or getattr(error, "errno", None) == errno.EACCES:
        hint = "ports below 1024 need root; try --port 8080"
    elif getattr(error, "errno", None) == errno.EADDRINUSE:
        hint = (
            "another program uses that port; choose others with --port, --https-port,"
            " --mapi-port, --dns-port or --control-port"
        )
    elif getattr(error, "errno", None) == errno.EADDRNOTAVAIL:
        hint = "use a loopback address such as 127.0.0.1"
    message = str(error) or type(error).__name__
    print(f"hcpfs: error: {message}", file=sys.stderr)
    if hint:
        print(f"hcpfs: hint: {hint}", file=sys.stderr)
    if not debug and not isinstance(error, (ConfigError, demo.DemoError, MountError, OSError)):
        print("hcpfs: run with --debug for the traceback", file=sys.stderr)
    return code


if __name__ == "__main__":
    entry()
