"""Run one mode of the CLI: assemble the probes, the driver and the recording for a live session, or read
recordings for replay, compare and report. The screen is imported lazily and only for interactive modes."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

from bottlenecktop.app.live import LiveRun, build_live_run
from bottlenecktop.config import RunConfig
from bottlenecktop.errors import BadInput, StdoutGone
from bottlenecktop.outputs import write_json, write_text
from bottlenecktop.probes.printable import printable_lines

if TYPE_CHECKING:
    from bottlenecktop.recording import Recording
    from bottlenecktop.verdict_types import Verdict

EXIT_OK = 0


def run(config: RunConfig) -> int:
    """Run the mode the config names and return the exit status."""
    if config.mode == "replay":
        return _replay(config)
    if config.mode == "compare":
        return _compare(config)
    if config.mode == "report":
        return _report(config)
    if not config.headless and not (sys.stdout.isatty() and sys.stdin.isatty()):
        raise BadInput("the screen needs a terminal: run with --headless (and --json FILE) in scripts and CI")
    live = build_live_run(config)
    try:
        if config.headless:
            from bottlenecktop.app.headless import run_headless

            run_headless(live)
        else:
            _run_screen(live)
    finally:
        live.close()
    return live.exit_status()


def _run_screen(live: LiveRun) -> None:
    from bottlenecktop.app.screen_watch import watch_screen
    from bottlenecktop.tui.app import BottleneckApp

    app = BottleneckApp(live.session, live.runner, mode="live", notices=live.notices)
    live.on_signal(lambda: app.call_later(app.exit))
    live.runner.start()
    with watch_screen(lambda: app.alive_at, on_gone=lambda: live.end("hangup", tell_screen=False)):
        app.run()
    live.runner.stop("quit")
    live.runner.wait(10.0)


def _print(text: str) -> None:
    """Write to stdout; a stdout that went away (a closed pipe) ends the program quietly (StdoutGone)."""
    try:
        text = printable_lines(text)  # it may quote a recording: shown as text, never obeyed by the terminal
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        sys.stdout.flush()
    except BrokenPipeError:
        raise StdoutGone() from None


def _load(path: Path) -> Recording:
    """Read a recording; a recorded verdict of the wrong shape reads as none (and is built from the frames).
    Records holding NaN, an infinity or an absurd magnitude are skipped (finite_only): nothing replay, compare
    or report compute or print meets one."""
    from bottlenecktop.probes.printable import printable
    from bottlenecktop.recording import RecordingError, read_recording

    try:
        rec = read_recording(path, finite_only=True)
    except RecordingError as exc:
        raise BadInput(str(exc)) from None
    except RecursionError:
        raise BadInput(f"{printable(str(path))}: a record is nested too deeply to read; not a recording "
                       "bottlenecktop wrote") from None
    if rec.notice:
        print(f"bottlenecktop: {printable(str(path))}: {printable(rec.notice)}", file=sys.stderr)
    _redact_recorded_urls(rec)
    return rec


def _redact_recorded_urls(rec: Recording) -> None:
    """A recording made before redaction covered the verdict may hold a raw target URL: redact it on reading."""
    from bottlenecktop.redact import redact_url

    if rec.header.target.url:
        rec.header.target.url = redact_url(rec.header.target.url)
    if rec.verdict is not None and rec.verdict.target.url:
        rec.verdict.target.url = redact_url(rec.verdict.target.url)


def _verdict_of(rec: Recording, path: Path) -> Verdict:
    """The verdict the recording holds; built from its frames when the run ended before it was written."""
    from bottlenecktop.analysis.verdict import verdict_of

    return verdict_of(rec.header, rec.frames, rec.verdict, recording=str(path))


def _replay(config: RunConfig) -> int:
    from bottlenecktop.recording import session_from_recording
    from bottlenecktop.summary import summary_text

    path = config.files[0]
    rec = _load(path)
    verdict = _verdict_of(rec, path)
    if config.json_path:
        write_json(config.json_path, verdict.to_json_dict(), inputs=config.files)
    if config.headless:
        _print(summary_text(verdict))
        return EXIT_OK
    session = session_from_recording(rec)
    session.verdict = verdict
    _need_terminal()
    from bottlenecktop.tui.app import BottleneckApp

    BottleneckApp(session, None, mode="replay").run()
    return EXIT_OK


def _compare(config: RunConfig) -> int:
    from bottlenecktop.compare import compare_sessions, compare_table
    from bottlenecktop.recording import session_from_recording

    a, b = (_load(p) for p in config.files)
    cmp = compare_sessions(a, b)
    if config.json_path:
        write_json(config.json_path, cmp, inputs=config.files)
    if config.headless:
        _print(compare_table(cmp))
        return EXIT_OK
    _need_terminal()
    from bottlenecktop.tui.app import BottleneckApp

    sa, sb = session_from_recording(a), session_from_recording(b)
    sa.verdict, sb.verdict = _verdict_of(a, config.files[0]), _verdict_of(b, config.files[1])
    BottleneckApp(sa, None, mode="compare", compare_with=sb).run()
    return EXIT_OK


def _report(config: RunConfig) -> int:
    from bottlenecktop.report import render_report

    rec = _load(config.files[0])
    text = render_report(rec, config.report_format, config.report_window, config.report_table)
    if config.output is None:
        _print(text)
        return EXIT_OK
    write_text(config.output, text if text.endswith("\n") else text + "\n", inputs=config.files)
    from bottlenecktop.probes.printable import printable

    print(f"bottlenecktop: report written to {printable(str(config.output))}", file=sys.stderr)
    return EXIT_OK


def _need_terminal() -> None:
    if not (sys.stdout.isatty() and sys.stdin.isatty()):
        raise BadInput("the screen needs a terminal: add --headless")
