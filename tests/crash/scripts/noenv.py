# LD_PRELOAD without the variables: the library is loaded but does nothing.
import ctypes
import signal
import crashlib

FATAL = {signal.SIGSEGV, signal.SIGFPE, signal.SIGABRT, signal.SIGBUS, signal.SIGILL}
with open("/proc/self/maps") as f:
    assert "libpydebug" in f.read(), "libpydebug.so is not loaded"
assert not (crashlib.caught_signals() & (FATAL | {signal.SIGUSR1})), crashlib.caught_signals()
lib = ctypes.CDLL(None)
print("no handler")
crashlib.segfault()
