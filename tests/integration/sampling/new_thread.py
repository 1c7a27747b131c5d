"""One thread more, on request (tests/integration/sampling/test_sampling.c).

usage: new_thread.py BASE
Writes BASE.ready, waits for BASE.go, then starts a thread, which writes its own
ident to BASE.started (by then it is linked into the thread list and bound) and
blocks. Python 2.7 and 3.x.
"""
import os
import sys
import threading
import time

base = sys.argv[1]


def write(path, text):
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.rename(path + ".tmp", path)


def started():
    write(base + ".started", "%d\n" % threading.current_thread().ident)
    while True:
        time.sleep(3600)


write(base + ".ready", "")
while not os.path.exists(base + ".go"):
    time.sleep(0.01)
thread = threading.Thread(target=started)
thread.daemon = True
thread.start()
while True:
    time.sleep(3600)
