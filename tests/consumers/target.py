# -*- coding: utf-8 -*-
"""The process the consumer programs attach to (CPython 2.7 and 3.6+).

    python target.py TRUTH.json [--lifetime S]

Starts two named threads and an unnamed raw thread, each blocked for ever at the end of a
chain of calls whose function names are unique to it, then blocks its main thread the
same way. Before blocking it writes what the interpreter itself says about every thread,
atomically, to TRUTH.json:

    {"pid": 123, "python_version": "3.11.7",
     "threads": [{"ident": 1403..., "name": "MainThread",
                  "frames": [{"function": "main_blocks", "line": 72}, ...]}]}

`ident` is threading.get_ident() as returned in that thread, frames are innermost first
(sys._current_frames() for the blocked threads; sys._getframe() for the main thread, whose
innermost line is that of the call that blocks). The target kills itself after --lifetime
seconds even if the test that started it died without doing so.

The same record is also written, before TRUTH.json, to TRUTH.json.txt in a line format
that needs no JSON parser (for the Rust binding's tests, which use std only):

    pid 123
    python 3.11.7
    growth ConsumerGrowth 1000
    thread<TAB>IDENT[<TAB>NAME]                       (no NAME: the thread has none)
    frame<TAB>FUNCTION<TAB>LINE<TAB>FIRST_LINE<TAB>FILE   (innermost first)

Growth, for memory snapshot tests: on SIGUSR1 the target creates GROWTH_STEP more
instances of ConsumerGrowth and keeps them, then writes, atomically, TRUTH.json.grown:
`SEQUENCE COUNT`, where SEQUENCE counts the signals handled and COUNT is the number of
ConsumerGrowth objects gc.get_objects() sees. The handler runs in the main thread, which
Python 3 interrupts in its blocking acquire(); Python 2.7 cannot, and never grows.
"""
import gc
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

BLOCK = thread_mod.allocate_lock()
BLOCK.acquire()

_ready = {}
_ready_lock = thread_mod.allocate_lock()


def _announce():
    with _ready_lock:
        _ready[thread_mod.get_ident()] = True


def alpha_blocks():
    _announce()
    BLOCK.acquire()


def alpha_middle():
    alpha_blocks()


def alpha_outer():
    alpha_middle()


def beta_blocks():
    _announce()
    BLOCK.acquire()


def beta_outer(depth):
    if depth:
        return beta_outer(depth - 1)
    beta_blocks()


def raw_blocks():
    _announce()
    BLOCK.acquire()


def raw_outer():
    raw_blocks()


def frames_of(frame):
    out = []
    while frame is not None and len(out) < 10000:
        code = frame.f_code
        out.append({"function": code.co_name, "line": frame.f_lineno,
                    "first_line": code.co_firstlineno, "file": code.co_filename})
        frame = frame.f_back
    return out


GROWTH_STEP = 1000
_grown = []
_growth_signals = [0]


class ConsumerGrowth(object):
    """Only ever instantiated by grow(): a snapshot diff must see exactly these."""

    def __init__(self, n):
        self.n = n


def grow(signum, frame):
    _grown.extend(ConsumerGrowth(i) for i in range(GROWTH_STEP))
    _growth_signals[0] += 1
    count = sum(1 for o in gc.get_objects() if type(o) is ConsumerGrowth)
    write_atomic_text(sys.argv[1] + ".grown", "%d %d\n" % (_growth_signals[0], count))


def main_blocks(path):
    # The line of the blocking call is this frame's line at the time it blocks.
    here = sys._getframe()
    truth = record(frames_of(here), here.f_lineno + 3)
    write_atomic_text(path + ".txt", truth_text(truth))
    write_atomic(path, truth)
    BLOCK.acquire()


def main_outer(path):
    main_blocks(path)


def record(main_frames, main_line):
    main_frames[0]["line"] = main_line
    me = thread_mod.get_ident()
    names = dict((ident, t.name) for ident, t in threading._active.items())
    threads = [{"ident": me, "name": names.get(me), "frames": main_frames}]
    current = sys._current_frames()
    for ident in _ready:
        threads.append({"ident": ident, "name": names.get(ident),
                        "frames": frames_of(current.get(ident))})
    return {"pid": os.getpid(), "python_version": platform.python_version(),
            "threads": threads}


def write_atomic(path, data):
    tmp = "%s.tmp" % path
    with open(tmp, "w") as f:
        json.dump(data, f)
    os.rename(tmp, path)


def write_atomic_text(path, text):
    tmp = "%s.tmp" % path
    with open(tmp, "w") as f:
        f.write(text)
    os.rename(tmp, path)


def truth_text(truth):
    lines = ["pid %d" % truth["pid"], "python %s" % truth["python_version"],
             "growth %s %d" % (ConsumerGrowth.__name__, GROWTH_STEP)]
    for thread in truth["threads"]:
        head = "thread\t%d" % thread["ident"]
        if thread["name"] is not None:
            head += "\t%s" % thread["name"]
        lines.append(head)
        for f in thread["frames"]:
            lines.append("frame\t%s\t%d\t%d\t%s" % (f["function"], f["line"],
                                                       f["first_line"], f["file"]))
    return "\n".join(lines) + "\n"


def main():
    path = sys.argv[1]
    lifetime = 120
    if len(sys.argv) > 3 and sys.argv[2] == "--lifetime":
        lifetime = int(sys.argv[3])
    # SIGALRM's default action ends the process even while every thread is blocked in C.
    signal.signal(signal.SIGALRM, signal.SIG_DFL)
    signal.alarm(lifetime)
    signal.signal(signal.SIGUSR1, grow)
    # A signal sent to the process goes to any thread that does not block it, and only
    # the main thread runs Python handlers: if another thread took SIGUSR1, the main
    # thread would sleep on in acquire() and never grow. The threads inherit this mask.
    sigmask = getattr(signal, "pthread_sigmask", None)
    if sigmask:
        sigmask(signal.SIG_BLOCK, [signal.SIGUSR1])

    workers = [threading.Thread(target=alpha_outer, name="alpha-worker"),
               threading.Thread(target=beta_outer, args=(3,), name="beta-worker")]
    for t in workers:
        t.daemon = True
        t.start()
    thread_mod.start_new_thread(raw_outer, ())
    if sigmask:
        sigmask(signal.SIG_UNBLOCK, [signal.SIGUSR1])
    deadline = time.time() + 60
    while len(_ready) < 3:
        if time.time() > deadline:
            sys.exit("target: the threads did not start")
        time.sleep(0.01)
    # _announce() runs just before acquire(): wait until the stacks have stopped moving.
    for _ in range(1000):
        current = sys._current_frames()
        if all(current.get(i) is not None and current[i].f_code.co_name.endswith("_blocks")
               and current[i].f_lineno == current[i].f_code.co_firstlineno + 2 for i in _ready):
            break
        time.sleep(0.01)
    time.sleep(0.05)
    main_outer(path)


if __name__ == "__main__":
    main()
