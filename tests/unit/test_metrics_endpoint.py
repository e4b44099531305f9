"""The --metrics-listen endpoint: the address, the consent rule, and what a scrape shows over a synthetic session
(feed frames, scrape over HTTP from 127.0.0.1, parse with prometheus_client's own parser, compare to the frames)."""

from __future__ import annotations

import socket
import time
import urllib.request
from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from prometheus_client.parser import text_string_to_metric_families

from bottlenecktop.analysis.verdict import live_status
from bottlenecktop.app.cli import main, parse_args
from bottlenecktop.app.live import command_line
from bottlenecktop.metrics_endpoint import ListenAddress, MetricsEndpoint, _label, parse_listen
from bottlenecktop.probes.samples import ERROR_CLASSES
from bottlenecktop.session import Frame, Session
from tests.support.timeline_builder import TimelineBuilder, driver, header, node, proc

HOSTILE = 'evil"q\\b\nn\r\x00\u202e\udcff'  # quote, backslash, newline, CR, NUL, a bidi override, a lone surrogate


def scrape(endpoint: MetricsEndpoint) -> dict[str, list[tuple[dict[str, str], float]]]:
    """name -> [(labels, value)] as Prometheus reads the endpoint (counters keep their _total name). The same
    scrape in OpenMetrics (what Prometheus asks for first), through its strict parser, must say the same."""
    out = _read(endpoint, openmetrics=False)
    assert _read(endpoint, openmetrics=True) == out
    return out


def _read(endpoint: MetricsEndpoint, openmetrics: bool) -> dict[str, list[tuple[dict[str, str], float]]]:
    accept = {"Accept": "application/openmetrics-text;version=1.0.0"} if openmetrics else {}
    with urllib.request.urlopen(urllib.request.Request(endpoint.url, headers=accept), timeout=5) as response:
        text = response.read().decode("utf-8")
    assert text.startswith("# HELP") and (text.endswith("# EOF\n") == openmetrics)
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    parse = parse_openmetrics if openmetrics else text_string_to_metric_families
    for family in parse(text):
        for sample in family.samples:
            if not sample.name.endswith("_created"):  # OpenMetrics adds a counter's creation time
                out.setdefault(sample.name, []).append((sample.labels, float(sample.value)))
    return out


def one(metrics: dict[str, list[tuple[dict[str, str], float]]], name: str, **labels: str) -> float:
    values = [v for lab, v in metrics[name] if all(lab.get(k) == x for k, x in labels.items())]
    assert len(values) == 1, (name, labels, metrics.get(name))
    return values[0]


def timeline() -> TimelineBuilder:
    """A ramp of four steps; one second with errors; a hot thread with a hostile name (the leading finding)."""
    b = TimelineBuilder(header(ncpu=4))
    parts = dict(node=node(busy=27), target=proc(cpu=99, threads=[(HOSTILE, 99.0)]), driver=driver(cpu=12),
                 self_proc=proc(pid=77, cpu=3))
    for rate in (10.0, 20.0, 40.0, 80.0):
        b.step(rate, achieved=rate * 0.99, p50=2 + rate / 100, p99=5 + rate / 10, **parts)  # type: ignore[arg-type]
    b.frames[-2].load.errors = {"timeout": 1, "http_5xx": 2}  # type: ignore[union-attr]
    b.tick(load=None)  # a frame without a driver second: the gauges keep the last one
    return b


@pytest.fixture
def endpoint() -> Iterator[MetricsEndpoint]:
    ep = MetricsEndpoint(ListenAddress("127.0.0.1", 0))  # port 0: a free one (the CLI asks for 1-65535)
    yield ep
    ep.stop()


def test_listen_addresses() -> None:
    assert parse_listen("9464") == ("127.0.0.1", 9464)
    assert parse_listen(":9464") == ("127.0.0.1", 9464)
    assert parse_listen("localhost:9464") == ("127.0.0.1", 9464)
    assert parse_listen("0.0.0.0:80") == ("0.0.0.0", 80)
    assert parse_listen("[::1]:9464") == ("::1", 9464)
    assert str(parse_listen("[::]:9464")) == "[::]:9464"
    assert parse_listen("127.0.0.2:1").loopback and not parse_listen("10.0.0.1:1").loopback
    for bad in ("", ":", "0", "65536", "host:9464", "::1:9464", "[::1]9464", "1.2.3.4:x", "٣:9464", "9464 ",
                "1.2.3.4:-1", "1.2.3.4:00000009464"):
        with pytest.raises(ValueError):
            parse_listen(bad)


@pytest.mark.parametrize("value", ["abc", "70000", "example.com:9464", "::1:80", "1.2.3.4:0"])
def test_cli_refuses_a_bad_address(value: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--headless", "--metrics-listen", value]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--metrics-listen" in err and "Traceback" not in err


def test_cli_needs_consent_beyond_loopback(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--headless", "--metrics-listen", "0.0.0.0:9464"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--yes" in err
    assert main(["--headless", "--metrics-listen", "[::]:9464"]) == 2
    config = parse_args(["--headless", "--yes", "--metrics-listen", "0.0.0.0:9464"])
    assert config.metrics_listen == ("0.0.0.0", 9464)
    assert parse_args(["--metrics-listen", "9464"]).metrics_listen == ("127.0.0.1", 9464)
    assert parse_args([]).metrics_listen is None


def test_command_line_keeps_the_address() -> None:
    line = command_line(parse_args(["http://127.0.0.1:8000/", "--metrics-listen", ":9464"]), "http://127.0.0.1:8000/")
    assert line[line.index("--metrics-listen") + 1] == "127.0.0.1:9464"
    line = command_line(parse_args(["--yes", "--metrics-listen", "[::]:9"]), None)
    assert line[line.index("--metrics-listen") + 1] == "[::]:9"


def test_a_port_in_use_is_bad_input_before_the_run(capsys: pytest.CaptureFixture[str]) -> None:
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    try:
        started = time.monotonic()
        status = main(["--headless", "--no-record", "--max-time", "1", "--metrics-listen",
                       f"127.0.0.1:{busy.getsockname()[1]}"])
        assert status == 2 and time.monotonic() - started < 5
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "the port is in use" in err, err
    finally:
        busy.close()


def test_a_scrape_shows_the_frames(endpoint: MetricsEndpoint) -> None:
    b = timeline()
    session = Session(b.header)
    endpoint.start(session)
    before = scrape(endpoint)  # no frame yet: the run's description, no gauges
    assert one(before, "bottlenecktop_run_info", mode="ramp") == 1
    assert "bottlenecktop_achieved_rps" not in before and "bottlenecktop_phase" not in before
    for k, frame in enumerate(b.frames):
        session.append(frame)
        if k in (3, len(b.frames) - 2, len(b.frames) - 1):
            check(scrape(endpoint), b.header, b.frames[:k + 1])


def check(m: dict[str, list[tuple[dict[str, str], float]]], hdr: object, frames: list[Frame]) -> None:
    load = next(f.load for f in reversed(frames) if f.load is not None)
    assert one(m, "bottlenecktop_offered_rps") == load.offered_rps
    assert one(m, "bottlenecktop_achieved_rps") == load.achieved_rps
    assert one(m, "bottlenecktop_load_second_end_seconds") == load.t
    assert one(m, "bottlenecktop_frame_seconds") == frames[-1].t
    assert one(m, "bottlenecktop_slo_p99_ms") == 500.0
    assert one(m, "bottlenecktop_ramp_step") == load.step
    for q, ms in (("0.5", load.p50_ms), ("0.9", load.p90_ms), ("0.99", load.p99_ms), ("1", load.max_ms)):
        assert one(m, "bottlenecktop_latency_ms", quantile=q) == ms
    for name in ERROR_CLASSES:
        total = sum(f.load.errors.get(name, 0) for f in frames if f.load is not None)
        assert one(m, "bottlenecktop_errors_total", **{"class": name}) == total
        assert one(m, "bottlenecktop_errors_rps", **{"class": name}) == load.errors.get(name, 0) / load.dt
    assert one(m, "bottlenecktop_requests_completed_total") == sum(f.load.completed for f in frames if f.load)
    last_node = next(f.node for f in reversed(frames) if f.node is not None)
    assert one(m, "bottlenecktop_node_cpu_busy_percent") == last_node.cpu.busy_pct
    target = next(f.target for f in reversed(frames) if f.target is not None)
    assert one(m, "bottlenecktop_process_cpu_percent", role="target", pid=str(target.pid)) == target.cpu_pct
    assert one(m, "bottlenecktop_process_cpu_percent", role="driver") == 12.0
    status = live_status(hdr, frames)  # type: ignore[arg-type]
    assert [lab["phase"] for lab, v in m["bottlenecktop_phase"] if v == 1] == [status.phase]
    if status.magic_rps is None:
        assert "bottlenecktop_magic_rps" not in m
    else:
        assert one(m, "bottlenecktop_magic_rps") == status.magic_rps
    assert one(m, "bottlenecktop_magic_lower_bound") == float(status.lower_bound)
    if status.leading is not None:
        leading = status.leading
        assert one(m, "bottlenecktop_leading_finding_score", resource=leading.resource, severity=leading.severity,
                   scope=_label(leading.scope)) == leading.score


def test_the_leading_finding_survives_a_hostile_thread_name(endpoint: MetricsEndpoint) -> None:
    b = timeline()
    session = Session(b.header)
    endpoint.start(session)
    for frame in b.frames:
        session.append(frame)
    m = scrape(endpoint)
    [(labels, score)] = m["bottlenecktop_leading_finding_score"]
    assert labels["resource"] == "cpu-thread" and labels["severity"] == "saturated" and score > 0.5
    # as the terminal shows it: control and format characters as escapes, the surrogate escaped; the quote and
    # the backslash are the name's own, escaped on the wire by prometheus_client and read back as they were
    assert labels["scope"] == 'pid 4242 thread evil"q\\b\\x0an\\x0d\\x00\\u202e\\udcff'


@pytest.mark.parametrize("value", ['a"b', "back\\slash", "new\nline", "\\n literally", 'all "\\\n" three', "ü ∞"])
def test_prometheus_client_escapes_label_values(value: str) -> None:
    """What the endpoint relies on: a label value with quotes, backslashes or newlines reads back unchanged, in
    both the Prometheus text format and OpenMetrics."""

    class One:
        def collect(self) -> list[Metric]:
            family = GaugeMetricFamily("x", "a gauge", labels=["scope"])
            family.add_metric([value], 1.0)
            return [family]

    registry = CollectorRegistry(auto_describe=False)
    registry.register(One())
    text = generate_latest(registry).decode("utf-8")
    assert "\n" not in text.split("x{", 1)[1].split("}", 1)[0]  # one sample, one line
    [family] = [f for f in text_string_to_metric_families(text) if f.name == "x"]
    assert family.samples[0].labels["scope"] == value
    [family] = [f for f in parse_openmetrics(generate_openmetrics(registry).decode("utf-8")) if f.name == "x"]
    assert family.samples[0].labels["scope"] == value


def test_status_is_computed_once_per_frame(endpoint: MetricsEndpoint) -> None:
    b = timeline()
    session = Session(b.header)
    endpoint.start(session)
    session.append(b.frames[0])
    scrape(endpoint)
    scrape(endpoint)
    assert endpoint.status_count == 1
    session.append(b.frames[1])
    scrape(endpoint)
    assert endpoint.status_count == 2
    assert endpoint.status_cpu_s < 0.1


def test_a_failing_collect_is_counted_not_raised(endpoint: MetricsEndpoint, monkeypatch: pytest.MonkeyPatch) -> None:
    session = Session(header())
    endpoint.start(session)

    def broken() -> list[Metric]:
        raise RuntimeError("a bug")

    monkeypatch.setattr(endpoint, "_families", broken)
    assert one(_read(endpoint, openmetrics=False), "bottlenecktop_exporter_failures_total") == 1
    assert one(_read(endpoint, openmetrics=True), "bottlenecktop_exporter_failures_total") == 2


def test_stop_is_quick_frees_the_port_and_is_idempotent() -> None:
    ep = MetricsEndpoint(ListenAddress("127.0.0.1", 0))
    port = int(ep.url.rsplit(":", 1)[1].split("/")[0])
    ep.start(Session(header()))
    scrape(ep)
    started = time.monotonic()
    ep.stop()
    ep.stop()
    assert time.monotonic() - started < 1.5
    again = MetricsEndpoint(ListenAddress("127.0.0.1", port))  # the listening socket is closed: a new run gets it
    again.stop()
    never_started = MetricsEndpoint(ListenAddress("127.0.0.1", 0))
    never_started.stop()  # closes the bound socket without waiting for a loop that never ran


def test_an_endpoint_started_late_judges_the_whole_timeline(endpoint: MetricsEndpoint) -> None:
    b = timeline()
    session = Session(b.header)
    for frame in b.frames[:-3]:
        session.append(frame)
    endpoint.start(session)
    for frame in b.frames[-3:]:
        session.append(frame)
    m = scrape(endpoint)
    assert one(m, "bottlenecktop_magic_rps") == live_status(b.header, b.frames).magic_rps
