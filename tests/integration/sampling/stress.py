# -*- coding: utf-8 -*-
"""Sampling stress target: stacks that never stop changing.

- a raw thread (_thread, so its outermost frame is recursion_main) recursing through
  descend() up and down between depth 0 and --depth, doing a little work in leaf() at
  the bottom of every descent;
- a spawner thread that creates and joins short-lived threading.Thread workers all
  the time (each runs churn_work() and exits);
- the main thread waiting.

Once everything runs it writes, atomically, a line file the C test reads:
    pid <pid>
    recursion <ident of the recursion thread>
    function <name> <first line> <last line>     (one per function of this file)
    callsite <caller> <callee> <line>            (the only line a caller can be at
                                                  while its callee runs, recursion thread)
    end
Usage: python stress.py OUT.txt [--depth N] [--lifetime S]
"""
import os
import signal
import sys
import threading
import time

try:
    import _thread as thread_mod
except ImportError:  # 2.7
    import thread as thread_mod

STOP = []


def leaf(n):
    total = 0
    for i in range(n):
        total += i * i
    return total


def descend(n):
    if n > 0:
        return descend(n - 1) + 1
    return leaf(50)


def recursion_main(depth, started):
    started.append(thread_mod.get_ident())
    d = 1
    step = 7
    while not STOP:
        descend(d)
        d += step
        if d >= depth or d <= 1:
            step = -step
            d = max(1, min(d, depth))


def churn_work(n):
    return leaf(n) + len(str(n))


def spawner():
    i = 0
    while not STOP:
        batch = []
        for _ in range(4):
            t = threading.Thread(target=churn_work, args=(200 + i % 300,))
            t.daemon = True
            t.start()
            batch.append(t)
            i += 1
        for t in batch:
            t.join()


def function_lines():
    out = []
    for f in (leaf, descend, recursion_main, churn_work, spawner, main):
        code = f.__code__
        last = code.co_firstlineno
        if hasattr(code, "co_lines"):
            for _, _, line in code.co_lines():
                if line is not None and line > last:
                    last = line
        else:
            # co_lnotab: (byte increment, line increment) pairs
            tab = bytearray(code.co_lnotab)
            line = code.co_firstlineno
            for k in range(1, len(tab), 2):
                inc = tab[k]
                line += inc - 256 if inc >= 128 else inc
                last = max(last, line)
        out.append((f.__name__, code.co_firstlineno, last))
    with open(os.path.abspath(__file__)) as f:
        out.append(("<module>", 1, len(f.readlines())))
    return out


def call_sites():
    """The line of each call in the recursion thread, found in this file's text."""
    calls = (("recursion_main", "descend", "        descend(d)\n"),
             ("descend", "descend", "        return descend(n - 1) + 1\n"),
             ("descend", "leaf", "    return leaf(50)\n"))
    with open(os.path.abspath(__file__)) as f:
        text = f.readlines()
    return [(caller, callee, text.index(source) + 1) for caller, callee, source in calls]


def main():
    out = sys.argv[1]
    depth = 300
    lifetime = 120
    args = sys.argv[2:]
    while args:
        if args[0] == "--depth":
            depth = int(args[1])
        elif args[0] == "--lifetime":
            lifetime = int(args[1])
        args = args[2:]
    signal.signal(signal.SIGALRM, signal.SIG_DFL)
    signal.alarm(lifetime)
    sys.setrecursionlimit(depth + 1000)
    started = []
    thread_mod.start_new_thread(recursion_main, (depth, started))
    s = threading.Thread(target=spawner, name="spawner")
    s.daemon = True
    s.start()
    while not started:
        time.sleep(0.01)
    lines = ["pid\t%d" % os.getpid(), "recursion\t%d" % started[0]]
    for name, first, last in function_lines():
        lines.append("function\t%s\t%d\t%d" % (name, first, last))
    for caller, callee, line in call_sites():
        lines.append("callsite\t%s\t%s\t%d" % (caller, callee, line))
    lines.append("end")
    tmp = out + ".tmp"
    with open(tmp, "w") as f:
        f.write("\n".join(lines) + "\n")
    os.rename(tmp, out)
    while True:
        time.sleep(1)


if __name__ == "__main__":
    main()
