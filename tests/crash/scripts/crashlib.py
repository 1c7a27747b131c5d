"""Helpers shared by the crash scenarios: threads parked in known stacks, and
the libpydebug API through ctypes. Runs on every CPython from 3.6."""
import ctypes
import os
import signal
import threading
import time

_events = []


def _park_leaf(event):
    event.wait()


def _park_middle(event):
    _park_leaf(event)


def park_threads(count, depth_of=lambda i: i % 3):
    """Starts `count` threads, thread i parked `depth_of(i)` extra calls deep."""
    started = []
    for i in range(count):
        event = threading.Event()
        _events.append(event)
        ready = threading.Event()

        def run(n=depth_of(i), event=event, ready=ready):
            def nest(k):
                if k == 0:
                    ready.set()
                    _park_middle(event)
                else:
                    nest(k - 1)
            nest(n)
        t = threading.Thread(target=run, daemon=True)
        t.start()
        started.append((t, ready))
    for t, ready in started:
        ready.wait()
    time.sleep(0.05)


def lib():
    return ctypes.CDLL(os.environ["PYDBG_LIB"])


def install(flags=0, fd=2):
    class Options(ctypes.Structure):
        _fields_ = [("struct_size", ctypes.c_uint32), ("flags", ctypes.c_uint32),
                    ("fd", ctypes.c_int), ("altstack_size", ctypes.c_uint32)]
    options = Options(ctypes.sizeof(Options), flags, fd, 0)
    rc = lib().pydbg_faultdump_install(ctypes.byref(options))
    assert rc == 0, rc


def caught_signals():
    """The signals this process catches, from /proc/self/status (SigCgt)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("SigCgt:"):
                mask = int(line.split()[1], 16)
                return {s for s in range(1, 65) if mask >> (s - 1) & 1}
    return set()


def segfault():
    ctypes.string_at(0)
