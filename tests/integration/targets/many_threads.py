# -*- coding: utf-8 -*-
"""Scenario "many_threads": 20 threading.Thread workers, each blocked at the end of its
own chain of calls (thread i walks the base-4 digits of i through alpha/beta/gamma/delta,
so no two stacks are alike), a raw _thread thread that has no threading.Thread (so no
name), a daemon thread, and the main thread blocked in a C call (os.read on a pipe).

Usage: python many_threads.py OUT.json [--lines OUT.txt] [--lifetime S] [--threads N]
"""
import os
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pydbg_gt  # noqa: E402

try:
    import _thread as thread_mod
except ImportError:
    import thread as thread_mod

BLOCK = pydbg_gt.BLOCK


def dispatch(seq):
    if not seq:
        pydbg_gt.ready()
        BLOCK.acquire()
        return
    FUNCS[seq[0]](seq[1:])


def alpha(seq):
    dispatch(seq)


def beta(seq):
    value = len(seq)
    dispatch(seq[:value])


def gamma(seq):
    return dispatch(seq)


def delta(seq):
    for _ in range(1):
        dispatch(seq)


FUNCS = [alpha, beta, gamma, delta]


def sequence_for(i):
    # Threads 0-3 get one digit, 4-7 two, ...: (length, value) is unique per thread.
    length = 1 + i // 4
    digits = []
    for _ in range(length):
        digits.append(i % 4)
        i //= 4
    return digits


def raw_thread_body():
    # No threading call here: this thread must stay unknown to the threading module.
    pydbg_gt.ready()
    BLOCK.acquire()


def daemon_body():
    pydbg_gt.ready()
    BLOCK.acquire()


def main():
    args = pydbg_gt.parse_args(
        extra=lambda p: p.add_argument("--threads", type=int, default=20))
    for i in range(args.threads):
        if i % 2 == 0:
            t = threading.Thread(target=dispatch, args=(sequence_for(i),),
                                 name="worker-%02d" % i)
        else:
            t = threading.Thread(target=dispatch, args=(sequence_for(i),))
        t.start()
    thread_mod.start_new_thread(raw_thread_body, ())
    d = threading.Thread(target=daemon_body, name="the daemon")
    d.daemon = True
    d.start()
    # workers + raw + daemon + main
    pydbg_gt.start_recorder(args, "many_threads", args.threads + 3)
    r, w = os.pipe()
    pydbg_gt.ready()
    os.read(r, 1)


if __name__ == "__main__":
    main()
