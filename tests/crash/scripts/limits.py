# faulthandler's limits and escapes: 101+ threads, frames deeper than 100, a
# name longer than 500 characters, non-ASCII file and function names. The
# crash happens in the newest thread, the first one dumped.
import crashlib

crashlib.park_threads(101)

source = (
    "def f%s(k):\n"
    "    if k == 0:\n"
    "        fünf_δ()\n"
    "    else:\n"
    "        f%s(k - 1)\n"
    "def fünf_δ():\n"
    "    crash()\n" % ("x" * 600, "x" * 600))
namespace = {"crash": crashlib.segfault}
exec(compile(source, "tëst_δ_\U0001F600_%s.py" % ("p" * 520), "exec"), namespace)


def recurse(n):
    if n == 0:
        namespace["f" + "x" * 600](3)
    recurse(n - 1)


# The newest thread is dumped first: crash in a new one so that it is shown.
import threading
t = threading.Thread(target=recurse, args=(150,))
t.start()
t.join()
