# The watchdog: ours (API) and faulthandler's dump_traceback_later, repeating,
# while every thread is parked; then both are cancelled.
import ctypes
import faulthandler
import os
import sys
import time
import crashlib

mode = sys.argv[1]
ours_path, theirs_path = sys.argv[2], sys.argv[3]
crashlib.park_threads(2)
lib = crashlib.lib()
lib.pydbg_faultdump_later.argtypes = [ctypes.c_double, ctypes.c_int, ctypes.c_uint32]
REPEAT, EXIT = 1 << 2, 1 << 3
ours = os.open(ours_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
theirs = open(theirs_path, "w")


def wait_here(seconds):
    time.sleep(seconds)


if mode == "repeat":
    assert lib.pydbg_faultdump_later(0.25, ours, REPEAT) == 0
    faulthandler.dump_traceback_later(0.25, repeat=True, file=theirs)
    wait_here(0.9)
    assert lib.pydbg_faultdump_cancel_later() == 0
    faulthandler.cancel_dump_traceback_later()
    size = os.fstat(ours).st_size
    wait_here(0.6)
    assert os.fstat(ours).st_size == size, "dumped after cancel"
    print("cancelled")
elif mode == "exit":
    assert lib.pydbg_faultdump_later(0.2, ours, EXIT) == 0
    wait_here(5)
    print("not reached")
