"""The command line: parse and validate, then hand a RunConfig to the mode that runs it.

This is the composition root: the one place that may import ``tui``, lazily and only for interactive modes.
Bad input ends here with one line on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import os
import re
import stat
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn
from urllib.parse import urlsplit

from bottlenecktop import __version__
from bottlenecktop.config import RunConfig
from bottlenecktop.errors import BadInput, RunFailed, StdoutGone
from bottlenecktop.redact import redact_argv, redact_url

EXIT_FAILED, EXIT_BAD_INPUT = 1, 2
MAX_URL_CHARS = 8192  # what common servers accept on a request line; longer is a mistake or an attack
MAX_HEADER_CHARS = 8192
MAX_BODY_BYTES = 1 << 20  # a request body is read whole into memory and sent on every request
MAX_CONNECTIONS = 100_000
MIN_INTERVAL_S = 0.1  # a tick samples every probe: below this the observer becomes the load
MAX_PID = 4_194_304  # PID_MAX_LIMIT on 64-bit Linux
SUBCOMMANDS = ("demo", "replay", "compare", "report")


class _Parser(argparse.ArgumentParser):
    def __init__(self, **kwargs: object) -> None:
        # Abbreviations (--heade for --header) make the accepted spellings open-ended; spell options in full.
        super().__init__(allow_abbrev=False, **kwargs)  # type: ignore[arg-type]

    def parse_args(self, args: Sequence[str] | None = None,  # type: ignore[override]
                   namespace: None = None) -> argparse.Namespace:
        ns, extras = self.parse_known_args(args, namespace)
        if extras:  # argparse would echo them whole, and a mistyped option's value may be a secret
            raise BadInput(f"unrecognized arguments: {_short(' '.join(redact_argv(extras)), 200)[1:-1]}")
        return ns

    def error(self, message: str) -> NoReturn:
        raise BadInput(message)


def _short(text: str, limit: int = 60) -> str:
    """``text`` for an error line: repr'd, cut to ``limit`` characters (a 70 KB argument is not echoed)."""
    shown = repr(text)
    return shown if len(shown) <= limit else shown[: limit - 4] + "...'"


def _bounded_float(high: float, low: float = 0.0, unit: str = "") -> Callable[[str], float]:
    """A type for a positive number no larger than ``high`` and, if ``low`` > 0, at least ``low``."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {_short(text)}") from None
        if not value > 0 or value != value or value == float("inf"):
            raise argparse.ArgumentTypeError(f"expected a positive number, got {_short(text)}")
        if value < low:
            raise argparse.ArgumentTypeError(f"expected at least {low:,.10g}{unit}, got {_short(text)}")
        if value > high:
            raise argparse.ArgumentTypeError(f"expected at most {high:,.10g}{unit}, got {_short(text)}")
        return value

    return parse


_positive_float = _bounded_float(1e9)
_seconds = _bounded_float(30 * 86400.0, unit=" s")  # a month: beyond it a run is a mistake
_timeout = _bounded_float(3600.0, unit=" s")


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a fraction between 0 and 1, got {_short(text)}") from None
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"expected a fraction between 0 and 1, got {_short(text)}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text) if len(text) <= 30 else -1
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {_short(text)}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {_short(text)}")
    return value


def _pid(text: str) -> int:
    value = _positive_int(text)
    if value > MAX_PID:
        raise argparse.ArgumentTypeError(f"no process with pid {value} (pids on Linux are at most {MAX_PID})")
    return value


def _connections(text: str) -> int:
    import resource

    value = _positive_int(text)
    if value > MAX_CONNECTIONS:
        raise argparse.ArgumentTypeError(f"expected at most {MAX_CONNECTIONS} connections, got {value}")
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard != resource.RLIM_INFINITY and value > hard - 64:  # the driver needs a few fds of its own
        raise argparse.ArgumentTypeError(f"{value} connections cannot be open at once here: the open-file limit "
                                         f"(ulimit -Hn) is {hard}")
    return value


def _metrics_listen(text: str) -> tuple[str, int]:
    from bottlenecktop.metrics_endpoint import parse_listen

    try:
        return parse_listen(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{exc}, got {_short(text)}") from None


def _header(text: str) -> tuple[str, str]:
    """'Name: value' -> (name, value). The value must be visible ASCII (and spaces): CR or LF would split the
    request, and a non-ASCII byte has no agreed encoding in a header."""
    if len(text) > MAX_HEADER_CHARS:
        raise argparse.ArgumentTypeError(f"a header is at most {MAX_HEADER_CHARS} characters")
    name, sep, value = text.partition(":")
    if not sep or not re.fullmatch(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+", name.strip()):
        raise argparse.ArgumentTypeError(f"expected a header as 'Name: value', got {_short(name + sep)}")
    value = value.strip(" \t")
    if not re.fullmatch(r"[\x20-\x7e\t]*", value):
        raise argparse.ArgumentTypeError(f"header {name.strip()}: the value may hold only visible ASCII and spaces "
                                         "(no CR, LF or other control or non-ASCII characters)")
    return name.strip(), value


def _method(text: str) -> str:
    if not re.fullmatch(r"[A-Za-z]{1,20}", text):
        raise argparse.ArgumentTypeError(f"expected an HTTP method such as GET or POST, got {_short(text)}")
    return text.upper()


def validate_url(url: str) -> str:
    """Return the URL if it is an http(s) URL with a host and a port that can be connected to; raise BadInput
    with one line otherwise. The line shows the URL with its secrets redacted."""
    if len(url) > MAX_URL_CHARS:
        raise BadInput(f"the URL is {len(url)} characters long; at most {MAX_URL_CHARS} are accepted")
    shown = _short(redact_url(url) or "", 200)
    if not re.fullmatch(r"[\x21-\x7e]*", url):
        raise BadInput(f"malformed URL {shown}: spaces, control and non-ASCII characters must be %-encoded "
                       "(host names in punycode, xn--)")
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError as exc:
        what = "the port is not a number between 1 and 65535" if "port" in str(exc).lower() else "bad host"
        raise BadInput(f"malformed URL {shown}: {what}") from None
    if parts.scheme not in ("http", "https") or not host:
        hint = f"; did you mean http://{shown[1:-1]}" if "://" not in url and url else ""
        raise BadInput(f"malformed URL {shown}: expected http://host[:port]/path{hint}")
    if port == 0:
        raise BadInput(f"malformed URL {shown}: port 0 cannot be connected to")
    return url


def _add_run_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--pid", type=_pid, help="attach to this process (its threads, memory, fds, stacks)")
    p.add_argument("--headless", action="store_true", help="no screen: progress on stderr, verdict on stdout")
    p.add_argument("--json", metavar="FILE", type=Path, help="write the verdict (bottlenecktop.verdict/1) here")
    p.add_argument("--max-time", metavar="SECONDS", type=_seconds, help="stop after this long")
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
    p.add_argument("--horizon", metavar="SECONDS", type=_bounded_float(30 * 86400.0, 1.0, " s"), default=3600.0,
                   help="a rate that exhausts memory sooner than this is not sustainable (default 3600)")
    p.add_argument("--interval", metavar="SECONDS", type=_bounded_float(3600.0, MIN_INTERVAL_S, " s"), default=1.0,
                   help=f"seconds per sample (default 1, at least {MIN_INTERVAL_S:g})")
    p.add_argument("-H", "--header", dest="headers", metavar="'Name: value'", type=_header, action="append",
                   default=[], help="add a request header (repeatable); secrets never reach the recording")
    p.add_argument("-X", "--method", type=_method, default="GET", help="request method (default GET)")
    p.add_argument("--body", metavar="DATA|@FILE",
                   help=f"request body, or @FILE to read it from a regular file (at most {MAX_BODY_BYTES >> 20} MiB); "
                   "recorded as its size and sha256 only")
    p.add_argument("--timeout", metavar="SECONDS", type=_timeout, default=5.0,
                   help="per-request timeout (default 5)")
    p.add_argument("--http2", action="store_true", help="speak HTTP/2 (prior knowledge on http://, ALPN on https://)")
    p.add_argument("-k", "--insecure", action="store_true", help="do not check the target's TLS certificate")
    p.add_argument("--connections", metavar="N", type=_connections,
                   help=f"cap on connections, at most {MAX_CONNECTIONS:,} (and the concurrency of --closed-model)")
    p.add_argument("--start-rps", metavar="N", type=_positive_float, default=10.0,
                   help="the ramp's first rate (default 10 req/s)")
    p.add_argument("--step-seconds", metavar="SECONDS", type=_seconds, default=3.0,
                   help="how long each ramp step lasts (default 3)")
    p.add_argument("--closed-model", action="store_true",
                   help="ramp fixed concurrency steps instead of arrival rates")
    p.add_argument("--agents", metavar="N", type=_positive_int,
                   help="drive the ramp from N load agents (a local Dask cluster; with --cluster: N of its workers)")
    p.add_argument("--cluster", metavar="tcp://HOST:8786",
                   help="use the load agents of a running Dask scheduler (workers started with --resources LOADGEN=1)")
    p.add_argument("-y", "--yes", action="store_true",
                   help="consent to ramp load at a target that is not on this host")
    p.add_argument("--node-exporter", dest="node_exporters", metavar="URL", action="append", default=[],
                   help="observe a node of the target through its node_exporter (repeatable, one per node)")
    p.add_argument("--process-exporter", dest="process_exporters", metavar="URL", action="append", default=[],
                   help="per-thread CPU of named processes through a process-exporter (repeatable)")
    p.add_argument("--prometheus", metavar="URL", help="read the target's nodes from this Prometheus server")
    p.add_argument("--selector", metavar="LABELS", default="",
                   help="with --prometheus: the nodes to read, as PromQL label matchers, e.g. 'job=\"node\"'")
    p.add_argument("--metrics-listen", metavar="ADDR:PORT", type=_metrics_listen,
                   help="serve live metrics for Prometheus here while the run lasts (PORT or :PORT: on 127.0.0.1; "
                   "another address needs --yes)")


def _main_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="bottlenecktop",
        description="Find the highest request rate this machine sustains within its SLO (the magic number) "
        "and the saturated resource that stops it going higher.",
        epilog="Other modes: bottlenecktop demo [--bottleneck KIND] | replay FILE | compare A B | report FILE. "
        "Exit status: 0 done, 1 the run failed (or was cut short) or --goal-rps was not reached within the SLO, "
        "2 bad input, 4 inconclusive (the target exited, was stopped or restarted mid-ramp: a lower bound), "
        "129 the terminal hung up, 130 interrupted (SIGINT), 143 terminated (SIGTERM).",
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
    """A recording to read: a regular file, or a pipe (``replay <(zcat old.jsonl.gz | gzip)``, a FIFO). Anything
    else is named for what it is, without opening it (a device such as /dev/zero is never read)."""
    path = Path(text)
    shown = _short(redact_url(text) or "", 200)[1:-1]
    try:
        mode = os.stat(path).st_mode
    except PermissionError:
        raise argparse.ArgumentTypeError(f"cannot read {shown}: permission denied") from None
    except (OSError, ValueError):  # missing, a name too long, a NUL byte
        raise argparse.ArgumentTypeError(f"no such file: {shown}") from None
    if stat.S_ISREG(mode) or stat.S_ISFIFO(mode):
        return path
    what = ("a directory" if stat.S_ISDIR(mode) else "a character device" if stat.S_ISCHR(mode) else
            "a block device" if stat.S_ISBLK(mode) else "a socket" if stat.S_ISSOCK(mode) else "not a regular file")
    raise argparse.ArgumentTypeError(f"{shown} is {what}, not a recording")


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
    from bottlenecktop.report import FORMATS  # only the report subcommand pays for these imports
    from bottlenecktop.report_export import TABLES, WINDOWS

    p = _Parser(prog="bottlenecktop report", description="A self-contained report of a recording, or an output "
                "other tools read (folded stacks, speedscope, an HdrHistogram log, CSV).")
    p.add_argument("file", type=_file_arg, metavar="FILE")
    p.add_argument("--format", choices=FORMATS, default="md")
    p.add_argument("--window", metavar="|".join((*WINDOWS, "A-B")),
                   help="folded, speedscope: the stacks of the knee's step, the worst step, the whole run "
                        "(default) or session seconds A to B")
    p.add_argument("--table", choices=TABLES, help="csv: one row per second of load (default) or per ramp step")
    p.add_argument("-o", "--output", metavar="OUT", type=Path, help="write here instead of stdout")
    return p


def _writable_target(path: Path | None, what: str, inputs: Sequence[Path] = ()) -> None:
    """Refuse an output path that cannot be written or that is one of the ``inputs`` (by device and inode:
    another spelling, a symlink or a hard link of an input is the input)."""
    if path is None:
        return
    try:
        parent = path.parent if str(path.parent) else Path(".")
        if path.is_dir():
            raise BadInput(f"{what} {path} is a directory")
        if not parent.is_dir():
            raise BadInput(f"{what} {path}: no such directory {parent}")
    except (OSError, ValueError) as exc:  # a name too long, a NUL byte
        raise BadInput(f"{what}: unusable path: {getattr(exc, 'strerror', None) or exc}") from None
    if not os.access(parent, os.W_OK) and not path.exists():
        raise BadInput(f"{what} {path}: directory {parent} is not writable")
    from bottlenecktop.outputs import same_file

    for source in inputs:
        if same_file(path, source):
            raise BadInput(f"{what} {path} is the input {source}: an input is never overwritten")


def _read_body(body: str | None) -> bytes | None:
    """The request body: the text itself, or ``@FILE``: a regular file of at most MAX_BODY_BYTES, opened without
    blocking (a FIFO or a device is refused before a byte is read)."""
    if body is None:
        return None
    if not body.startswith("@"):
        data = body.encode("utf-8", "surrogateescape")
        if len(data) > MAX_BODY_BYTES:
            raise BadInput(f"the body is {len(data)} bytes; at most {MAX_BODY_BYTES} are accepted")
        return data
    path = body[1:]
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
    except (OSError, ValueError) as exc:
        raise BadInput(f"cannot read the body file {_short(path, 200)}: "
                       f"{getattr(exc, 'strerror', None) or exc}") from None
    with os.fdopen(fd, "rb") as f:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise BadInput(f"the body file {path} is not a regular file (a FIFO, device or directory is not read)")
        if info.st_size > MAX_BODY_BYTES:
            raise BadInput(f"the body file {path} is {info.st_size} bytes; at most {MAX_BODY_BYTES} are accepted")
        try:
            data = f.read(MAX_BODY_BYTES + 1)
        except OSError as exc:
            raise BadInput(f"cannot read the body file {path}: {exc.strerror or exc}") from None
    if len(data) > MAX_BODY_BYTES:  # it grew while we looked
        raise BadInput(f"the body file {path} is over {MAX_BODY_BYTES} bytes")
    return data


def _check_pid(pid: int | None) -> None:
    if pid is None:
        return
    import psutil

    try:
        exists = psutil.pid_exists(pid)
    except (OverflowError, ValueError):
        exists = False
    if not exists:
        raise BadInput(f"no process with pid {pid}")


def _check_remote(ns: argparse.Namespace) -> None:
    """The exporter and Prometheus URLs and the selector make sense together (one line when they do not)."""
    from bottlenecktop.probes.remote.address import AddressError, split

    if ns.selector and not ns.prometheus:
        raise BadInput("--selector needs --prometheus URL: it picks the nodes to read from that server")
    if ns.prometheus and not ns.selector.strip():
        raise BadInput("--prometheus needs --selector LABELS (e.g. 'job=\"node\"'): which nodes are the target's")
    for url in (*ns.node_exporters, *ns.process_exporters, *([ns.prometheus] if ns.prometheus else [])):
        try:
            split(url, "/")
        except AddressError as exc:
            raise BadInput(str(exc)) from None


def _check_metrics_listen(address: tuple[str, int] | None, yes: bool) -> None:
    """The endpoint shows the run (its target, its findings) to whoever can connect: beyond this host only with
    the consent a remote target needs."""
    import ipaddress

    if address is not None and not ipaddress.ip_address(address[0]).is_loopback and not yes:
        host = f"[{address[0]}]" if ":" in address[0] else address[0]
        raise BadInput(f"--metrics-listen {host}:{address[1]} is reachable from other hosts and shows them "
                       "the run: add --yes to consent (or listen on 127.0.0.1)")


def parse_args(argv: Sequence[str]) -> RunConfig:
    """Turn the command line into a validated RunConfig; raise BadInput with one line on any bad input."""
    argv = list(argv)
    sub = argv[0] if argv and argv[0] in SUBCOMMANDS else None
    rest = argv[1:] if sub else argv
    if sub == "replay":
        ns = _replay_parser().parse_args(rest)
        _writable_target(ns.json, "--json", (ns.file,))
        return RunConfig(mode="replay", files=(ns.file,), headless=ns.headless, json_path=ns.json,
                         record=False, argv=tuple(argv))
    if sub == "compare":
        ns = _compare_parser().parse_args(rest)
        _writable_target(ns.json, "--json", (ns.a, ns.b))
        return RunConfig(mode="compare", files=(ns.a, ns.b), headless=ns.headless, json_path=ns.json,
                         record=False, argv=tuple(argv))
    if sub == "report":
        ns = _report_parser().parse_args(rest)
        from bottlenecktop.report_export import check_options, parse_window

        check_options(ns.format, ns.window, ns.table)  # before the file is read
        window = parse_window(ns.window) if ns.window is not None else None
        _writable_target(ns.output, "--output", (ns.file,))
        return RunConfig(mode="report", files=(ns.file,), report_format=ns.format, report_window=window,
                         report_table=ns.table, output=ns.output, record=False, argv=tuple(argv))

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
    _check_remote(ns)
    if (getattr(ns, "agents", None) or getattr(ns, "cluster", None)) and mode not in ("ramp", "demo"):
        raise BadInput("--agents and --cluster drive a ramp: give a URL")
    _check_metrics_listen(ns.metrics_listen, ns.yes)
    _writable_target(ns.json, "--json")
    _writable_target(ns.record, "--record")
    if ns.record is not None and (ns.record.exists() or ns.record.is_symlink()):
        raise BadInput(f"--record {ns.record} exists: a recording is never overwritten; choose another name")
    if ns.record is not None and ns.json is not None and \
            os.path.realpath(ns.record) == os.path.realpath(ns.json):
        raise BadInput(f"--json {ns.json} is the recording: choose another name for the verdict")
    return RunConfig(
        mode=mode, url=url, pid=ns.pid, headless=ns.headless, json_path=ns.json, max_time=ns.max_time,
        record_path=ns.record, record=not ns.no_record, slo_p99_ms=ns.slo_p99, max_error_rate=ns.max_error_rate,
        max_rps=ns.max_rps, goal_rps=ns.goal_rps, horizon_s=ns.horizon, interval=ns.interval,
        headers=tuple(ns.headers),
        method=ns.method, body=_read_body(ns.body), yes=ns.yes, closed_model=ns.closed_model,
        concurrency=ns.connections, timeout=ns.timeout, start_rps=ns.start_rps, step_seconds=ns.step_seconds,
        http2=ns.http2, insecure=ns.insecure, agents=getattr(ns, "agents", None), cluster=getattr(ns, "cluster", None),
        demo_kind=getattr(ns, "bottleneck", "cpu"),
        demo_options=demo_options, argv=tuple(argv), node_exporters=tuple(ns.node_exporters),
        process_exporters=tuple(ns.process_exporters), prometheus=ns.prometheus, selector=ns.selector,
        metrics_listen=ns.metrics_listen,
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


def _quiet_stdout() -> None:
    """Point stdout at /dev/null so that the interpreter's flush at exit cannot fail a second time."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass


def _say(line: str) -> None:
    """One line on stderr, shown as text (a path or a value read from a file may hold control characters);
    a stderr that went away too is not an error worth a traceback."""
    from bottlenecktop.probes.printable import printable

    with contextlib.suppress(OSError, ValueError):
        print(f"bottlenecktop: {printable(line)}", file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the exit status.

    0 done, 1 the run failed or was cut short (or --goal-rps was not reached), 2 bad input, 4 inconclusive (the
    target went away mid-ramp), 130/143 ended by
    SIGINT/SIGTERM after a clean close. A stdout that goes away (a closed pipe) ends the program quietly with 1.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        config = parse_args(args)
        from bottlenecktop.app.modes import run

        status = run(config)
        sys.stdout.flush()
        return status
    except BadInput as exc:
        _say(str(exc))
        return EXIT_BAD_INPUT
    except RunFailed as exc:
        _say(str(exc))
        return EXIT_FAILED
    except KeyboardInterrupt:
        _say("interrupted")
        return 130
    except (StdoutGone, BrokenPipeError):
        _quiet_stdout()
        return EXIT_FAILED
    except OSError as exc:
        if exc.errno in (errno.EPIPE, errno.ENOSPC, errno.EIO) and _is_stdout_error():
            _quiet_stdout()
            if exc.errno != errno.EPIPE:
                _say(f"cannot write to stdout: {exc.strerror or exc}")
            return EXIT_FAILED
        _say(f"{exc.strerror or exc}")
        return EXIT_FAILED
    except Exception as exc:  # a bug: still one line, and the exit says the run failed
        _say(f"internal error: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''} "
             "(please report it)")
        return EXIT_FAILED


def _is_stdout_error() -> bool:
    """True when stdout can no longer be written (the error just caught came from it)."""
    try:
        sys.stdout.flush()
    except (OSError, ValueError):
        return True
    return False


if __name__ == "__main__":
    sys.exit(main())
