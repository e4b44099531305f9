"""The command line: parse and validate, then hand a RunConfig to the mode that runs it.

This is the composition root: the one place that may import ``tui``, lazily and only for interactive modes.
Bad input ends here with one line on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn
from urllib.parse import urlsplit

from bottlenecktop import __version__
from bottlenecktop.config import RunConfig
from bottlenecktop.errors import BadInput, RunFailed

EXIT_FAILED, EXIT_BAD_INPUT = 1, 2
SUBCOMMANDS = ("demo", "replay", "compare", "report")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise BadInput(message)


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0 or value != value or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a fraction between 0 and 1, got {text!r}") from None
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"expected a fraction between 0 and 1, got {text!r}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {text!r}")
    return value


def _header(text: str) -> tuple[str, str]:
    name, sep, value = text.partition(":")
    if not sep or not re.fullmatch(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+", name.strip()):
        raise argparse.ArgumentTypeError(f"expected a header as 'Name: value', got {text!r}")
    return name.strip(), value.strip()


def _method(text: str) -> str:
    if not re.fullmatch(r"[A-Za-z]+", text):
        raise argparse.ArgumentTypeError(f"expected an HTTP method such as GET or POST, got {text!r}")
    return text.upper()


def validate_url(url: str) -> str:
    """Return the URL if it is an http(s) URL with a host; raise BadInput with one line otherwise."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        hint = f"; did you mean http://{url}" if "://" not in url and url and " " not in url else ""
        raise BadInput(f"malformed URL {url!r}: expected http://host[:port]/path{hint}")
    try:
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        raise BadInput(f"malformed URL {url!r}: the port is not a number between 0 and 65535") from None
    return url


def _add_run_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--pid", type=_positive_int, help="attach to this process (its threads, memory, fds, stacks)")
    p.add_argument("--headless", action="store_true", help="no screen: progress on stderr, verdict on stdout")
    p.add_argument("--json", metavar="FILE", type=Path, help="write the verdict (bottlenecktop.verdict/1) here")
    p.add_argument("--max-time", metavar="SECONDS", type=_positive_float, help="stop after this long")
    rec = p.add_mutually_exclusive_group()
    rec.add_argument("--record", metavar="FILE", type=Path, help="record the session to FILE")
    rec.add_argument("--no-record", action="store_true", help="do not record the session")
    p.add_argument("--slo-p99", metavar="MS", type=_positive_float, default=500.0,
                   help="latency limit: p99 in milliseconds (default 500)")
    p.add_argument("--max-error-rate", metavar="FRACTION", type=_fraction, default=0.01,
                   help="error limit as a fraction of requests (default 0.01)")
    p.add_argument("--max-rps", metavar="N", type=_positive_float, help="never offer more than N req/s")
    p.add_argument("--goal-rps", metavar="N", type=_positive_float,
                   help="the load to plan for: exit 1 if not reached within the SLO; how many machines serve it")
    p.add_argument("--interval", metavar="SECONDS", type=_positive_float, default=1.0,
                   help="seconds per sample (default 1)")
    p.add_argument("-H", "--header", dest="headers", metavar="'Name: value'", type=_header, action="append",
                   default=[], help="add a request header (repeatable); secrets never reach the recording")
    p.add_argument("-X", "--method", type=_method, default="GET", help="request method (default GET)")
    p.add_argument("--body", metavar="DATA|@FILE", help="request body, or @FILE to read it from a file")
    p.add_argument("--timeout", metavar="SECONDS", type=_positive_float, default=5.0,
                   help="per-request timeout (default 5)")
    p.add_argument("--http2", action="store_true", help="speak HTTP/2 (prior knowledge on http://, ALPN on https://)")
    p.add_argument("-k", "--insecure", action="store_true", help="do not check the target's TLS certificate")
    p.add_argument("--connections", metavar="N", type=_positive_int,
                   help="cap on connections (and the concurrency of --closed-model)")
    p.add_argument("--start-rps", metavar="N", type=_positive_float, default=10.0,
                   help="the ramp's first rate (default 10 req/s)")
    p.add_argument("--step-seconds", metavar="SECONDS", type=_positive_float, default=3.0,
                   help="how long each ramp step lasts (default 3)")
    p.add_argument("--closed-model", action="store_true",
                   help="ramp fixed concurrency steps instead of arrival rates")
    p.add_argument("--agents", metavar="N", type=_positive_int,
                   help="drive the ramp from N load agents (a local Dask cluster; with --cluster: N of its workers)")
    p.add_argument("--cluster", metavar="tcp://HOST:8786",
                   help="use the load agents of a running Dask scheduler (workers started with --resources LOADGEN=1)")
    p.add_argument("-y", "--yes", action="store_true",
                   help="consent to ramp load at a target that is not on this host")


def _main_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="bottlenecktop",
        description="Find the highest request rate this machine sustains within its SLO (the magic number) "
        "and the saturated resource that stops it going higher.",
        epilog="Other modes: bottlenecktop demo [--bottleneck KIND] | replay FILE | compare A B | report FILE. "
        "Exit status: 0 done, 1 the run failed or --goal-rps was not reached within the SLO, 2 bad input.",
    )
    p.add_argument("--version", action="version", version=f"bottlenecktop {__version__}")
    p.add_argument("url", nargs="?", metavar="URL", help="ramp load at this URL (omit to observe this node)")
    _add_run_options(p)
    return p


def _demo_kinds() -> tuple[str, ...]:
    from bottlenecktop.demo import DEMO_KINDS  # part of the package, always installed

    return tuple(DEMO_KINDS)


def _demo_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="bottlenecktop demo",
                description="Start the bundled demo server with a chosen bottleneck and ramp load at it.")
    p.add_argument("--bottleneck", default="cpu", choices=_demo_kinds(), metavar="KIND",
                   help="the demo's bottleneck: " + ", ".join(_demo_kinds()) + " (default cpu)")
    p.add_argument("--workers", type=_positive_int, help="the demo's workers (threads, processes or slots)")
    p.add_argument("--work-ms", type=_positive_float, help="the demo's work per request in milliseconds")
    p.add_argument("--set", dest="demo_set", metavar="KEY=VALUE", action="append", default=[],
                   help="any other demo knob (repeatable), e.g. --set fd_limit=512")
    _add_run_options(p)
    return p


def _file_arg(text: str) -> Path:
    path = Path(text)
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"no such file: {text}")
    return path


def _replay_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="bottlenecktop replay", description="The live screen over a recording, with a time cursor.")
    p.add_argument("file", type=_file_arg, metavar="FILE")
    p.add_argument("--headless", action="store_true", help="print the recorded verdict and summary")
    p.add_argument("--json", metavar="FILE", type=Path, help="write the verdict here")
    return p


def _compare_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="bottlenecktop compare", description="Two recordings side by side.")
    p.add_argument("a", type=_file_arg, metavar="A")
    p.add_argument("b", type=_file_arg, metavar="B")
    p.add_argument("--headless", action="store_true", help="print the table of differences")
    p.add_argument("--json", metavar="FILE", type=Path, help="write the differences as JSON here")
    return p


def _report_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="bottlenecktop report", description="A self-contained report of a recording.")
    p.add_argument("file", type=_file_arg, metavar="FILE")
    p.add_argument("--format", choices=("md", "html", "json"), default="md")
    p.add_argument("-o", "--output", metavar="OUT", type=Path, help="write here instead of stdout")
    return p


def _writable_target(path: Path | None, what: str) -> None:
    if path is None:
        return
    parent = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise BadInput(f"{what} {path} is a directory")
    if not parent.is_dir():
        raise BadInput(f"{what} {path}: no such directory {parent}")
    if not os.access(parent, os.W_OK):
        raise BadInput(f"{what} {path}: directory {parent} is not writable")


def _read_body(body: str | None) -> bytes | None:
    if body is None:
        return None
    if body.startswith("@"):
        path = Path(body[1:])
        try:
            return path.read_bytes()
        except OSError as exc:
            raise BadInput(f"cannot read the body file {path}: {exc.strerror or exc}") from None
    return body.encode()


def _check_pid(pid: int | None) -> None:
    if pid is None:
        return
    import psutil

    if not psutil.pid_exists(pid):
        raise BadInput(f"no process with pid {pid}")


def parse_args(argv: Sequence[str]) -> RunConfig:
    """Turn the command line into a validated RunConfig; raise BadInput with one line on any bad input."""
    argv = list(argv)
    sub = argv[0] if argv and argv[0] in SUBCOMMANDS else None
    rest = argv[1:] if sub else argv
    if sub == "replay":
        ns = _replay_parser().parse_args(rest)
        _writable_target(ns.json, "--json")
        return RunConfig(mode="replay", files=(ns.file,), headless=ns.headless, json_path=ns.json,
                         record=False, argv=tuple(argv))
    if sub == "compare":
        ns = _compare_parser().parse_args(rest)
        _writable_target(ns.json, "--json")
        return RunConfig(mode="compare", files=(ns.a, ns.b), headless=ns.headless, json_path=ns.json,
                         record=False, argv=tuple(argv))
    if sub == "report":
        ns = _report_parser().parse_args(rest)
        _writable_target(ns.output, "--output")
        return RunConfig(mode="report", files=(ns.file,), report_format=ns.format, output=ns.output,
                         record=False, argv=tuple(argv))

    ns = (_demo_parser() if sub == "demo" else _main_parser()).parse_args(rest)
    demo_options: dict[str, str] = {}
    if sub == "demo":
        mode = "demo"
        url = None
        items = list(ns.demo_set)
        if ns.workers is not None:
            items.append(f"workers={ns.workers}")
        if ns.work_ms is not None:
            items.append(f"work_ms={ns.work_ms:g}")
        demo_options = _parse_demo_options(ns.bottleneck, items)
    else:
        url = validate_url(ns.url) if ns.url is not None else None
        mode = "ramp" if url else ("attach" if ns.pid else "observe")
    _check_pid(ns.pid)
    if (getattr(ns, "agents", None) or getattr(ns, "cluster", None)) and mode not in ("ramp", "demo"):
        raise BadInput("--agents and --cluster drive a ramp: give a URL")
    _writable_target(ns.json, "--json")
    _writable_target(ns.record, "--record")
    if ns.record is not None and ns.record.exists():
        raise BadInput(f"--record {ns.record} exists: a recording is never overwritten; choose another name")
    return RunConfig(
        mode=mode, url=url, pid=ns.pid, headless=ns.headless, json_path=ns.json, max_time=ns.max_time,
        record_path=ns.record, record=not ns.no_record, slo_p99_ms=ns.slo_p99, max_error_rate=ns.max_error_rate,
        max_rps=ns.max_rps, goal_rps=ns.goal_rps, interval=ns.interval, headers=tuple(ns.headers),
        method=ns.method, body=_read_body(ns.body), yes=ns.yes, closed_model=ns.closed_model,
        concurrency=ns.connections, timeout=ns.timeout, start_rps=ns.start_rps, step_seconds=ns.step_seconds,
        http2=ns.http2, insecure=ns.insecure, agents=getattr(ns, "agents", None), cluster=getattr(ns, "cluster", None),
        demo_kind=getattr(ns, "bottleneck", "cpu"),
        demo_options=demo_options, argv=tuple(argv),
    )


def _parse_demo_options(kind: str, items: list[str]) -> dict[str, str]:
    try:
        from bottlenecktop.demo import parse_demo_options
    except ImportError:
        raise BadInput("the demo is not installed with this copy of bottlenecktop") from None
    try:
        return parse_demo_options(kind, items)
    except ValueError as exc:
        raise BadInput(str(exc).splitlines()[0] if str(exc) else "bad demo option") from None


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        config = parse_args(args)
        from bottlenecktop.app.modes import run

        return run(config)
    except BadInput as exc:
        print(f"bottlenecktop: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except RunFailed as exc:
        print(f"bottlenecktop: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("bottlenecktop: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
