"""The ``hcpfs`` command: the only module that prints for a person.

``main(argv)`` parses the arguments, runs one command and returns the exit code; every error
becomes one line (and a hint) in :func:`_report`, with a traceback only under ``--debug``.
"""

from __future__ import annotations

import argparse
import errno
import json
import logging
import os
import signal
import sys
import threading
import traceback
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from hcpfs import __version__
from hcpfs.emulator import demo
from hcpfs.emulator.config import SystemConfig
from hcpfs.emulator.emulator import Emulator
from hcpfs.emulator.errors import ConfigError

log = logging.getLogger(__name__)

EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


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

    emulator = commands.add_parser(
        "emulator", help="run an HCP emulator in the foreground until Ctrl+C"
    )
    emulator.add_argument("--config", type=Path, help="JSON configuration (default: built in)")
    emulator.add_argument("--data-dir", type=Path, help="keep content there across restarts")
    emulator.add_argument(
        "--address", help="address of the node (default 127.0.0.1; 127.0.0.2 for --nodes > 1)"
    )
    emulator.add_argument(
        "--port", type=int, help="port of every node (default 80 as root, else 8080; 0: any)"
    )
    emulator.add_argument("--nodes", type=int, default=1, help="number of nodes (default 1)")
    emulator.add_argument("--debug", action="store_true", help="log every request")
    emulator.add_argument(
        "--print-config", action="store_true", help="print the configuration as JSON and exit"
    )
    emulator.set_defaults(run=_run_emulator)

    demo_command = commands.add_parser(
        "demo", help="store, list, read and delete an object on a fresh emulator"
    )
    demo_command.add_argument(
        "--data-dir", type=Path, default=Path("demo-data"), help="data directory (demo-data)"
    )
    demo_command.add_argument("--debug", action="store_true", help="log every request")
    demo_command.set_defaults(run=_run_demo)
    return parser


# ---- hcpfs emulator --------------------------------------------------------------------------


def _run_emulator(args: argparse.Namespace) -> int:
    config = SystemConfig.load(args.config) if args.config else SystemConfig.default()
    if args.print_config:
        print(_config_json(config))
        return 0
    if args.nodes < 1:
        raise ConfigError("--nodes must be at least 1")
    port = args.port if args.port is not None else (80 if os.geteuid() == 0 else 8080)
    address = args.address or ("127.0.0.1" if args.nodes == 1 else "127.0.0.2")
    stop = threading.Event()
    _on_signals(stop)
    with Emulator(
        config,
        data_dir=args.data_dir,
        nodes=args.nodes,
        address=address,
        port=port,
        address_base=address,
    ) as hcp:
        _print_banner(hcp, config, args.data_dir)
        while not stop.wait(1.0):
            pass
        print("Stopping.", flush=True)
    return 0


def _config_json(config: SystemConfig) -> str:
    return json.dumps(config.to_dict(), indent=2)


def _on_signals(stop: threading.Event) -> None:
    def handler(number: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)


def _print_banner(hcp: Emulator, config: SystemConfig, data_dir: Path | None) -> None:
    where = f"data in {data_dir}" if data_dir else "data in memory"
    lines = [f"HCP emulator for {config.domain} is running ({where}).", "Nodes:"]
    lines += [f"  {node.url}" for node in hcp.nodes]
    lines.append("Namespaces (use the name as the Host header):")
    lines += [f"  {name}" for name in hcp.system.host_names()]
    lines.append(f"Data access user: {hcp.user}  password: {hcp.password}")
    lines.append("Try:")
    lines.append(
        f"  curl -i --connect-to ::{hcp.addresses[0]}:{hcp.port} "
        f"-H 'Authorization: {hcp.auth_header}' http://{hcp.host}/rest/"
    )
    lines.append("Press Ctrl+C to stop.")
    print("\n".join(lines), flush=True)


# ---- hcpfs demo ------------------------------------------------------------------------------


def _run_demo(args: argparse.Namespace) -> int:
    print(f"Starting an HCP emulator with its data in {args.data_dir} ...", flush=True)

    def show(step: demo.Step) -> None:
        mark = "ok" if step.ok else "FAILED"
        line = f"  {step.action:<7} {step.method:<6} {step.path} -> {step.status} {step.reason}"
        print(f"{line}  [{mark}]", flush=True)

    outcome = demo.run(args.data_dir, on_step=show)
    print(f"Stopped the emulator. All {len(outcome.steps)} steps succeeded.")
    return 0


# ---- errors ----------------------------------------------------------------------------------


def _report(error: Exception, debug: bool) -> int:
    """Print one line for ``error`` (and a hint); return the exit code."""
    if debug:
        traceback.print_exception(error, file=sys.stderr)
    code, hint = EXIT_FAILURE, ""
    if isinstance(error, ConfigError):
        code, hint = EXIT_USAGE, "check the configuration file (see docs/emulator.md)"
    elif isinstance(error, demo.DemoError):
        hint = "run again with --debug to see every request"
    elif isinstance(error, PermissionError) or getattr(error, "errno", None) == errno.EACCES:
        hint = "ports below 1024 need root; try --port 8080"
    elif getattr(error, "errno", None) == errno.EADDRINUSE:
        hint = "another program uses that port; choose another with --port"
    elif getattr(error, "errno", None) == errno.EADDRNOTAVAIL:
        hint = "use a loopback address such as 127.0.0.1"
    message = str(error) or type(error).__name__
    print(f"hcpfs: error: {message}", file=sys.stderr)
    if hint:
        print(f"hcpfs: hint: {hint}", file=sys.stderr)
    if not debug and not isinstance(error, (ConfigError, demo.DemoError, OSError)):
        print("hcpfs: run with --debug for the traceback", file=sys.stderr)
    return code


if __name__ == "__main__":
    entry()
