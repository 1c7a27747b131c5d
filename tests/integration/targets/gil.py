# -*- coding: utf-8 -*-
"""Scenario "gil": one thread spins in pure Python (so it holds the GIL nearly all the
time) while the main thread and two workers are blocked with the GIL released. The
spinner's innermost line moves within spin(); everything else is exact.

Usage: python gil.py OUT.json [--lines OUT.txt] [--lifetime S]
"""
import inspect
import os
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pydbg_gt  # noqa: E402

BLOCK = pydbg_gt.BLOCK


def spin():
    lines, first = inspect.getsourcelines(spin)
    # The loop is the last two lines: "while True:" and "n += 1".
    pydbg_gt.ready(volatile=(first + len(lines) - 2, first + len(lines) - 1))
    n = 0
    while True:
        n += 1


def blocked_worker():
    pydbg_gt.ready()
    BLOCK.acquire()


def main():
    args = pydbg_gt.parse_args()
    threads = [threading.Thread(target=spin, name="spinner")]
    threads += [threading.Thread(target=blocked_worker, name="blocked %d" % i) for i in range(2)]
    for t in threads:
        t.daemon = True
        t.start()
    pydbg_gt.start_recorder(args, "gil", len(threads) + 1)
    pydbg_gt.ready()
    BLOCK.acquire()


if __name__ == "__main__":
    main()
