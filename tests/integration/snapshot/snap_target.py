# -*- coding: utf-8 -*-
"""Snapshot target: grows known types by known amounts and records its own
gc-based census around each growth (CPython 2.7 and 3.6+).

Protocol, on stdin/stdout:
  target prints "ready" after each census and waits for a byte;
  the driver takes a snapshot, then writes a line; after the last phase the
  target writes the censuses (JSON) to the file given as argv[1] and prints "done".

The censuses are the interpreter's own view:
- "tracked": for every object gc.get_objects() returns, by type name as
  tp_name spells it, the count and the sum of sys.getsizeof();
- "reached": the untracked objects reached from tracked ones through
  gc.get_referents() (following untracked containers in turn), the same way.
Automatic collection is off so that nothing moves between a census and the
snapshot that follows it; the census results are kept in dicts of str -> int,
which the GC never tracks, so they do not disturb the next census.
"""
import gc
import json
import os
import signal
import sys

gc.disable()
# 3.12 freezes the objects made at start-up into the permanent generation,
# which gc.get_objects() does not list but a snapshot counts: give them back.
if hasattr(gc, "unfreeze"):
    gc.unfreeze()
signal.signal(signal.SIGALRM, signal.SIG_DFL)
if hasattr(signal, "alarm"):
    signal.alarm(300)

HEAPTYPE = 1 << 9
BUILTINS = ("builtins", "__builtin__")
SCALE = int(os.environ.get("SNAP_SCALE", "1"))


try:
    import ctypes
    # PyTypeObject: ob_refcnt, ob_type, ob_size, then tp_name (64-bit builds).
    _TP_NAME = ctypes.sizeof(ctypes.c_void_p) * 3
except ImportError:  # an interpreter built without ctypes: spell it from Python
    ctypes = None

NAMES = {}


def tp_name(t):
    """The type's tp_name, read from the type object itself when ctypes allows."""
    name = NAMES.get(id(t))
    if name is None:
        name = NAMES[id(t)] = _tp_name(t)
    return name


def _tp_name(t):
    if ctypes is not None:
        raw = ctypes.c_char_p.from_address(id(t) + _TP_NAME).value
        return raw.decode("utf-8", "replace") if not isinstance(raw, str) else raw
    if t.__flags__ & HEAPTYPE:
        return t.__name__
    module = getattr(t, "__module__", None)
    if not module or module in BUILTINS:
        return t.__name__
    return module + "." + t.__name__


def census(tracked_counts, tracked_sizes, reached_counts, reached_sizes):
    objs = gc.get_objects()
    seen = set(id(o) for o in objs)
    seen.add(id(objs))
    seen.add(id(seen))
    for o in objs:
        # Up to 3.10 the frames of this very census are objects on the GC
        # lists; they are gone when the snapshot is taken.
        if type(o) is FRAME and o.f_code in OWN_CODE:
            seen.discard(id(o))
            continue
        name = tp_name(type(o))
        tracked_counts[name] = tracked_counts.get(name, 0) + 1
        tracked_sizes[name] = tracked_sizes.get(name, 0) + sys.getsizeof(o)
    stack = list(objs)
    seen.add(id(stack))
    while stack:
        o = stack.pop()
        refs = gc.get_referents(o)
        if type(o) is dict:
            # dict_traverse skips the keys of str-keyed dicts (a str cannot
            # be part of a cycle); they are objects all the same.
            refs = refs + list(o)
        for r in refs:
            if id(r) in seen or gc.is_tracked(r):
                continue
            seen.add(id(r))
            name = tp_name(type(r))
            reached_counts[name] = reached_counts.get(name, 0) + 1
            reached_sizes[name] = reached_sizes.get(name, 0) + sys.getsizeof(r)
            stack.append(r)
    del objs, stack, seen, o


class Leaky(object):
    def __init__(self, i):
        self.index = i
        self.label = "leaky-%d" % i
        self.payload = [i, i + 1]


class Slotted(object):
    __slots__ = ("a", "b")

    def __init__(self, i):
        self.a = i * 1000
        self.b = float(i)


KEEP = []
FRAME = type(sys._getframe())
# The arguments of the blocking read, made once: a call through *READ_ARGS
# passes this tuple on instead of building one that the snapshot would see.
READ_ARGS = (0, 1)


def grow(phase):
    n = 1000 * SCALE
    if phase == 1:
        for i in range(n):
            KEEP.append(Leaky(i))
        for i in range(n // 2):
            KEEP.append(Slotted(i + 1000000))
        for i in range(n // 4):
            KEEP.append(dict(("k%d" % j, "v%d-%d" % (i, j)) for j in range(i % 12)))
            KEEP.append(set(range(i, i + (i % 20))))
            KEEP.append(bytearray(i % 300))
            KEEP.append((i, [i], "t%d" % i))
        big = []
        for i in range(5 * n):
            big.append(b"bytes-%d" % i if sys.version_info[0] >= 3 else "bytes-%d" % i)
        KEEP.append(big)


def emit(fd, record):
    line = json.dumps(record) + "\n"
    os.write(fd, line.encode("utf-8") if not isinstance(line, bytes) else line)


def record(fd, phase):
    """Takes a census and writes it out at once, as one JSON line, so that no
    object of it is left behind for the next census or snapshot to see."""
    tc, ts, rc, rs = {}, {}, {}, {}
    census(tc, ts, rc, rs)
    emit(fd, {"phase": phase, "tracked_counts": tc, "tracked_sizes": ts,
              "reached_counts": rc, "reached_sizes": rs})


OWN_CODE = (census.__code__, record.__code__)


def main():
    out_path = sys.argv[1]
    fd = os.open(out_path + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    # Warm up everything record() uses, so that its first real run creates
    # no lasting objects (caches, interned names) between two censuses.
    census({}, {}, {}, {})
    emit(fd, {"phase": -1, "tracked_counts": {"a": 1}})
    for phase in range(2):
        grow(phase)
        for t in [type(o) for o in gc.get_objects()]:
            tp_name(t)
        record(fd, phase)
        # os.write and a blocking os.read(): unlike sys.stdin/sys.stdout they
        # hold no buffer objects while the snapshot is taken.
        os.write(1, b"ready\n")
        os.read(*READ_ARGS)
    emit(fd, {"phase": "end", "pid": os.getpid(), "version": sys.version.split()[0]})
    os.close(fd)
    os.rename(out_path + ".tmp", out_path)
    os.write(1, b"done\n")


main()
