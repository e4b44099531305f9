"""Where a Python thread waits, judged from its innermost frames, and the aggregation of stack samples.

py-spy shows Python frames only: a C call such as ``lock.acquire()`` or ``time.sleep()`` appears as the
Python line that makes it. So a stack is classified first by well-known library frames (threading, queue,
socket, selectors, ...) and then by the source text of the innermost line.
"""

from __future__ import annotations

import linecache
import os
import re
from collections import Counter
from dataclasses import dataclass, field

from bottlenecktop.probes.samples import FoldedStack, FunctionShare, ThreadState

Frame = tuple[str, str, int]  # (function, file path, line)

# A flame graph of a window keeps its busiest stacks: enough for every box wider than a cell at 300 columns,
# small enough that a window costs a few KiB in a recording. Deeper stacks keep their outermost frames.
MAX_FOLDED = 300
MAX_DEPTH = 64
OTHER_STACKS = "(other stacks)"

# (file name, function names or None for any) -> wait class, for the innermost frame of a library
_LIBRARY_WAITS: list[tuple[str, frozenset[str] | None, str]] = [
    ("threading.py", frozenset({"Condition.wait", "Condition.wait_for", "Event.wait", "Semaphore.acquire",
                                "BoundedSemaphore.acquire", "Barrier.wait", "Barrier._wait", "Thread.join",
                                "Thread._wait_for_tstate_lock", "wait", "acquire", "join"}), "lock"),
    ("queue.py", None, "lock"),
    ("synchronize.py", None, "lock"),  # multiprocessing locks
    ("_base.py", frozenset({"Future.result", "wait", "as_completed", "_AcquireFutures.__enter__"}), "lock"),
    ("socket.py", frozenset({"SocketIO.readinto", "socket.accept", "create_connection", "getaddrinfo",
                             "socket.sendfile", "socket._sendfile_use_send", "readinto", "accept"}), "socket"),
    ("ssl.py", None, "socket"),
    ("client.py", None, "socket"),  # http.client response reads
    ("socketserver.py", frozenset({"_SocketWriter.write"}), "socket"),
    ("selectors.py", None, "select"),
    ("base_events.py", frozenset({"BaseEventLoop._run_once", "BaseEventLoop.run_forever"}), "select"),
    ("socketserver.py", frozenset({"BaseServer.serve_forever"}), "select"),
]

# the innermost line's source text -> wait class, tried in order
_LINE_WAITS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"\.(acquire|wait|wait_for|join)\(|^\s*with\s.*(lock|Lock|mutex|cond|sem)\w*\s*:"), "lock"),
    (re.compile(r"\.(recv|recv_into|recvfrom|recvmsg|accept|connect|connect_ex|sendall|send|sendto)\(|"
                r"getaddrinfo\(|create_connection\(|urlopen\(|getresponse\("), "socket"),
    (re.compile(r"\bsleep\("), "sleep"),
    (re.compile(r"\b(select|poll|epoll|kevent)\(|\.control\("), "select"),
    (re.compile(r"\b(fsync|fdatasync|sync_file_range|pwrite|pwritev)\(|\.(write|flush|writelines|truncate)\("),
     "disk"),
]


# A socket wait with one of these on the stack is a call out to another service ("client"): the path part
# (with "/" so that a file merely named client.py in the app does not count) or the function name.
_CLIENT_PATHS = ("/http/client.py", "/urllib/request.py", "/urllib3/", "/requests/", "/httpx/", "/httpcore/",
                 "/aiohttp/", "/psycopg", "/pymysql/", "/MySQLdb/", "/redis/", "/pymongo/", "/grpc/", "/botocore/")
_CLIENT_FUNCS = ("getresponse", "urlopen", "create_connection")
# Socket-layer files a read passes through on its way down from the code that asked for it.
_SOCKET_LAYER = ("socket.py", "ssl.py", "_pyio.py", "selectors.py")
# A server's own request reader: a socket read called straight from it waits for the client's next request
# (an idle keep-alive connection), which is idle by design, not a wait on anything the server needs.
_SERVER_READERS = (("server.py", "handle_one_request"), ("socketserver.py", "handle"))
IDLE = "select"
# Waits that mean "nothing to do yet", not "blocked behind another thread": a worker pool waiting for work, a
# thread waiting for a signal or for another thread to end. Contention is an acquire on a lock or semaphore.
_IDLE_WAITS = (("queue.py", "Queue.get"), ("queue.py", "get"), ("threading.py", "Event.wait"),
               ("threading.py", "Thread.join"), ("threading.py", "Thread._wait_for_tstate_lock"),
               ("thread.py", "_worker"), ("threading.py", "Timer.run"))


def _is_client_call(frames: list[Frame]) -> bool:
    return any(any(m in path for m in _CLIENT_PATHS) or func.rsplit(".", 1)[-1] in _CLIENT_FUNCS
               for func, path, _ in frames)


def _is_idle_request_read(frames: list[Frame]) -> bool:
    """The innermost frame above the socket layer is a server's request reader (keep-alive idle)."""
    for func, path, _ in reversed(frames):
        base = os.path.basename(path)
        if base in _SOCKET_LAYER:
            continue
        return any(base == fname and func.rsplit(".", 1)[-1] == name for fname, name in _SERVER_READERS)
    return False


def _refine_lock(frames: list[Frame]) -> str:
    """A lock-like wait inside a pool's get, an Event or a join is idle; the rest is contention."""
    for func, path, _ in frames:
        base = os.path.basename(path)
        if any(base == fname and func == name for fname, name in _IDLE_WAITS):
            return IDLE
    return "lock"


def _refine_socket(frames: list[Frame]) -> str:
    if _is_client_call(frames):
        return "client"
    if _is_idle_request_read(frames):
        return IDLE
    return "socket"


def classify(frames: list[Frame]) -> str | None:
    """The WAIT_CLASSES entry the stack (outermost first) waits in, or None when it looks like running code.

    Socket waits are split three ways: "client" (inside a call to another service), the idle class (a server
    handler waiting for its client's next request on a keep-alive connection) and "socket" (anything else).
    Lock waits are split two ways: idle (a pool waiting for work, an Event, a join) and "lock" (contention).
    """
    if not frames:
        return None
    kind = _innermost_wait(frames)
    if kind == "socket":
        return _refine_socket(frames)
    if kind == "lock":
        return _refine_lock(frames)
    return kind


def _innermost_wait(frames: list[Frame]) -> str | None:
    func, path, line = frames[-1]
    base = os.path.basename(path)
    for fname, funcs, kind in _LIBRARY_WAITS:
        if base == fname and (funcs is None or func in funcs):
            return kind
    text = linecache.getline(path, line) if line > 0 else ""
    for pattern, kind in _LINE_WAITS:
        if pattern.search(text):
            return kind
    return None


def _is_stdlib(path: str) -> bool:
    return path.startswith("<frozen ") or ("/lib/python3" in path and "-packages/" not in path)


def _waiting_caller(frames: list[Frame]) -> Frame:
    """The innermost frame outside the standard library: where a person would look, e.g. the handler that
    acquires a semaphore rather than Condition.wait inside threading.py."""
    for frame in reversed(frames):
        if not _is_stdlib(frame[1]):
            return frame
    return frames[-1]


def frame_name(frame: Frame) -> str:
    """"function (file.py:LINE)"."""
    func, path, line = frame
    return f"{func} ({os.path.basename(path)}:{line})"


@dataclass
class ThreadTally:
    name: str = ""
    samples: int = 0
    running: int = 0
    waits: Counter[str] = field(default_factory=Counter)
    wait_frames: Counter[str] = field(default_factory=Counter)
    # from the periodic dumps, where py-spy says whether the thread was active and held the GIL
    dumps: int = 0
    dump_gil: int = 0
    dump_idle_unknown: int = 0


@dataclass
class Tally:
    """Counts for one window, filled from record samples (weighted) and dump snapshots."""

    samples: int = 0
    running: int = 0
    own: Counter[tuple[str, str]] = field(default_factory=Counter)  # (func, file) -> running samples on top
    own_lines: dict[tuple[str, str], Counter[int]] = field(default_factory=dict)
    total: Counter[tuple[str, str]] = field(default_factory=Counter)
    threads: dict[int, ThreadTally] = field(default_factory=dict)
    dumps: int = 0
    dumps_gil: int = 0
    folded: Counter[tuple[tuple[str, ...], str]] = field(default_factory=Counter)  # (frames, state) -> samples

    def add_stack(self, tid: int, thread_name: str, frames: list[Frame], count: int) -> None:
        """COUNT samples of thread TID with FRAMES (outermost first)."""
        th = self.threads.setdefault(tid, ThreadTally(name=thread_name))
        th.name = thread_name or th.name
        th.samples += count
        self.samples += count
        kind = classify(frames)
        if kind != IDLE:  # an idle pool would fill the flame graph with nothing to do
            names = tuple(f"{func} ({os.path.basename(path)})" if path else func for func, path, _ in frames)
            self.folded[(names[:MAX_DEPTH], kind or "running")] += count
        if kind is not None:
            th.waits[kind] += count
            th.wait_frames[frame_name(_waiting_caller(frames))] += count
            return
        th.running += count
        self.running += count
        if frames:
            func, path, line = frames[-1]
            key = (func, os.path.basename(path))
            self.own[key] += count
            self.own_lines.setdefault(key, Counter())[line] += count
        for key in {(f, os.path.basename(p)) for f, p, _ in frames}:
            self.total[key] += count

    def add_dump(self, threads: list[tuple[int, str, bool, bool, list[Frame]]]) -> None:
        """One py-spy dump: [(tid, name, active, owns_gil, frames outermost first)]."""
        self.dumps += 1
        if any(gil for _, _, _, gil, _ in threads):
            self.dumps_gil += 1
        for tid, name, active, gil, frames in threads:
            th = self.threads.setdefault(tid, ThreadTally(name=name))
            th.name = th.name or name
            th.dumps += 1
            th.dump_gil += int(gil)
            if not active and classify(frames) is None:
                th.dump_idle_unknown += 1

    def functions(self, limit: int = 20) -> list[FunctionShare]:
        """Top functions by own share of the running samples (idle waits are reported per thread)."""
        base = self.running or 1
        out: list[FunctionShare] = []
        for key, own in self.own.most_common(limit):
            line = self.own_lines[key].most_common(1)[0][0]
            out.append(FunctionShare(name=f"{key[0]} ({key[1]}:{line})", own_pct=round(100.0 * own / base, 2),
                                     total_pct=round(100.0 * self.total[key] / base, 2)))
        return out

    def thread_states(self) -> list[ThreadState]:
        out: list[ThreadState] = []
        for tid, th in self.threads.items():
            n = th.samples or 1
            waits = {k: round(100.0 * v / n, 2) for k, v in th.waits.items()}
            running = 100.0 * th.running / n if th.samples else 0.0
            if th.dumps:
                # an idle thread in an unrecognised place looks like running code in a record: the dumps know
                other = 100.0 * th.dump_idle_unknown / th.dumps
                if other > 0:
                    moved = min(other, running)
                    running -= moved
                    waits["other"] = round(waits.get("other", 0.0) + moved, 2)
            top = th.wait_frames.most_common(1)
            out.append(ThreadState(
                tid=tid, name=th.name, samples=th.samples, running_pct=round(running, 2),
                gil_pct=round(100.0 * th.dump_gil / th.dumps, 2) if th.dumps else None,
                waits=waits, top_wait=top[0][0] if top else "",
            ))
        out.sort(key=lambda t: (-t.running_pct, -t.samples))
        return out

    def folded_stacks(self, limit: int = MAX_FOLDED) -> tuple[list[str], list[FoldedStack]]:
        """The busiest stacks as (frame names, stacks indexing them); the rest summed as one OTHER_STACKS."""
        names: dict[str, int] = {}
        out: list[FoldedStack] = []
        ranked = self.folded.most_common()
        for (frames, state), count in ranked[:limit]:
            out.append(FoldedStack(frames=[names.setdefault(n, len(names)) for n in frames], count=count,
                                   state=state))
        rest = sum(count for _, count in ranked[limit:])
        if rest:
            out.append(FoldedStack(frames=[names.setdefault(OTHER_STACKS, len(names))], count=rest, state="other"))
        return list(names), out

    def gil_pct(self) -> float | None:
        return round(100.0 * self.dumps_gil / self.dumps, 2) if self.dumps else None


_FRAME = re.compile(r"^(.*) \((.*):(\d+)\)$")
_THREAD = re.compile(r"^thread \((0x[0-9A-Fa-f]+|\d+)\)(?::\s*(.*))?$")


def parse_raw_line(line: str) -> tuple[int, str, list[Frame], int] | None:
    """One line of `py-spy record --format raw --threads --full-filenames`:
    '[process P:"cmd";]thread (TID): NAME;func (path:line);... COUNT' -> (tid, name, frames, count)."""
    stack, _, count_s = line.rstrip("\n").rpartition(" ")
    if not stack or not count_s.isdigit():
        return None
    tid = 0
    name = ""
    frames: list[Frame] = []
    for part in stack.split(";"):
        m = _THREAD.match(part)
        if m:
            tid = int(m.group(1), 0)
            name = m.group(2) or ""
            continue
        if part.startswith("process "):
            continue
        fm = _FRAME.match(part)
        if fm:
            frames.append((fm.group(1), fm.group(2), int(fm.group(3))))
        else:
            frames.append((part, "", 0))
    return tid, name, frames, int(count_s)
