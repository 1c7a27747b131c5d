# On-demand dumps: ours on SIGUSR1 (PYDEBUG_DUMP_SIGNAL), faulthandler's on
# SIGUSR2, both fired from the same line of the same function.
import faulthandler
import os
import signal
import sys
import threading
import crashlib

crashlib.park_threads(3)
fh = open(sys.argv[1], "w")
faulthandler.register(signal.SIGUSR2, file=fh, all_threads=True)


def fire():
    for sig in (signal.SIGUSR1, signal.SIGUSR2):
        signal.pthread_kill(threading.main_thread().ident, sig)


fire()
fh.flush()
print("alive after dumps")
