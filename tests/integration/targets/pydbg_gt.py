# -*- coding: utf-8 -*-
"""Ground truth for libpydebug integration targets (CPython 2.7 and 3.6+).

A target script imports this module from its main thread, starts threads that
each call ready() and then block for ever on a known line, calls
start_recorder(), and blocks its main thread too. The recorder (a raw thread,
so that it leaves no threading.Thread behind) waits until every thread is
ready and every stack has stopped moving, reads the stacks with
sys._current_frames() -- the interpreter's own view of each blocked thread,
so the line and PEP 657 position are those of the call that blocks -- writes
them out atomically and exits.

Output: a JSON file (read by run_integration.py) and optionally a line-based
file for the C test, where each record is one line of tab-separated fields:
    pid <pid> / version <x.y.z> / hexversion <n> / recorder <ident>
    thread <ident> <native_id> <is_main> <frame count> <name>
    frame <line> <end_line> <column> <end_column> <lasti> <function> <qualname> <filename>
    end
An empty field is None. The JSON file is renamed into place last.

Targets never live for ever: an alarm kills them after --lifetime seconds
even if whoever started them died without cleaning up.
"""
import argparse
import json
import os
import platform
import signal
import sys
import threading
import time

try:
    import _thread as thread_mod
except ImportError:  # 2.7
    import thread as thread_mod

PY3 = sys.version_info[0] >= 3

# Imported from the main thread by every target, so this is the main thread.
MAIN_IDENT = thread_mod.get_ident()

# Held for ever: BLOCK.acquire() is a C call that never returns and releases the GIL.
BLOCK = thread_mod.allocate_lock()
BLOCK.acquire()

_ready_lock = thread_mod.allocate_lock()
_ready = {}  # ident -> native thread id (or None)
_volatile = {}  # ident -> (first line, last line) of the code a running thread loops in

READY_TIMEOUT = 60.0
STABLE_SNAPSHOTS = 4
SNAPSHOT_INTERVAL = 0.05


def gettid():
    """The Linux TID of the calling thread, from the interpreter if it knows, else the kernel."""
    get_native_id = getattr(thread_mod, "get_native_id", None)
    if get_native_id is not None:
        return get_native_id()
    try:
        import ctypes
        return int(ctypes.CDLL(None, use_errno=True).syscall(186))  # SYS_gettid, x86_64
    except Exception:
        return None


def ready(volatile=None):
    """Called by each thread just before the call it blocks in.

    A thread that keeps running instead passes volatile=(first, last), the lines its
    innermost frame moves between; its stack is recorded but not waited on to settle.
    """
    tid = gettid()
    with _ready_lock:
        _ready[thread_mod.get_ident()] = tid
        if volatile is not None:
            _volatile[thread_mod.get_ident()] = list(volatile)


def text(value):
    if value is None:
        return None
    if not PY3 and isinstance(value, str):
        return value.decode("utf-8", "replace")
    return value


def parse_args(argv=None, extra=None):
    p = argparse.ArgumentParser()
    p.add_argument("out", help="ground truth JSON file to write")
    p.add_argument("--lines", help="also write the line-based ground truth here")
    p.add_argument("--lifetime", type=float, default=300.0,
                   help="seconds after which the target kills itself (SIGALRM)")
    if extra is not None:
        extra(p)
    args = p.parse_args(argv)
    if args.lifetime > 0:
        # SIGALRM has no Python handler, so its default action ends the process
        # even while every thread is blocked in C.
        signal.signal(signal.SIGALRM, signal.SIG_DFL)
        signal.alarm(int(args.lifetime) + 1)
    return args


def _stack_key(frame):
    key = []
    depth = 0
    while frame is not None and depth < 1000000:
        key.append((id(frame.f_code), frame.f_lasti, frame.f_lineno))
        frame = frame.f_back
        depth += 1
    return tuple(key)


_positions_cache = {}


def _positions(code):
    pos = _positions_cache.get(id(code))
    if pos is None:
        pos = list(code.co_positions())
        _positions_cache[id(code)] = pos
    return pos


def _frame_info(frame):
    code = frame.f_code
    info = {
        "function": text(code.co_name),
        "qualname": text(getattr(code, "co_qualname", None)),
        "filename": text(code.co_filename),
        "line": frame.f_lineno,
        "end_line": None,
        "column": None,
        "end_column": None,
        "lasti": frame.f_lasti,
    }
    if hasattr(code, "co_positions"):
        # f_lasti is in bytes; co_positions() has one entry per 2-byte code unit.
        pos = _positions(code)
        index = frame.f_lasti // 2
        if 0 <= index < len(pos):
            line, end_line, column, end_column = pos[index]
            info["position_line"] = line
            info["end_line"] = end_line
            info["column"] = column
            info["end_column"] = end_column
    return info


def _thread_names():
    names = {}
    for ident, t in list(threading._active.items()):
        names[ident] = text(t.name)
    return names


def _write_atomic(path, data):
    tmp = "%s.tmp.%d" % (path, os.getpid())
    with open(tmp, "wb") as f:
        f.write(data)
    os.rename(tmp, path)


def _lines_file(truth):
    def field(v):
        if v is None:
            return ""
        if isinstance(v, bool):
            return "1" if v else "0"
        if PY3 or not isinstance(v, unicode):  # noqa: F821 (2.7 only)
            v = str(v)
        return v.replace("\t", " ").replace("\n", " ")

    def line(*fields):
        return "\t".join(field(f) for f in fields) + "\n"

    out = [line("pid", truth["pid"]), line("version", truth["python_version"]),
           line("hexversion", truth["hexversion"]), line("recorder", truth["recorder_ident"])]
    for t in truth["threads"]:
        out.append(line("thread", t["thread_id"], t["native_id"], t["is_main"],
                        len(t["frames"]), t["name"]))
        for fr in t["frames"]:
            out.append(line("frame", fr["line"], fr["end_line"], fr["column"], fr["end_column"],
                            fr["lasti"], fr["function"], fr["qualname"], fr["filename"]))
    out.append("end\n")
    return u"".join(text(s) for s in out).encode("utf-8")


def _write_error(args, message):
    data = {"error": message, "pid": os.getpid()}
    _write_atomic(args.out, json.dumps(data).encode("utf-8"))


def _record(args, scenario, expected, extra):
    me = thread_mod.get_ident()
    deadline = time.time() + READY_TIMEOUT
    while True:
        with _ready_lock:
            count = len(_ready)
        if count >= expected:
            break
        if time.time() > deadline:
            _write_error(args, "only %d of %d threads became ready" % (count, expected))
            return
        time.sleep(0.01)

    # Ready is said just before the blocking call; wait until no stack moves any more.
    previous = None
    stable = 0
    while True:
        frames = sys._current_frames()
        frames.pop(me, None)
        key = dict((ident, _stack_key(f) if ident not in _volatile else None)
                   for ident, f in frames.items())
        with _ready_lock:
            ready_idents = set(_ready)
        if key == previous and set(key) == ready_idents:
            stable += 1
        else:
            stable = 0
        previous = key
        if stable >= STABLE_SNAPSHOTS:
            break
        if time.time() > deadline:
            _write_error(args, "stacks did not settle")
            return
        time.sleep(SNAPSHOT_INTERVAL)

    names = _thread_names()
    threads = []
    for ident, frame in frames.items():
        stack = []
        while frame is not None:
            stack.append(_frame_info(frame))
            frame = frame.f_back
        threads.append({
            "thread_id": ident,
            "native_id": _ready.get(ident),
            "name": names.get(ident),
            "is_main": ident == MAIN_IDENT,
            "frames": stack,
        })
        if ident in _volatile:
            threads[-1]["volatile_lines"] = _volatile[ident]
    threads.sort(key=lambda t: t["thread_id"])
    truth = {
        "scenario": scenario,
        "pid": os.getpid(),
        "python_version": platform.python_version(),
        "hexversion": sys.hexversion,
        "executable": text(sys.executable),
        "recorder_ident": me,
        "threads": threads,
    }
    if extra:
        truth.update(extra)
    if args.lines:
        _write_atomic(args.lines, _lines_file(truth))
    _write_atomic(args.out, json.dumps(truth, sort_keys=True).encode("utf-8"))


def start_recorder(args, scenario, expected, extra=None):
    """Records once `expected` threads (the main one included) have called ready()."""
    def run():
        try:
            _record(args, scenario, expected, extra)
        except BaseException as e:  # the driver must learn why, not time out
            try:
                _write_error(args, "recorder failed: %r" % (e,))
            except BaseException:
                pass
    thread_mod.start_new_thread(run, ())
