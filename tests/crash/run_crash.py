#!/usr/bin/env python3
"""Crash tests of the faultdump feature against CPython's own faulthandler.

Every case runs in its own process. For every installed CPython (3.6+, and
Debian's static python3.11) a scenario script is crashed:

- once with CPython's faulthandler (-X faulthandler) AND our handler loaded
  with LD_PRELOAD=libpydebug.so PYDEBUG_FAULTHANDLER=1: faulthandler, enabled
  later, runs first, then re-raises into ours, so both dump the very same
  process state; the thread blocks (ids, "Current" marker, every frame line)
  must be identical;
- once with our handler alone: the same frames must come out (thread ids
  differ between processes, so they are not compared);
and the exit status must show the original signal.

Also: on-demand dumps, the watchdog (repeat, cancel, exit), handler removal,
LD_PRELOAD without the variables, chaining to a handler installed before ours,
a crash inside malloc with the allocator lock held, and the embedded example.
"""
import argparse
import concurrent.futures
import glob
import os
import re
import signal
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPTS = os.path.join(HERE, "scripts")
HEADER = re.compile(r"^(Current thread|Thread) 0x([0-9a-f]+) \(most recent call first\):$")
FRAME_LINES = ("  ...", "  <no Python frame>", "<no Python frame>")


def interpreters():
    found = []
    for path in sorted(glob.glob("/root/.pyenv/versions/3.*/bin/python")):
        version = path.split("/")[-3]
        major, minor = (int(x) for x in version.split(".")[:2])
        if (major, minor) >= (3, 6):
            found.append((version, path))
    if os.path.exists("/usr/bin/python3.11"):
        found.append(("debian-static-3.11", "/usr/bin/python3.11"))
    found.sort(key=lambda v: tuple(int(x) for x in re.findall(r"\d+", v[0])[:3]))
    return found


def parse(text):
    """The thread blocks of one dump: [current, ident, [frame lines]] and '...' markers."""
    blocks, current = [], None
    for line in text.splitlines():
        m = HEADER.match(line)
        if m:
            current = [m.group(1) == "Current thread", m.group(2), []]
            blocks.append(current)
        elif line == "Stack (most recent call first):":
            current = [True, None, []]
            blocks.append(current)
        elif current is not None and (line.startswith("  File ") or line in FRAME_LINES):
            current[2].append(line)
        elif line == "...":
            blocks.append("...")
            current = None
        elif line == "":
            continue
        else:
            current = None  # "Extension modules:", our C stack, the next dump
    return blocks


def split_dumps(text, marker):
    parts = text.split(marker)
    return [marker + p for p in parts[1:]]


def without_ids(blocks):
    return [b if b == "..." else [b[0], b[2]] for b in blocks]


class Case:
    def __init__(self, args, version, python):
        self.args, self.version, self.python = args, version, python
        self.failures = []
        self.checks = 0

    def check(self, ok, what):
        self.checks += 1
        if not ok:
            self.failures.append("%s: %s" % (self.version, what))
        return ok

    def run(self, script, *script_args, env=None, preload=True, faulthandler=False,
            timeout=60, pass_fds=()):
        e = dict(os.environ)
        for k in list(e):
            if k.startswith("PYDEBUG_") or k in ("LD_PRELOAD", "PYTHONFAULTHANDLER"):
                del e[k]
        e["PYDBG_LIB"] = self.args.lib
        e["PYTHONPATH"] = SCRIPTS
        e["PYTHONDONTWRITEBYTECODE"] = "1"
        if preload:
            e["LD_PRELOAD"] = self.args.lib
        e.update(env or {})
        cmd = [self.python] + (["-X", "faulthandler"] if faulthandler else [])
        cmd += [os.path.join(SCRIPTS, script)] + list(script_args)
        p = subprocess.run(cmd, env=e, cwd=SCRIPTS, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=timeout, pass_fds=pass_fds)
        return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode(
            "utf-8", "replace")

    def ours_file(self):
        fd, path = tempfile.mkstemp(prefix="pydbg-crash-", suffix=".txt")
        os.close(fd)
        os.unlink(path)
        return path

    def read(self, path):
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""
        finally:
            if os.path.exists(path):
                os.unlink(path)

    # -- fatal signals ------------------------------------------------------
    def fatal(self, script, signum, title, min_threads, reader="vm"):
        name = "%s (%s)" % (script, signal.Signals(signum).name)
        path = self.ours_file()
        rc, _, err = self.run(script, faulthandler=True,
                              env={"PYDEBUG_FAULTHANDLER": "1", "PYDEBUG_FAULTHANDLER_FILE": path})
        ours = self.read(path)
        theirs_blocks, ours_blocks = parse(err), parse(ours)
        self.check(rc == -signum, "%s: exit status %s, expected death by signal %d" %
                   (name, rc, signum))
        self.check(("Fatal Python error: %s" % title) in err,
                   "%s: faulthandler did not dump:\n%s" % (name, err[-2000:]))
        self.check(ours.startswith("Fatal Python error: %s\n\n" % title),
                   "%s: our dump does not start with the fatal error line:\n%s" %
                   (name, ours[:300]))
        self.check(len(theirs_blocks) >= min_threads,
                   "%s: faulthandler shows %d threads" % (name, len(theirs_blocks)))
        self.compare(name + " [same process]", theirs_blocks, ours_blocks)
        self.check("Current thread's C stack trace (most recent call first):\n  Binary file" in ours,
                   "%s: no native frames:\n%s" % (name, ours[-1500:]))
        # Ours alone, in another process: the same frames.
        # reader "pipe": the fallback for when process_vm_readv is refused.
        rc2, _, err2 = self.run(script, env={"PYDEBUG_FAULTHANDLER": "1",
                                             "PYDEBUG_FAULTDUMP_READER": reader})
        self.check(rc2 == -signum, "%s alone: exit status %s" % (name, rc2))
        if script == "threads_segv.py":
            self.native_python(err2)
        self.check(without_ids(parse(err2)) == without_ids(theirs_blocks),
                   "%s alone: frames differ from faulthandler's:\n--- ours\n%s\n--- faulthandler\n%s"
                   % (name, err2[-3000:], err[-3000:]))
        return ours

    def native_python(self, dump):
        """The ctypes crash (strlen in libc, called from _ctypes through libffi) unwinds
        through code without frame pointers into the interpreter's loop."""
        frames = native_frames(dump)
        names = [n for _, n in frames]
        self.check(len(frames) > 3 and "_PyEval_EvalFrameDefault" in names and
                   any(n and (n.startswith("PyObject_Call") or n.startswith("_PyObject_MakeTpCall")
                              or n.startswith("_PyObject_FastCall") or n == "PyCFuncPtr_call")
                       for n in names),
                   "ctypes crash: native frames do not reach the interpreter:\n" + dump[-3000:])

    def compare(self, name, theirs, ours):
        if not self.check(len(theirs) == len(ours),
                          "%s: %d thread blocks from faulthandler, %d from us" %
                          (name, len(theirs), len(ours))):
            return
        for i, (t, o) in enumerate(zip(theirs, ours)):
            if t == "..." or o == "...":
                self.check(t == o, "%s: block %d: %r vs %r" % (name, i, t, o))
                continue
            self.check(t[:2] == o[:2], "%s: thread %d header: faulthandler %s, ours %s" %
                       (name, i, t[:2], o[:2]))
            for j in range(max(len(t[2]), len(o[2]))):
                a = t[2][j] if j < len(t[2]) else None
                b = o[2][j] if j < len(o[2]) else None
                if not self.check(a == b, "%s: thread %d frame %d:\n  faulthandler: %r\n  ours:"
                                  "         %r" % (name, i, j, a, b)):
                    break

    # -- scenarios ------------------------------------------------------------
    def all(self):
        self.fatal("threads_segv.py", signal.SIGSEGV, "Segmentation fault", 5)
        self.fatal("abort.py", signal.SIGABRT, "Aborted", 2, reader="pipe")
        self.fatal("thread_crash.py", signal.SIGSEGV, "Segmentation fault", 4, reader="pipe")
        ours = self.fatal("limits.py", signal.SIGSEGV, "Segmentation fault", 101)
        # 3.13.0's faulthandler does not mark a stack cut at 100 frames (measured).
        depth_marker = not self.version.startswith("3.13.0")
        self.check(("\n  ...\n" in ours) == depth_marker and "\n...\n" in ours
                   and "\\U0001f600" in ours and "\\xeb" in ours and "\\u03b4" in ours
                   and 'ppp...", line' in ours and " in f" + "x" * 499 + "...\n" in ours,
                   "limits: markers or escapes missing from our dump")
        self.ondemand()
        self.watchdog()
        self.removal()
        self.noenv()
        self.api_chain()
        self.malloc_lock()

    def ondemand(self):
        path = self.ours_file()
        theirs_path = self.ours_file()
        rc, out, err = self.run("ondemand.py", theirs_path,
                                env={"PYDEBUG_DUMP_SIGNAL": "SIGUSR1",
                                     "PYDEBUG_FAULTHANDLER_FILE": path})
        ours, theirs = self.read(path), self.read(theirs_path)
        self.check(rc == 0 and "alive after dumps" in out,
                   "on-demand: process did not go on (rc %s): %s" % (rc, err[-500:]))
        self.check(len(parse(theirs)) == 4, "on-demand: faulthandler dump: %r" % theirs[:500])
        self.compare("on-demand", parse(theirs), parse(ours))
        self.check(not ours.startswith("Fatal"), "on-demand: fatal header in an on-demand dump")

    def watchdog(self):
        ours_path, theirs_path = self.ours_file(), self.ours_file()
        rc, out, err = self.run("watchdog.py", "repeat", ours_path, theirs_path)
        ours, theirs = self.read(ours_path), self.read(theirs_path)
        self.check(rc == 0 and "cancelled" in out, "watchdog: rc %s, %s" % (rc, err[-800:]))
        marker = "Timeout (0:00:00.250000)!\n"
        ours_dumps, theirs_dumps = split_dumps(ours, marker), split_dumps(theirs, marker)
        self.check(len(ours_dumps) >= 2 and len(theirs_dumps) >= 2,
                   "watchdog: %d dumps from us, %d from faulthandler (expected >= 2 each):\n%s" %
                   (len(ours_dumps), len(theirs_dumps), ours[:1000]))
        if ours_dumps and theirs_dumps:
            self.compare("watchdog", parse(theirs_dumps[0]), parse(ours_dumps[0]))
        ours_path, theirs_path = self.ours_file(), self.ours_file()
        rc, out, err = self.run("watchdog.py", "exit", ours_path, theirs_path)
        ours = self.read(ours_path)
        self.read(theirs_path)
        self.check(rc == 1 and "not reached" not in out and ours.startswith(
            "Timeout (0:00:00.200000)!\n") and len(parse(ours)) == 3,
            "watchdog exit: rc %s, dump %r" % (rc, ours[:300]))

    def removal(self):
        rc, out, err = self.run("removal.py", preload=False)
        self.check(rc == -signal.SIGSEGV and "removed" in out and "Fatal Python error" not in err,
                   "removal: rc %s, stdout %r, stderr %r" % (rc, out, err[-800:]))

    def noenv(self):
        rc, out, err = self.run("noenv.py")
        self.check(rc == -signal.SIGSEGV and "no handler" in out and err == "",
                   "LD_PRELOAD without variables: rc %s, stdout %r, stderr %r" %
                   (rc, out, err[-800:]))

    def api_chain(self):
        path = self.ours_file()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            rc, out, err = self.run("api_chain.py", preload=False, env={"OURS_FD": str(fd)},
                                    pass_fds=(fd,))
        finally:
            os.close(fd)
        ours = self.read(path)
        self.check(rc == -signal.SIGSEGV, "API chain: exit status %s" % rc)
        self.check(ours.startswith("Fatal Python error: Segmentation fault\n\n"),
                   "API chain: our dump: %r" % ours[:300])
        self.check(len(parse(err)) == 3, "API chain: previous handler (faulthandler) did not "
                   "run after ours: %r" % err[-800:])
        self.compare("API chain", parse(err), parse(ours))

    def malloc_lock(self):
        if not self.args.shim:
            return
        path = self.ours_file()
        try:
            rc, out, err = self.run("malloc_crash.py", faulthandler=True, timeout=30,
                                    env={"PYDEBUG_FAULTHANDLER": "1",
                                         "PYDEBUG_FAULTHANDLER_FILE": path,
                                         "LD_PRELOAD": self.args.lib + ":" + self.args.shim})
        except subprocess.TimeoutExpired:
            self.check(False, "malloc lock: the dump hung (deadlock on the allocator lock)")
            return
        ours = self.read(path)
        self.check(rc != 97, "malloc lock: the allocator was called inside the handler: %s" %
                   err[-500:])
        self.check(rc == -signal.SIGSEGV, "malloc lock: exit status %s: %s" % (rc, err[-500:]))
        self.compare("malloc lock", parse(err), parse(ours))
        self.check(any("in allocate" in line for b in parse(ours) if b != "..."
                       for line in b[2]), "malloc lock: frame 'allocate' missing:\n" + ours)


NATIVE_FRAME = re.compile(r'^  Binary file "([^"]*)"(?:, at ([^+ ]+)\+0x[0-9a-f]+)? \[0x[0-9a-f]+\]$')


def native_frames(dump):
    """(path, symbol or None) of each line of the C stack of a dump."""
    text = dump.split("C stack trace (most recent call first):\n", 1)
    if len(text) < 2:
        return []
    out = []
    for line in text[1].splitlines():
        m = NATIVE_FRAME.match(line)
        if not m:
            break
        out.append((m.group(1), m.group(2)))
    return out


# The call chains native_chain.c is written to have, innermost first: names of its own
# functions, "libc" for any number (at least one) of frames in libc, "?" for one frame
# outside every mapping (the bad function pointer itself).
NATIVE_CHAINS = {
    "qsort": ["crash_write", "chain_compare", "libc", "chain_three", "chain_two", "chain_one",
              "main"],
    "strlen": ["libc", "chain_three", "chain_two", "chain_one", "main"],
    "call": ["?", "chain_three", "chain_two", "chain_one", "main"],
}


def run_native_chain(args):
    failures = []
    for mode, chain in sorted(NATIVE_CHAINS.items()):
        p = subprocess.run([args.native_chain, mode], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=60)
        err = p.stderr.decode("utf-8", "replace")
        frames = native_frames(err)
        if p.returncode != -signal.SIGSEGV:
            failures.append("native %s: exit status %s" % (mode, p.returncode))
        i, ok = 0, True
        for want in chain:
            if want == "libc":
                n = 0
                while i < len(frames) and "/libc.so" in frames[i][0]:
                    i, n = i + 1, n + 1
                ok = ok and n >= 1
            elif want == "?":
                ok = ok and i < len(frames) and frames[i][0] == "<unknown>"
                i += 1
            else:
                ok = ok and i < len(frames) and frames[i][1] == want and \
                    frames[i][0] == os.path.realpath(args.native_chain)
                i += 1
        # Past main: libc's start-up code and _start, where CFI marks the outermost frame.
        ok = ok and bool(frames) and frames[-1][1] == "_start"
        if not ok:
            failures.append("native %s: expected %s, got:\n%s" % (mode, " > ".join(chain), err))
    return failures


def run_example(args):
    """The embedded example: our dump (fd 3) and faulthandler (PYTHONFAULTHANDLER) agree."""
    failures = []
    path = tempfile.mktemp(prefix="pydbg-example-")
    e = dict(os.environ)
    e["PYTHONFAULTHANDLER"] = "1"
    e["CRASH_HANDLER_OUTPUT"] = path
    p = subprocess.run([args.example], env=e, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=60)
    err = p.stderr.decode("utf-8", "replace")
    ours = open(path).read() if os.path.exists(path) else ""
    if os.path.exists(path):
        os.unlink(path)
    if p.returncode != -signal.SIGSEGV:
        failures.append("example: exit status %s: %s" % (p.returncode, err[-800:]))
    theirs_b, ours_b = parse(err), parse(ours)
    if not theirs_b or without_ids(theirs_b) != without_ids(ours_b) or \
            [b[1] for b in theirs_b] != [b[1] for b in ours_b]:
        failures.append("example: dumps differ:\n--- ours\n%s\n--- faulthandler\n%s" %
                        (ours, err))
    if not any("in crash_from_python" in line for b in ours_b for line in b[2]):
        failures.append("example: Python frame crash_from_python missing:\n" + ours)
    # Alone (faulthandler's re-raise would put libc's raise on top of the native stack).
    del e["PYTHONFAULTHANDLER"]
    p = subprocess.run([args.example], env=e, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=60)
    ours = open(path).read() if os.path.exists(path) else ""
    if os.path.exists(path):
        os.unlink(path)
    if p.returncode != -signal.SIGSEGV or without_ids(parse(ours)) != without_ids(theirs_b):
        failures.append("example alone: rc %s, dump:\n%s" % (p.returncode, ours))
    if not re.search(r'C stack trace \(most recent call first\):\n  Binary file "[^"]*'
                     r'crash_handler", at crashmod_crash\+0x', ours):
        failures.append("example: native frame crashmod_crash not on top:\n" + ours)
    return failures


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--lib", required=True)
    parser.add_argument("--shim")
    parser.add_argument("--example")
    parser.add_argument("--native-chain")
    parser.add_argument("--only", help="run only interpreters whose name contains this")
    args = parser.parse_args()
    args.lib = os.path.abspath(args.lib)
    cases = [Case(args, v, p) for v, p in interpreters() if not args.only or args.only in v]
    if not cases:
        print("no CPython 3.6+ installed")
        return 1
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(Case.all, cases))
    failures = [f for c in cases for f in c.failures]
    for c in cases:
        print("%-22s %3d checks, %d failed" % (c.version, c.checks, len(c.failures)))
    if args.native_chain:
        nc = run_native_chain(args)
        print("native chains: %s" % ("ok" if not nc else "FAILED"))
        failures += nc
    if args.example:
        ex = run_example(args)
        print("embedded example: %s" % ("ok" if not ex else "FAILED"))
        failures += ex
    for f in failures:
        print("FAIL " + f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
