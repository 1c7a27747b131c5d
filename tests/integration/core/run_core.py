#!/usr/bin/python3
"""Integration test of `pydebug core` against every installed CPython.

Each target scenario (../targets/) records its own ground truth and blocks. This
driver makes a core of it with gdb's `gcore` while it is blocked, runs
`pydebug core CORE --format json` and `--format text` on the core, and compares
them with the ground truth exactly as the `dump` test does (../run_integration.py:
threads, native ids, names, frames, lines, PEP 657 positions).

Per interpreter it also lets the kernel write the core (SIGQUIT with
RLIMIT_CORE unlimited) when /proc/sys/kernel/core_pattern names a plain file
written in the process's directory; otherwise that column is skipped with the
reason. Once: a core whose executable is gone (an error naming the file, then
--exe), cores cut at several lengths, a non-core ELF, garbage, an empty file,
a directory, a missing file, the core of a process that is not Python. Every
core is deleted as soon as it has been checked (they are big).

Standard library only; run with /usr/bin/python3:
    run_core.py --pydebug BUILD/cli/pydebug [--python PY]... [--scenario S]...
"""
import argparse
import concurrent.futures
import glob
import json
import os
import re
import resource
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
import run_integration as ri  # noqa: E402

# The scenarios cored by default: threads and names, every kind of frame, a deep
# stack, non-ASCII names and a thread that holds the GIL. All of them by default;
# --scenario picks fewer.
SCENARIOS = ["many_threads", "kinds", "deep", "unicode", "gil"]
GCORE_TIMEOUT = 120.0
EXIT_OK, EXIT_ERROR, EXIT_NOTPYTHON = 0, 1, 5


def core_env():
    env = ri.target_env()
    # glibc reserves 64 MiB per malloc arena and thread; gcore dumps the
    # reservations too. One arena keeps each core near 200 MB instead of 1.2 GB.
    env["MALLOC_ARENA_MAX"] = "1"
    return env


class CoreTarget(ri.Target):
    def __init__(self, interp, scenario, workdir, python=None, cwd=None, core_limit=False):
        ri.Target.__init__(self, interp, scenario, workdir)
        self.python = python or interp.path
        self.cwd = cwd
        self.core_limit = core_limit
        if cwd or python:
            # Not the file of the plain target of the same scenario and interpreter.
            self.gt_path = os.path.join(workdir, "%s-%s-%s.json" % (
                os.path.basename(cwd or os.path.dirname(python)), scenario,
                interp.label.replace(" ", "_")))

    def start(self, lifetime):
        argv = [self.python, self.script, self.gt_path, "--lifetime", str(int(lifetime))]
        self.log = open(self.gt_path + ".log", "wb")
        pre = None
        if self.core_limit:
            def pre():
                resource.setrlimit(resource.RLIMIT_CORE,
                                   (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
        self.proc = ri.spawn(argv, stdout=self.log, stderr=subprocess.STDOUT, env=core_env(),
                             cwd=self.cwd, preexec_fn=pre)


def ready(t):
    """None if the target has a valid ground truth and only its recorded threads, else why not."""
    if t.truth is None:
        return t.error
    gone = t.wait_recorder_gone()
    problems = [gone] if gone else ri.validate_truth(t)
    if problems:
        return "bad ground truth (a test bug): " + "; ".join(problems)
    return None


def gcore(pid, prefix):
    """Writes PREFIX.PID with gdb's gcore; returns (path, error)."""
    try:
        r = subprocess.run(["gcore", "-o", prefix, str(pid)], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=GCORE_TIMEOUT)
    except subprocess.TimeoutExpired:
        return None, "gcore timed out"
    path = "%s.%d" % (prefix, pid)
    if r.returncode != 0 or not os.path.exists(path):
        return None, "gcore failed (%d): %s" % (r.returncode, r.stdout.decode("utf-8", "replace")
                                               [-300:])
    return path, None


def remove(path):
    try:
        os.unlink(path)
    except OSError:
        pass


def check_core(t, tool, core, mm, label="core"):
    """Compares `pydebug core` JSON and text with the ground truth; returns the JSON run."""
    r = ri.run_tool([tool, "core", core, "--format", "json"])
    dump = ri.parse_json(r, mm, label + " json")
    if dump is not None:
        ri.compare_dump(t, dump, mm, label + " json")
    rt = ri.run_tool([tool, "core", "--format", "text", core])
    if rt.timed_out or rt.returncode != 0:
        mm.add("%s text: %s, stderr %r" % (label, ri.describe_exit(rt), rt.stderr[:300]))
    else:
        ri.check_text(t, rt.stdout, mm)
    return r


def expect_error(tool, argv, status, mm, what, pattern=None):
    r = ri.run_tool([tool] + argv, timeout=60)
    if r.timed_out or r.returncode != status:
        mm.add("%s: expected exit %d, got %s; stderr %r" % (what, status, ri.describe_exit(r),
                                                             r.stderr[:300]))
        return
    e = ri.check_error_output(r)
    if e:
        mm.add("%s: %s" % (what, e))
    elif pattern and not re.search(pattern, r.stderr):
        mm.add("%s: stderr %r does not say /%s/" % (what, r.stderr.strip()[:300], pattern))


def elf_layout(path):
    """(end of the program headers, [(p_type, offset, filesz)]) of an ELF64 file."""
    with open(path, "rb") as f:
        head = f.read(64)
        phoff, = struct.unpack_from("<Q", head, 32)
        phentsize, phnum = struct.unpack_from("<HH", head, 54)
        f.seek(phoff)
        table = f.read(phentsize * phnum)
    segments = []
    for i in range(phnum):
        p_type, _, offset, _, _, filesz = struct.unpack_from("<IIQQQQ", table, i * phentsize)
        segments.append((p_type, offset, filesz))
    return phoff + phentsize * phnum, segments


def check_truncated(tool, core, mm):
    """Cuts the core shorter and shorter (in place): each must be a clear error, exit 1."""
    size = os.path.getsize(core)
    ph_end, segments = elf_layout(core)
    needed = max(off + n for _, off, n in segments)
    notes = [(off, n) for t, off, n in segments if t == 4]
    lengths = set([needed - 1, needed // 2, ph_end - 1, 64, 63, 10, 0])
    for off, n in notes:
        lengths.update([off + n - 1, off + n // 2, off + 5])
    lengths = sorted((x for x in lengths if 0 <= x < min(size, needed)), reverse=True)
    for length in lengths:
        os.truncate(core, length)
        expect_error(tool, ["core", core, "--format", "json"], EXIT_ERROR, mm,
                     "core cut to %d of %d bytes" % (length, size),
                     r"truncated|too few|too small" if length else r"too few|too small|empty")
    return len(lengths)


def check_gcore_target(t, tool, workdir, truncate=False):
    """Returns (status, reason, seconds)."""
    why = ready(t)
    if why:
        return ("FAIL", why, None)
    mm = ri.Mismatches()
    core, err = gcore(t.proc.pid, os.path.join(workdir, "core-%s-%s" % (
        t.scenario, t.interp.label.replace(" ", "_"))))
    if err:
        return ("FAIL", err, None)
    try:
        r = check_core(t, tool, core, mm)
        if truncate:
            n = check_truncated(tool, core, mm)
            if not mm.count:
                print("truncated cores: %d lengths of %s, each a clear error" % (n, t.interp.label))
    finally:
        remove(core)
    s = mm.summary()
    return ("FAIL", s, r.seconds) if s else ("PASS", "", r.seconds)


def core_pattern():
    try:
        with open("/proc/sys/kernel/core_pattern") as f:
            return f.read().strip()
    except OSError:
        return None


def kernel_skip_reason():
    pattern = core_pattern()
    if pattern is None:
        return "cannot read /proc/sys/kernel/core_pattern"
    if pattern.startswith("|"):
        return "core_pattern pipes cores to a program (%r), not to a file" % pattern
    if "/" in pattern:
        return "core_pattern writes cores elsewhere (%r), not in the process's directory" % pattern
    return None


def check_kernel(interp, tool, workdir):
    why = kernel_skip_reason()
    if why:
        return ("SKIP", why, None)
    cwd = tempfile.mkdtemp(prefix="kernel-", dir=workdir)
    t = CoreTarget(interp, "many_threads", workdir, cwd=cwd, core_limit=True)
    try:
        t.start(120)
        t.wait_truth(time.monotonic() + ri.GT_TIMEOUT)
        why = ready(t)
        if why:
            return ("FAIL", why, None)
        os.kill(t.proc.pid, signal.SIGQUIT)
        try:
            t.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            return ("FAIL", "the target did not die of SIGQUIT", None)
        cores = [p for p in glob.glob(os.path.join(cwd, "*")) if os.path.isfile(p)]
        if not cores:
            return ("SKIP", "the kernel wrote no core (core_pattern %r, exit %s)" % (
                core_pattern(), t.proc.returncode), None)
        mm = ri.Mismatches()
        r = check_core(t, tool, cores[0], mm, "kernel core")
        s = mm.summary()
        return ("FAIL", s, r.seconds) if s else ("PASS", "", r.seconds)
    finally:
        t.stop()
        shutil.rmtree(cwd, ignore_errors=True)


def check_moved_executable(interps, tool, workdir):
    """A static python copied, run, cored and deleted: the error names the missing file;
    --exe with the original works; --exe with another file is refused."""
    static = [i for i in interps if "static" in i.label]
    if not static:
        return ("SKIP", "no statically linked python (/usr/bin/python3.11) to copy", None)
    interp = static[0]
    bindir = tempfile.mkdtemp(prefix="bin-", dir=workdir)
    copy = os.path.join(bindir, os.path.basename(interp.path))
    shutil.copy2(os.path.realpath(interp.path), copy)
    t = CoreTarget(interp, "many_threads", workdir, python=copy)
    mm = ri.Mismatches()
    core = None
    try:
        t.start(120)
        t.wait_truth(time.monotonic() + ri.GT_TIMEOUT)
        why = ready(t)
        if why:
            return ("FAIL", why, None)
        core, err = gcore(t.proc.pid, os.path.join(workdir, "core-moved"))
        if err:
            return ("FAIL", err, None)
        t.stop()
        os.unlink(copy)
        expect_error(tool, ["core", core], EXIT_NOTPYTHON, mm, "executable deleted",
                     re.escape(copy) + r" is not on this machine")
        mm_exe = ri.Mismatches()
        r = ri.run_tool([tool, "core", core, "--exe", os.path.realpath(interp.path),
                         "--format", "json"])
        dump = ri.parse_json(r, mm_exe, "--exe")
        if dump is not None:
            ri.compare_dump(t, dump, mm_exe, "--exe")
        for m in mm_exe.items:
            mm.add(m)
        expect_error(tool, ["core", core, "--exe", "/bin/sh"], EXIT_ERROR, mm, "--exe /bin/sh",
                     r"not the file the process had mapped")
        expect_error(tool, ["core", core, "--exe", os.path.join(bindir, "missing")], EXIT_ERROR,
                     mm, "--exe missing", r"cannot open")
    finally:
        t.stop()
        if core:
            remove(core)
        shutil.rmtree(bindir, ignore_errors=True)
    s = mm.summary()
    return ("FAIL", s, None) if s else ("PASS", "", None)


def check_bad_inputs(tool, interps, workdir):
    """Not cores at all: each a clear error with exit 1 (5 for a core that is not Python)."""
    mm = ri.Mismatches()
    garbage = os.path.join(workdir, "garbage")
    with open(garbage, "wb") as f:
        f.write(os.urandom(1 << 16))
    empty = os.path.join(workdir, "empty")
    open(empty, "wb").close()
    elf_header_only = os.path.join(workdir, "elf-header")
    with open(os.path.realpath(interps[-1].path), "rb") as f:
        head = f.read(64)
    with open(elf_header_only, "wb") as f:
        f.write(head)
    cases = [
        (["core", garbage], EXIT_ERROR, "garbage", r"not an ELF file"),
        (["core", empty], EXIT_ERROR, "empty file", r"too few"),
        (["core", os.path.realpath(interps[-1].path)], EXIT_ERROR, "an executable",
         r"not a core file"),
        (["core", elf_header_only], EXIT_ERROR, "an ELF header alone", r"not a core file"),
        (["core", workdir], EXIT_ERROR, "a directory", r"not a regular file|directory"),
        (["core", os.path.join(workdir, "no-such-core")], EXIT_ERROR, "missing file",
         r"No such file"),
        (["core"], EXIT_ERROR, "no core given", r"required"),
        (["core", garbage, garbage], EXIT_ERROR, "two cores", r"unexpected argument"),
        (["core", garbage, "--format", "xml"], EXIT_ERROR, "--format xml", r"format"),
    ]
    for argv, status, what, pattern in cases:
        expect_error(tool, argv, status, mm, what, pattern)
    # The core of a process that is not Python.
    sleeper = ri.spawn(["sleep", "100"])
    try:
        time.sleep(0.2)
        core, err = gcore(sleeper.pid, os.path.join(workdir, "core-sleep"))
        if err:
            mm.add("core of sleep: " + err)
        else:
            expect_error(tool, ["core", core], EXIT_NOTPYTHON, mm, "core of sleep",
                         r"not a Python process")
            remove(core)
    finally:
        ri.kill(sleeper)
    s = mm.summary()
    return ("FAIL", s, None) if s else ("PASS", "%d cases" % (len(cases) + 1), None)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pydebug", required=True, help="the pydebug tool")
    ap.add_argument("--python", action="append", help="interpreter(s) to use instead of discovery")
    ap.add_argument("--scenario", action="append", choices=SCENARIOS,
                    help="scenario(s) to core with gcore (default: all)")
    ap.add_argument("--jobs", type=int, default=2, help="cores made and read at once")
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, ri._on_signal)
    signal.signal(signal.SIGINT, ri._on_signal)

    tool = args.pydebug
    if not os.access(tool, os.X_OK):
        print("FAIL: the pydebug tool %s is not there (not built?)" % tool)
        return 1
    if not shutil.which("gcore"):
        print("FAIL: gcore (gdb) is not installed: run .ci/install-deps")
        return 1
    interps = ri.discover(args.python)
    found = set("%d.%d" % i.info for i in interps)
    skipped = [v for v in ri.KNOWN_VERSIONS if v not in found]
    print("interpreters: %s" % (", ".join(i.label for i in interps) or "none"))
    print("SKIPPED versions (not installed): %s" % (", ".join(skipped) or "none"))
    if not interps:
        print("FAIL: no CPython found, nothing ran")
        return 1

    scenarios = args.scenario or SCENARIOS
    workdir = tempfile.mkdtemp(prefix="pydebug-core-")
    results = {}
    started = time.monotonic()
    targets = []
    try:
        for interp in interps:
            for s in scenarios:
                t = CoreTarget(interp, s, workdir)
                t.start(240)
                targets.append(t)
        deadline = time.monotonic() + ri.GT_TIMEOUT
        for t in targets:
            t.wait_truth(deadline)
        print("%d targets recorded their ground truth in %.1fs" % (
            sum(1 for t in targets if t.truth), time.monotonic() - started))
        # The truncation cases cut one real core: the newest interpreter's many_threads.
        cut = next((t for t in reversed(targets) if t.scenario == "many_threads"), targets[-1])
        with concurrent.futures.ThreadPoolExecutor(max(1, args.jobs)) as pool:
            futures = {}
            for t in targets:
                futures[pool.submit(check_gcore_target, t, tool, workdir, t is cut)] = \
                    (t.interp.label, t.scenario, t)
            for interp in interps:
                futures[pool.submit(check_kernel, interp, tool, workdir)] = \
                    (interp.label, "kernel", None)
            for fut, (label, col, t) in futures.items():
                try:
                    results[(label, col)] = fut.result()
                except Exception as e:  # a bug here must show, not hang the run
                    results[(label, col)] = ("FAIL", "driver error: %r" % e, None)
                if t is not None:
                    t.stop()
        once = [("moved executable", check_moved_executable(interps, tool, workdir)),
                ("bad inputs", check_bad_inputs(tool, interps, workdir))]
    finally:
        for t in targets:
            t.stop()
        ri.kill_all()
        shutil.rmtree(workdir, ignore_errors=True)

    columns = list(scenarios) + ["kernel"]
    ri.print_table(interps, columns, results)
    print("once:")
    for name, (status, reason, _) in once:
        print("  %-4s %-18s %s" % (status, name, reason))
    failed = [k for k, v in results.items() if v[0] == "FAIL"] + \
        [n for n, v in once if v[0] == "FAIL"]
    passed = sum(1 for v in results.values() if v[0] == "PASS")
    print("\n%d FAIL, %d PASS, %d SKIP in %.1fs" % (
        len(failed), passed, sum(1 for v in results.values() if v[0] == "SKIP"),
        time.monotonic() - started))
    if failed:
        return 1
    if not passed:
        print("FAIL: nothing ran")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
