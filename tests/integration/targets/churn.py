# -*- coding: utf-8 -*-
"""Robustness target "churn": nothing stands still. Threads are started and end all
the time, recursions grow and shrink, generators come and go, the GIL changes hands
constantly. There is no exact ground truth; the driver checks that every dump ends
cleanly and that every frame it reports is a real one (a function of this file at a
line inside that function, or a standard library frame).

Writes {"pid": ..., "scenario": "churn"} to OUT.json once running.
Usage: python churn.py OUT.json [--lifetime S]
"""
import json
import os
import random
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pydbg_gt  # noqa: E402


def descend(n):
    if n > 0:
        return descend(n - 1) + 1
    return leaf_work()


def leaf_work():
    total = 0
    for value in numbers(50):
        total += value
    return total


def numbers(count):
    for i in range(count):
        yield i * 2


def short_lived(depth):
    descend(depth)


def up_and_down(seed):
    rng = random.Random(seed)
    while True:
        descend(rng.randint(0, 400))


def churn_threads():
    alive = []
    rng = random.Random(1)
    while True:
        t = threading.Thread(target=short_lived, args=(rng.randint(0, 60),))
        t.start()
        alive.append(t)
        if len(alive) > 8:
            alive.pop(0).join()


def main():
    args = pydbg_gt.parse_args()
    sys.setrecursionlimit(2000)
    for seed in (2, 3):
        t = threading.Thread(target=up_and_down, args=(seed,), name="up and down %d" % seed)
        t.daemon = True
        t.start()
    time.sleep(0.1)
    data = json.dumps({"pid": os.getpid(), "scenario": "churn"}).encode("utf-8")
    tmp = args.out + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.rename(tmp, args.out)
    churn_threads()


if __name__ == "__main__":
    main()
