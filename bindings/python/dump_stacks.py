#!/usr/bin/env python3
"""Prints every thread's Python stack of a running process, or of a core file of one,
from Python, with ctypes.

    usage: dump_stacks.py PID | --core CORE

The ctypes twin of examples/dump_stacks.c; see pydebug_ctypes.py for how the library is
found (LD_LIBRARY_PATH, the loader cache, or $PYDEBUG_LIBRARY).
"""
import sys

import pydebug_ctypes as pydebug


def main(argv):
    if len(argv) == 3 and argv[1] == "--core":
        open_process = lambda: pydebug.Process.open_core(argv[2])
    elif len(argv) == 2 and argv[1].isdigit():
        open_process = lambda: pydebug.Process.attach(int(argv[1]))
    else:
        sys.stderr.write("usage: %s PID | --core CORE\n" % argv[0])
        return 2
    try:
        with open_process() as process:
            threads = process.stacks()
            print("libpydebug %s" % pydebug.version())
            print("Python %s" % process.python_version)
    except pydebug.PydebugError as e:
        sys.stderr.write("dump_stacks: %s\n" % e)
        return 1
    # Everything below is plain Python data: the process and the capture are already closed.
    for thread in threads:
        print("Thread %d (%s):" % (thread.ident, thread.name or "unnamed"))
        for frame in thread.frames:
            print("  %s (%s:%d)" % (frame.function, frame.filename,
                                    -1 if frame.line is None else frame.line))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
