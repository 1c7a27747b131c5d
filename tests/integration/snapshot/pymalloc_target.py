"""Target of run_pymalloc.py: grows the small-object heap, then prints pymalloc's own
statistics (sys._debugmallocstats(), to stderr) and blocks without allocating, so a
paused snapshot taken now sees the allocator exactly as the statistics describe it.

Protocol: the target writes "R" to stdout once the statistics are on stderr and
sleeps until SIGUSR1, whose handler raises to end the sleep: time.sleep() allocates
nothing before it blocks (a read() allocates its result first, and 3.6's
signal.sigwait() keeps an iterator over its argument alive while it waits). The driver snapshots, then writes one byte
to stdin ("n": grow and print again, "q": quit) and sends SIGUSR1."""
import os
import signal
import sys
import time

keep = []


def grow(n):
    # Strings, small lists and tuples of several size classes: many pools and arenas.
    keep.extend([str(i) * (1 + i % 7) for i in range(n)])
    keep.extend([[i] * (i % 5) for i in range(n // 4)])
    keep.extend([(i, str(i)) for i in range(n // 4)])


class Wake(Exception):
    pass


def on_signal(signum, frame):
    raise Wake()


stats = sys._debugmallocstats
write = os.write
sleep = time.sleep
out = sys.stdout.fileno()
inp = sys.stdin.fileno()
done = b"R"
signal.signal(signal.SIGUSR1, on_signal)
size = 50000
while True:
    grow(size)
    size *= 2
    # Everything from here to the blocking wait allocates nothing that outlives
    # the call that made it: what stats() counts is what the snapshot sees.
    stats()
    try:
        # In the try block, so that a signal arriving before the sleep ends it too.
        write(out, done)
        sleep(1e6)
    except Wake:
        pass
    if os.read(inp, 1) != b"n":
        break
