# Install through the API, check the handler is there, remove it, check it is
# gone, then crash: the process must die of SIGSEGV with no dump.
import signal
import sys
import crashlib

FATAL = {signal.SIGSEGV, signal.SIGFPE, signal.SIGABRT, signal.SIGBUS, signal.SIGILL}
before = crashlib.caught_signals() & FATAL
crashlib.install()
lib = crashlib.lib()
assert lib.pydbg_faultdump_is_installed() == 1
assert crashlib.caught_signals() & FATAL == FATAL, crashlib.caught_signals()
assert lib.pydbg_faultdump_uninstall() == 0
assert lib.pydbg_faultdump_is_installed() == 0
after = crashlib.caught_signals() & FATAL
assert after == before, (before, after)
sys.stdout.write("removed\n")
sys.stdout.flush()
crashlib.segfault()
