#!/usr/bin/python3
"""Integration test of `pydebug dump` against every installed CPython.

Each target script (targets/) builds a scenario, records its own ground truth from
the inside (pydbg_gt.py) and blocks for ever. This driver starts every scenario under
every interpreter it finds, waits for the ground truth, runs
`pydebug dump --pid PID --format json` and `--format text`, and compares thread by
thread, frame by frame. Where `pydebug dump --help` offers them it also checks the
paused mode, --max-depth and --no-thread-names. Then, per interpreter: dumps of a
process that exits while being dumped ("exiting") and of a process whose threads and
stacks never stand still ("churn"); and once: the documented exit codes.

Prints a table of versions x checks (PASS / FAIL / SKIP, with the reasons below it)
and exits 1 if anything failed or no interpreter ran at all.

Standard library only; run with /usr/bin/python3:
    run_integration.py --pydebug BUILD/cli/pydebug [--python PY]... [--scenario S]...
Without --pydebug only the targets and their ground truth are checked.
"""
import argparse
import ast
import concurrent.futures
import glob
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TARGETS = os.path.join(HERE, "targets")

# The versions the library supports; any of them not found is reported as skipped.
KNOWN_VERSIONS = ["2.7", "3.6", "3.7", "3.8", "3.9", "3.10", "3.11", "3.12", "3.13", "3.14"]

SCENARIOS = {
    "many_threads": "many_threads.py",
    "kinds": "kinds.py",
    "deep": "deep.py",
    "unicode": os.path.join("tëst_δ", "unicode_target.py"),
    "gil": "gil.py",
}
CHURN = os.path.join(TARGETS, "churn.py")
CHURN_DUMPS = 40

GT_TIMEOUT = 60.0      # seconds for a target to write its ground truth
DUMP_TIMEOUT = 60.0    # seconds for one `pydebug dump`
MAX_MESSAGES = 12      # mismatches reported per case

EXIT_OK, EXIT_ERROR, EXIT_NOPROC, EXIT_PERM, EXIT_NOTPYTHON = 0, 1, 3, 4, 5

# ---- interpreters ---------------------------------------------------------------------


class Interpreter:
    def __init__(self, path, version, hexversion, stdlib, label):
        self.path = path
        self.stdlib = stdlib            # directory of threading.py
        self.version = version          # "3.11.7"
        self.info = tuple(int(x) for x in version.split(".")[:2])
        self.hexversion = hexversion
        self.label = label              # "3.11.7" or "3.11.2 static (/usr/bin/python3.11)"


def target_env():
    env = dict(os.environ)
    for k in list(env):
        if k.startswith("PYTHON"):
            del env[k]
    # Non-ASCII paths need a UTF-8 locale on 3.6 (no C-locale coercion there).
    env["LC_ALL"] = "C.UTF-8"
    env["PYTHONIOENCODING"] = "utf-8"
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def probe(path):
    try:
        out = subprocess.run(
            [path, "-c", "import os, platform, sys, threading; "
                         "print(platform.python_version()); print(sys.hexversion); "
                         "print(os.path.dirname(os.path.abspath(threading.__file__)))"],
            capture_output=True, text=True, timeout=30, env=target_env())
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        return None
    lines = out.stdout.split("\n")
    if len(lines) < 3:
        return None
    return lines[0], int(lines[1]), lines[2]


def discover(explicit):
    candidates = []
    if explicit:
        candidates = [(p, None) for p in explicit]
    else:
        for p in sorted(glob.glob("/root/.pyenv/versions/*/bin/python")):
            candidates.append((p, None))
        if os.path.exists("/usr/bin/python3.11"):
            candidates.append(("/usr/bin/python3.11", "static"))
        for d in os.environ.get("PATH", "").split(os.pathsep):
            p = os.path.join(d, "python3.14")
            if os.access(p, os.X_OK):
                candidates.append((p, None))
    seen = set()
    found = []
    for path, kind in candidates:
        real = os.path.realpath(path)
        if real in seen:
            continue
        seen.add(real)
        probed = probe(path)
        if probed is None:
            print("note: %s does not run, ignored" % path)
            continue
        version, hexversion, stdlib = probed
        label = version if kind is None else "%s %s" % (version, kind)
        found.append(Interpreter(path, version, hexversion, stdlib, label))
    found.sort(key=lambda i: (i.info, i.label))
    return found


# ---- processes ------------------------------------------------------------------------

_live_groups = set()
_live_lock = threading.Lock()


def spawn(argv, **kw):
    """Starts argv in its own process group, remembered so that it is always killed."""
    p = subprocess.Popen(argv, start_new_session=True, env=kw.pop("env", target_env()),
                         stdin=subprocess.DEVNULL, **kw)
    with _live_lock:
        _live_groups.add(p.pid)
    return p


def kill(p):
    with _live_lock:
        _live_groups.discard(p.pid)
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    try:
        p.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass


def kill_all():
    with _live_lock:
        groups = list(_live_groups)
        _live_groups.clear()
    for g in groups:
        try:
            os.killpg(g, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _on_signal(signum, frame):
    kill_all()
    sys.exit(128 + signum)


class Result:
    def __init__(self, returncode, stdout, stderr, seconds, timed_out=False):
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr
        self.seconds = seconds
        self.timed_out = timed_out


def run_tool(argv, timeout=DUMP_TIMEOUT, **kw):
    start = time.monotonic()
    p = spawn(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)
    try:
        out, err = p.communicate(timeout=timeout)
        timed_out = False
    except subprocess.TimeoutExpired:
        kill(p)
        out, err = p.communicate()
        timed_out = True
    finally:
        kill(p)
    return Result(p.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"),
                  time.monotonic() - start, timed_out)


def describe_exit(r):
    if r.timed_out:
        return "timed out after %.0fs" % r.seconds
    if r.returncode < 0:
        return "killed by signal %d (%s)" % (-r.returncode, signal.Signals(-r.returncode).name)
    return "exit %d" % r.returncode


def check_error_output(r):
    """The contract: every error is one line on stderr starting with 'pydebug: '."""
    lines = [l for l in r.stderr.splitlines() if l.strip()]
    if len(lines) != 1 or not lines[0].startswith("pydebug: "):
        return "stderr should be one line starting with 'pydebug: ', got %r" % r.stderr[:300]
    return None


# ---- targets --------------------------------------------------------------------------


class Target:
    def __init__(self, interp, scenario, workdir):
        self.interp = interp
        self.scenario = scenario
        self.script = os.path.join(TARGETS, SCENARIOS[scenario])
        self.gt_path = os.path.join(workdir, "%s-%s.json" % (scenario, interp.label.replace(" ", "_")))
        self.proc = None
        self.truth = None
        self.error = None

    def start(self, lifetime):
        argv = [self.interp.path, self.script, self.gt_path, "--lifetime", str(int(lifetime))]
        self.log = open(self.gt_path + ".log", "wb")
        self.proc = spawn(argv, stdout=self.log, stderr=subprocess.STDOUT)

    def wait_truth(self, deadline):
        while time.monotonic() < deadline:
            if os.path.exists(self.gt_path):
                with open(self.gt_path, "rb") as f:
                    self.truth = json.loads(f.read().decode("utf-8"))
                if "error" in self.truth:
                    self.error = "target could not record its ground truth: %s" % self.truth["error"]
                    self.truth = None
                return self.truth is not None
            if self.proc.poll() is not None:
                self.error = "target exited (%s) before writing its ground truth: %s" % (
                    self.proc.returncode, self.read_log())
                return False
            time.sleep(0.05)
        self.error = "no ground truth after %.0fs: %s" % (GT_TIMEOUT, self.read_log())
        return False

    def read_log(self):
        try:
            with open(self.gt_path + ".log", "rb") as f:
                return f.read().decode("utf-8", "replace")[-800:]
        except OSError:
            return ""

    def wait_recorder_gone(self):
        """The recorder thread exits after writing; wait until only the recorded threads remain."""
        expected = len(self.truth["threads"])
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                n = len(os.listdir("/proc/%d/task" % self.proc.pid))
            except OSError:
                return "target is gone"
            if n == expected:
                return None
            time.sleep(0.02)
        return "the target still has %d OS threads, %d expected" % (n, expected)

    def stop(self):
        if self.proc is not None:
            kill(self.proc)
        if getattr(self, "log", None):
            self.log.close()


def validate_truth(t):
    """Checks the ground truth is what the scenario means to create, before using it."""
    errors = []
    truth = t.truth
    if truth["pid"] != t.proc.pid:
        errors.append("ground truth pid %s, target pid %s" % (truth["pid"], t.proc.pid))
    mains = [th for th in truth["threads"] if th["is_main"]]
    if len(mains) != 1:
        errors.append("ground truth has %d main threads" % len(mains))
    try:
        tids = set(int(x) for x in os.listdir("/proc/%d/task" % t.proc.pid))
    except OSError:
        tids = None
    gt_tids = set(th["native_id"] for th in truth["threads"])
    if tids is not None and None not in gt_tids and gt_tids != tids:
        errors.append("ground truth native ids %s differ from /proc tasks %s" % (
            sorted(gt_tids), sorted(tids)))
    for th in truth["threads"]:
        if not th["frames"]:
            errors.append("thread %d has no frames in the ground truth" % th["thread_id"])
            continue
        top = th["frames"][0]
        # Every thread blocks in code of the scenario, never in the library or in pydbg_gt.
        if not (top["filename"].startswith(TARGETS) or top["filename"].startswith("<g")):
            errors.append("thread %d is blocked in %s, not in the scenario" % (
                th["thread_id"], top["filename"]))
        if top["filename"].endswith("pydbg_gt.py"):
            errors.append("thread %d is blocked inside pydbg_gt" % th["thread_id"])
        for fr in th["frames"]:
            if "position_line" in fr and fr["position_line"] != fr["line"]:
                errors.append("f_lineno %s differs from co_positions line %s in %s" % (
                    fr["line"], fr["position_line"], fr["function"]))
                break
    if truth["scenario"] == "deep":
        counts = sorted(sum(1 for fr in th["frames"] if fr["function"] == "recurse")
                        for th in truth["threads"])
        if truth["depth"] not in counts:
            errors.append("no thread has %d recurse frames (%s)" % (truth["depth"], counts))
    return errors


# ---- comparison -----------------------------------------------------------------------


class Mismatches:
    def __init__(self):
        self.items = []
        self.count = 0

    def add(self, message):
        self.count += 1
        if len(self.items) < MAX_MESSAGES:
            self.items.append(message)

    def summary(self):
        if not self.count:
            return None
        s = "; ".join(self.items)
        if self.count > len(self.items):
            s += "; ... %d more" % (self.count - len(self.items))
        return s


def thread_label(th):
    return "thread %d (%r)" % (th["thread_id"], th["name"])


FRAME_FIELDS_ALWAYS = ("function", "filename", "line")
FRAME_FIELDS_311 = ("qualname", "column", "end_line", "end_column")


def compare_dump(t, dump, mm, mode):
    truth = t.truth
    info = t.interp.info
    if dump.get("pid") != truth["pid"]:
        mm.add("%s: pid expected %s got %r" % (mode, truth["pid"], dump.get("pid")))
    if dump.get("python_version") != truth["python_version"]:
        mm.add("%s: python_version expected %s got %r" % (
            mode, truth["python_version"], dump.get("python_version")))
    threads = dump.get("threads")
    if not isinstance(threads, list):
        mm.add("%s: no threads list" % mode)
        return
    got = {}
    for th in threads:
        tid = th.get("thread_id")
        if tid in got:
            mm.add("%s: thread_id %r reported twice" % (mode, tid))
        got[tid] = th
    want = dict((th["thread_id"], th) for th in truth["threads"])
    for tid in sorted(set(want) - set(got)):
        mm.add("%s: %s missing from the dump" % (mode, thread_label(want[tid])))
    for tid in sorted(set(got) - set(want), key=str):
        mm.add("%s: unexpected thread_id %r (name %r, %d frames)" % (
            mode, tid, got[tid].get("name"), len(got[tid].get("frames") or [])))

    holders = [th.get("thread_id") for th in threads if th.get("holds_gil") is True]
    # Blocked threads sit in calls that released the GIL; only a running (volatile)
    # thread may hold it, and never more than one thread does.
    running = set(th["thread_id"] for th in truth["threads"] if "volatile_lines" in th)
    if len(holders) > 1 or set(holders) - running:
        mm.add("%s: holds_gil true for %s but only a running thread (%s) may hold the GIL"
               % (mode, holders, sorted(running) or "none here"))
    for th in threads:
        if "holds_gil" not in th or th["holds_gil"] not in (True, False, None):
            mm.add("%s: thread %r holds_gil is %r" % (mode, th.get("thread_id"),
                                                      th.get("holds_gil", "<absent>")))
            break

    for tid in sorted(set(want) & set(got)):
        w, g = want[tid], got[tid]
        lbl = "%s: %s" % (mode, thread_label(w))
        if g.get("interpreter_id") != 0:
            mm.add("%s: interpreter_id expected 0 got %r" % (lbl, g.get("interpreter_id")))
        if g.get("name") != w["name"]:
            mm.add("%s: name expected %r got %r" % (lbl, w["name"], g.get("name")))
        if g.get("is_main") is not w["is_main"]:
            mm.add("%s: is_main expected %r got %r" % (lbl, w["is_main"], g.get("is_main")))
        if info >= (3, 8):
            if g.get("native_id") != w["native_id"]:
                mm.add("%s: native_id expected %r got %r" % (lbl, w["native_id"],
                                                            g.get("native_id")))
        elif g.get("native_id") is not None and g.get("native_id") != w["native_id"]:
            mm.add("%s: native_id expected null or %r got %r" % (lbl, w["native_id"],
                                                                g.get("native_id")))
        if g.get("truncated"):
            mm.add("%s: marked truncated" % lbl)
        frames = g.get("frames")
        if not isinstance(frames, list):
            mm.add("%s: no frames list" % lbl)
            continue
        if len(frames) != len(w["frames"]):
            first = next((i for i, (wf, gf) in enumerate(zip(w["frames"], frames))
                          if (wf["function"], wf["filename"]) !=
                          (gf.get("function"), gf.get("filename"))),
                         min(len(frames), len(w["frames"])))
            mm.add("%s: %d frames expected, %d reported; first difference at frame %d: "
                   "expected %s, got %s" % (
                       lbl, len(w["frames"]), len(frames), first,
                       [f["function"] for f in w["frames"][first:first + 3]],
                       [f.get("function") for f in frames[first:first + 3]]))
        bad_in_thread = 0
        for i, (wf, gf) in enumerate(zip(w["frames"], frames)):
            diffs = []
            moving = i == 0 and "volatile_lines" in w
            for k in FRAME_FIELDS_ALWAYS:
                if moving and k == "line":
                    first, last = w["volatile_lines"]
                    if not (isinstance(gf.get(k), int) and first <= gf[k] <= last):
                        diffs.append("line expected in %d-%d got %r" % (first, last, gf.get(k)))
                elif gf.get(k) != wf[k]:
                    diffs.append("%s expected %r got %r" % (k, wf[k], gf.get(k, "<absent>")))
            for k in FRAME_FIELDS_311:
                expect = wf[k] if info >= (3, 11) else None
                if moving and k != "qualname":
                    if (expect is None) != (gf.get(k) is None):
                        diffs.append("%s expected %s got %r" % (
                            k, "null" if expect is None else "a value", gf.get(k, "<absent>")))
                elif gf.get(k, "<absent>") != expect:
                    diffs.append("%s expected %r got %r" % (k, expect, gf.get(k, "<absent>")))
            if diffs:
                bad_in_thread += 1
                if bad_in_thread <= 3:
                    mm.add("%s frame %d (%s): %s" % (lbl, i, wf["function"], ", ".join(diffs)))
                else:
                    mm.count += 1


def check_text(t, text, mm):
    lines = text.splitlines()
    for w in t.truth["threads"]:
        tid = w["thread_id"]
        id_re = re.compile(r"(\b%d\b|0x0*%x\b)" % (tid, tid), re.IGNORECASE)
        if not id_re.search(text):
            mm.add("text: thread id %d (or 0x%x) not printed" % (tid, tid))
        pos = 0
        for i, f in enumerate(w["frames"]):
            moving = i == 0 and "volatile_lines" in w
            line_re = re.compile(r"\b%s\b" % (r"\d+" if moving else f["line"]))
            while pos < len(lines):
                l = lines[pos]
                pos += 1
                if f["function"] in l and f["filename"] in l and line_re.search(l):
                    break
            else:
                mm.add("text: %s frame %d (%s, %s:%d) not found in order" % (
                    thread_label(w), i, f["function"], f["filename"], f["line"]))
                break


def parse_json(r, mm, mode):
    if r.timed_out or r.returncode != 0:
        mm.add("%s: %s, stderr %r" % (mode, describe_exit(r), r.stderr[:300]))
        return None
    try:
        return json.loads(r.stdout)
    except ValueError as e:
        mm.add("%s: output is not JSON (%s): %r" % (mode, e, r.stdout[:200]))
        return None


def task_states(pid):
    states = []
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/stat" % (pid, tid)) as f:
                stat = f.read()
            states.append(stat[stat.rindex(")") + 2])
            with open("/proc/%d/task/%s/status" % (pid, tid)) as f:
                for line in f:
                    if line.startswith("TracerPid:") and line.split()[1] != "0":
                        states.append("traced")
        except OSError:
            pass
    return states


def dump_json(tool, pid, *extra):
    mm = Mismatches()
    r = run_tool([tool, "dump", "--pid", str(pid), "--format", "json"] + list(extra))
    return r, parse_json(r, mm, " ".join(extra) or "json"), mm


def check_max_depth(t, tool):
    """--max-depth keeps the innermost frames and marks a cut stack truncated."""
    mm = Mismatches()
    deep = max(t.truth["threads"], key=lambda th: len(th["frames"]))
    n = len(deep["frames"])
    for bound in (1, 100, n - 1, n, n + 1):
        r, dump, pm = dump_json(tool, t.proc.pid, "--max-depth", str(bound))
        if dump is None:
            mm.add(pm.summary())
            continue
        got = dict((th.get("thread_id"), th) for th in dump.get("threads", []))
        for w in t.truth["threads"]:
            g = got.get(w["thread_id"])
            if g is None:
                mm.add("--max-depth %d: %s missing" % (bound, thread_label(w)))
                continue
            frames = g.get("frames") or []
            keep = min(bound, len(w["frames"]))
            cut = len(w["frames"]) > bound
            if len(frames) != keep:
                mm.add("--max-depth %d: %s has %d frames, expected %d" % (
                    bound, thread_label(w), len(frames), keep))
            elif [(f.get("function"), f.get("line")) for f in frames] != \
                    [(f["function"], f["line"]) for f in w["frames"][:keep]]:
                mm.add("--max-depth %d: %s does not keep the innermost frames" % (
                    bound, thread_label(w)))
            if bool(g.get("truncated")) != cut:
                mm.add("--max-depth %d: %s (%d frames) truncated is %r, expected %r" % (
                    bound, thread_label(w), len(w["frames"]), g.get("truncated"), cut))
    return mm.summary()


def check_no_names(t, tool):
    mm = Mismatches()
    r, dump, pm = dump_json(tool, t.proc.pid, "--no-thread-names")
    if dump is None:
        return pm.summary()
    named = [th.get("name") for th in dump.get("threads", []) if th.get("name") is not None]
    if named:
        mm.add("--no-thread-names still reports names %s" % named[:5])
    if len(dump.get("threads", [])) != len(t.truth["threads"]):
        mm.add("--no-thread-names: %d threads, expected %d" % (
            len(dump.get("threads", [])), len(t.truth["threads"])))
    return mm.summary()


def check_gil_holder(t, tool, pause_flag):
    """The spinner holds the GIL nearly all the time: some dumps must say so."""
    spinner = [th["thread_id"] for th in t.truth["threads"] if "volatile_lines" in th]
    extra = [pause_flag] if pause_flag else []
    seen = []
    for _ in range(5):
        r, dump, pm = dump_json(tool, t.proc.pid, *extra)
        if dump is None:
            return pm.summary()
        seen.append([th.get("thread_id") for th in dump.get("threads", [])
                     if th.get("holds_gil") is True])
    if not any(h == spinner for h in seen):
        return "in 5 %sdumps the spinning thread %s never held the GIL (holders seen: %s)" % (
            "paused " if pause_flag else "", spinner, seen)
    return None


def check_target(t, tool, pause_flag, options=None):
    """Returns {column: (status, reason, seconds)} for one target."""
    results = {}
    name = t.scenario
    if t.truth is None:
        results[name] = ("FAIL", t.error, None)
        return results
    gone = t.wait_recorder_gone()
    problems = [gone] if gone else validate_truth(t)
    if problems:
        results[name] = ("FAIL", "bad ground truth (a test bug): " + "; ".join(problems), None)
        return results
    if tool is None:
        results[name] = ("PASS", "ground truth only (no pydebug binary)", None)
        return results

    mm = Mismatches()
    r = run_tool([tool, "dump", "--pid", str(t.proc.pid), "--format", "json"])
    dump = parse_json(r, mm, "json")
    if dump is not None:
        compare_dump(t, dump, mm, "json")
    rt = run_tool([tool, "dump", "--pid", str(t.proc.pid), "--format", "text"])
    if rt.timed_out or rt.returncode != 0:
        mm.add("text: %s, stderr %r" % (describe_exit(rt), rt.stderr[:300]))
    else:
        check_text(t, rt.stdout, mm)
    if t.proc.poll() is not None:
        mm.add("the target died during the dump (%s)" % t.proc.returncode)
    s = mm.summary()
    results[name] = ("FAIL", s, r.seconds) if s else ("PASS", "", r.seconds)

    if name == "many_threads":
        col = "paused"
        if pause_flag is None:
            results[col] = ("SKIP", "`pydebug dump --help` lists no pause option", None)
        else:
            mm = Mismatches()
            rp = run_tool([tool, "dump", "--pid", str(t.proc.pid), "--format", "json", pause_flag])
            dump = parse_json(rp, mm, "paused")
            if dump is not None:
                compare_dump(t, dump, mm, "paused")
            time.sleep(0.1)
            states = task_states(t.proc.pid)
            if any(s in ("t", "T", "traced") for s in states):
                mm.add("after the paused dump the target is still stopped/traced: %s" % states)
            s = mm.summary()
            results[col] = ("FAIL", s, rp.seconds) if s else ("PASS", "", rp.seconds)
        if options is not None:
            if options.no_names:
                s = check_no_names(t, tool)
                results["no-names"] = ("FAIL", s, None) if s else ("PASS", "", None)
            else:
                results["no-names"] = ("SKIP", "no --no-thread-names option", None)
    if name == "deep" and options is not None:
        if options.max_depth:
            s = check_max_depth(t, tool)
            results["max-depth"] = ("FAIL", s, None) if s else ("PASS", "", None)
        else:
            results["max-depth"] = ("SKIP", "no --max-depth option", None)
    if name == "gil" and results[name][0] == "PASS":
        s = check_gil_holder(t, tool, pause_flag)
        if s:
            results[name] = ("FAIL", s, results[name][2])
    return results


# ---- error cases ----------------------------------------------------------------------


def check_exiting(interp, tool):
    """Dumps a process over and over while it starts, runs threads and exits."""
    code = ("import threading, time\n"
            "ts = [threading.Thread(target=time.sleep, args=(0.03,)) for i in range(6)]\n"
            "[t.start() for t in ts]\n"
            "time.sleep(0.05)\n")
    p = spawn([interp.path, "-c", code])
    reaped = threading.Event()

    def reap():
        p.wait()
        reaped.set()
    threading.Thread(target=reap, daemon=True).start()
    codes = {}
    problems = []
    try:
        deadline = time.monotonic() + 60
        last = None
        while time.monotonic() < deadline:
            gone = reaped.is_set()
            r = run_tool([tool, "dump", "--pid", str(p.pid), "--format", "json"], timeout=20)
            codes[describe_exit(r)] = codes.get(describe_exit(r), 0) + 1
            if r.timed_out or r.returncode < 0:
                problems.append("dump %s" % describe_exit(r))
                break
            if r.returncode not in (EXIT_OK, EXIT_ERROR, EXIT_NOPROC, EXIT_NOTPYTHON):
                problems.append("unexpected %s (stderr %r)" % (describe_exit(r), r.stderr[:200]))
            if r.returncode != 0:
                e = check_error_output(r)
                if e:
                    problems.append(e)
            else:
                try:
                    json.loads(r.stdout)
                except ValueError:
                    problems.append("exit 0 with invalid JSON %r" % r.stdout[:100])
            if gone:
                last = r
                break
        if last is None:
            problems.append("the short-lived target did not exit")
        elif last.returncode != EXIT_NOPROC:
            problems.append("after the process was gone: %s, expected exit 3" % describe_exit(last))
    finally:
        kill(p)
    dist = ", ".join("%s x%d" % kv for kv in sorted(codes.items()))
    if problems:
        return ("FAIL", "; ".join(sorted(set(problems))[:5]) + " [%s]" % dist, None)
    return ("PASS", dist, None)


def _functions_of(path):
    """{name: (first line, last line)} of the functions defined at the top of a file."""
    with open(path, "rb") as f:
        source = f.read()
    tree = ast.parse(source)
    funcs = {"<module>": (1, source.count(b"\n") + 1)}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            funcs[node.name] = (node.lineno, node.end_lineno)
    return funcs, source.split(b"\n")


_line_counts = {}


def _line_count(path):
    if path not in _line_counts:
        try:
            with open(path, "rb") as f:
                _line_counts[path] = f.read().count(b"\n") + 1
        except OSError:
            _line_counts[path] = None
    return _line_counts[path]


def check_churn_dump(interp, dump, funcs, source_lines, paused, stats):
    """Every frame of a dump of the churn target must be a real frame."""
    problems = []
    threads = dump.get("threads")
    if not isinstance(threads, list) or not threads:
        return ["no threads"]
    by_id = {}
    for th in threads:
        by_id.setdefault(th.get("thread_id"), []).append(th)
    for tid, same in by_id.items():
        if tid == 0:
            # A thread state not yet bound to its thread (3.12+): not a contract breach,
            # but worth knowing about.
            stats["thread_id 0"] += len(same)
        elif len(same) > 1:
            problems.append("thread_id %s reported %d times: %s" % (tid, len(same), "; ".join(
                "name %r is_main %r native_id %r %d frames%s" % (
                    th.get("name"), th.get("is_main"), th.get("native_id"),
                    len(th.get("frames") or []),
                    " (innermost %s)" % th["frames"][0].get("function") if th.get("frames")
                    else "") for th in same)))
    for th in threads:
        if "error" in th:
            if paused:
                problems.append("thread walk error in a paused dump: %r" % th["error"])
            else:
                stats["live thread errors"] += 1
    if sum(1 for th in threads if th.get("holds_gil") is True) > 1:
        problems.append("more than one thread holds the GIL")
    if sum(1 for th in threads if th.get("is_main") is True) != 1:
        problems.append("%d main threads" % sum(1 for th in threads if th.get("is_main")))
    for th in threads:
        name = th.get("name")
        if name is not None and not re.match(r"^(MainThread|Thread-\d+( \(short_lived\))?|"
                                             r"up and down \d)$", name):
            problems.append("thread name %r" % name)
        for f in th.get("frames") or []:
            fn, func, line = f.get("filename"), f.get("function"), f.get("line")
            where = "%s:%s %s" % (fn, line, func)
            if fn == CHURN:
                if func not in funcs:
                    problems.append("unknown function in %s" % where)
                    continue
                first, last = funcs[func]
                if not (isinstance(line, int) and first <= line <= last):
                    problems.append("line outside the function: %s (%d-%d)" % (where, first, last))
                    continue
                if interp.info >= (3, 11):
                    if f.get("qualname") != func:
                        problems.append("qualname %r for %s" % (f.get("qualname"), where))
                    col, end_col, end_line = f.get("column"), f.get("end_column"), f.get("end_line")
                    if None in (col, end_col, end_line):
                        continue  # an instruction without a position
                    if not (line <= end_line <= last and 0 <= col and
                            end_col <= len(source_lines[end_line - 1]) and
                            (end_line > line or col <= end_col)):
                        problems.append("implausible position %s-%s:%s-%s in %s" % (
                            line, end_line, col, end_col, where))
            elif isinstance(fn, str) and fn.startswith(interp.stdlib + os.sep):
                count = _line_count(fn)
                if count is None or not (isinstance(line, int) and 1 <= line <= count):
                    problems.append("bad standard library frame %s" % where)
            else:
                problems.append("frame from an unexpected file: %s" % where)
    return problems


def check_churn(interp, tool, pause_flag, workdir):
    out = os.path.join(workdir, "churn-%s.json" % interp.label.replace(" ", "_"))
    p = spawn([interp.path, CHURN, out, "--lifetime", "120"],
              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    funcs, source_lines = _functions_of(CHURN)
    counts = {"live ok": 0, "live exit 1": 0, "paused ok": 0}
    stats = {"live thread errors": 0, "thread_id 0": 0}
    problems = []
    try:
        deadline = time.monotonic() + GT_TIMEOUT
        while not os.path.exists(out) and time.monotonic() < deadline and p.poll() is None:
            time.sleep(0.05)
        if not os.path.exists(out):
            return ("FAIL", "the churn target did not start", None)
        start = time.monotonic()
        for i in range(CHURN_DUMPS):
            paused = pause_flag is not None and i % 4 == 3
            argv = [tool, "dump", "--pid", str(p.pid), "--format", "json"]
            r = run_tool(argv + ([pause_flag] if paused else []), timeout=20)
            mode = "paused" if paused else "live"
            if r.timed_out or r.returncode < 0:
                problems.append("%s dump %s" % (mode, describe_exit(r)))
                break
            if r.returncode == 0:
                try:
                    dump = json.loads(r.stdout)
                except ValueError:
                    problems.append("%s dump: invalid JSON" % mode)
                    continue
                problems += ["%s dump: %s" % (mode, x) for x in check_churn_dump(
                    interp, dump, funcs, source_lines, paused, stats)]
                counts["%s ok" % mode] += 1
            elif r.returncode == EXIT_ERROR and not paused:
                # A live read may see the target change under it; it must say so cleanly.
                e = check_error_output(r)
                if e:
                    problems.append(e)
                counts["live exit 1"] += 1
            else:
                problems.append("%s dump: %s, stderr %r" % (mode, describe_exit(r),
                                                            r.stderr[:200]))
            if p.poll() is not None:
                problems.append("the target died during the dumps (%s)" % p.returncode)
                break
        took = time.monotonic() - start
    finally:
        kill(p)
    if counts["live ok"] == 0 and not problems:
        problems.append("no live dump succeeded")
    summary = ", ".join("%s %d" % kv for kv in list(counts.items()) + list(stats.items())) \
        + " (%.1fs)" % took
    if problems:
        uniq = sorted(set(problems))
        return ("FAIL", "; ".join(uniq[:6]) + ("; ... %d more" % (len(uniq) - 6)
                                              if len(uniq) > 6 else "") + " [%s]" % summary, None)
    return ("PASS", summary, None)


def cli_cases(tool, interps):
    """Returns a list of (name, status, reason)."""
    out = []

    def case(name, argv, expect, check_stderr=True, **kw):
        r = run_tool([tool] + argv, timeout=30, **kw)
        if r.timed_out or r.returncode != expect:
            out.append((name, "FAIL", "expected exit %d, got %s; stderr %r" % (
                expect, describe_exit(r), r.stderr[:300])))
            return r
        if check_stderr and expect != 0:
            e = check_error_output(r)
            if e:
                out.append((name, "FAIL", e))
                return r
        out.append((name, "PASS", "exit %d" % r.returncode))
        return r

    r = run_tool([tool, "--version"], timeout=30)
    if r.returncode == 0 and re.match(r"^pydebug \d+\.\d+\.\d+ \(libpydebug \d+\.\d+\.\d+\)\s*$",
                                      r.stdout):
        out.append(("--version", "PASS", r.stdout.strip()))
    else:
        out.append(("--version", "FAIL", "%s, stdout %r" % (describe_exit(r), r.stdout[:100])))

    # A PID that does not exist: a child we have reaped (PIDs are not reused that fast).
    p = subprocess.Popen(["true"])
    p.wait()
    dead = p.pid
    try:
        os.kill(dead, 0)
        out.append(("missing pid", "SKIP", "pid %d was reused" % dead))
    except ProcessLookupError:
        case("missing pid", ["dump", "--pid", str(dead), "--format", "json"], EXIT_NOPROC)

    sleeper = spawn(["sleep", "100"])
    try:
        time.sleep(0.1)
        case("not python (sleep)", ["dump", "--pid", str(sleeper.pid)], EXIT_NOTPYTHON)
    finally:
        kill(sleeper)

    # Permission denied: the tool run as nobody against a root-owned python.
    if os.geteuid() == 0 and interps:
        victim = spawn([interps[-1].path, "-c", "import time; time.sleep(100)"])
        try:
            time.sleep(0.3)

            def drop():
                os.setgroups([])
                os.setgid(65534)
                os.setuid(65534)
            r = run_tool([tool, "dump", "--pid", str(victim.pid)], timeout=30, preexec_fn=drop)
            if r.returncode in (126, 127) or "error while loading shared libraries" in r.stderr:
                out.append(("permission denied", "SKIP",
                            "the tool cannot run as nobody: %r" % r.stderr[:200]))
            elif r.returncode != EXIT_PERM:
                out.append(("permission denied", "FAIL", "expected exit 4, got %s; stderr %r" % (
                    describe_exit(r), r.stderr[:300])))
            else:
                e = check_error_output(r)
                out.append(("permission denied", "FAIL" if e else "PASS", e or "exit 4"))
        except PermissionError as e:
            out.append(("permission denied", "SKIP", "cannot exec the tool as nobody: %s" % e))
        finally:
            kill(victim)

    me = str(os.getpid())
    for name, argv in [
        ("no command", []),
        ("unknown command", ["frobnicate"]),
        ("dump without --pid", ["dump"]),
        ("--pid without value", ["dump", "--pid"]),
        ("--pid abc", ["dump", "--pid", "abc"]),
        ("--pid 12x", ["dump", "--pid", "12x"]),
        ("--pid -5", ["dump", "--pid", "-5"]),
        ("--pid 0", ["dump", "--pid", "0"]),
        ("--pid overflow", ["dump", "--pid", "99999999999999999999"]),
        ("--format xml", ["dump", "--pid", me, "--format", "xml"]),
        ("unknown option", ["dump", "--pid", me, "--no-such-option"]),
    ]:
        case(name, argv, EXIT_ERROR)
    return out


class ToolOptions:
    """What `pydebug dump --help` offers beyond the contract."""

    def __init__(self, tool):
        text = ""
        if tool:
            r = run_tool([tool, "dump", "--help"], timeout=30)
            text = r.stdout + r.stderr
        m = re.search(r"(--(?:pause[a-z]*|blocking|lock|stop))\b", text)
        self.pause = m.group(1) if m else None
        self.max_depth = "--max-depth" in text
        self.no_names = "--no-thread-names" in text


# ---- main -----------------------------------------------------------------------------


def print_table(interps, columns, results):
    width = max([len("version")] + [len(i.label) for i in interps]) + 2
    print("\n%-*s" % (width, "version") + "".join("%-14s" % c for c in columns))
    for i in interps:
        row = "%-*s" % (width, i.label)
        for c in columns:
            status, _, secs = results.get((i.label, c), ("-", "", None))
            cell = status if secs is None else "%s %.2fs" % (status, secs)
            row += "%-14s" % cell
        print(row)
    print()
    for i in interps:
        for c in columns:
            status, reason, _ = results.get((i.label, c), ("-", "", None))
            if reason and (status in ("FAIL", "SKIP") or c in ("exiting", "churn")):
                print("%s %s / %s: %s" % (status, i.label, c, reason))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pydebug", help="the pydebug tool; without it only the targets are checked")
    ap.add_argument("--python", action="append", help="interpreter(s) to use instead of discovery")
    ap.add_argument("--scenario", action="append", choices=sorted(SCENARIOS),
                    help="scenario(s) to run (default: all)")
    ap.add_argument("--jobs", type=int, default=2, help="dumps run at once")
    ap.add_argument("--keep", action="store_true", help="keep the ground truth files")
    ap.add_argument("--no-churn", action="store_true", help="skip the churn robustness runs")
    args = ap.parse_args()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)

    tool = args.pydebug
    if tool is not None and not os.access(tool, os.X_OK):
        print("FAIL: the pydebug tool %s is not there (not built?)" % tool)
        return 1

    interps = discover(args.python)
    found = set("%d.%d" % i.info for i in interps)
    skipped = [v for v in KNOWN_VERSIONS if v not in found]
    print("interpreters: %s" % (", ".join("%s (%s)" % (i.label, i.path) for i in interps)
                                or "none"))
    print("SKIPPED versions (not installed%s): %s" % (
        " or not selected" if args.python else "", ", ".join(skipped) or "none"))
    if not interps:
        print("FAIL: no CPython found, nothing ran")
        return 1

    scenarios = args.scenario or list(SCENARIOS)
    workdir = tempfile.mkdtemp(prefix="pydebug-integration-")
    results = {}
    targets = []
    started = time.monotonic()
    try:
        lifetime = 240
        for interp in interps:
            for s in scenarios:
                t = Target(interp, s, workdir)
                t.start(lifetime)
                targets.append(t)
        deadline = time.monotonic() + GT_TIMEOUT
        for t in targets:
            t.wait_truth(deadline)
        print("%d targets recorded their ground truth in %.1fs" % (
            sum(1 for t in targets if t.truth), time.monotonic() - started))

        options = ToolOptions(tool)
        pause_flag = options.pause
        if tool:
            print("pause option: %s; --max-depth: %s; --no-thread-names: %s" % (
                pause_flag or "none", options.max_depth, options.no_names))
        with concurrent.futures.ThreadPoolExecutor(max(1, args.jobs)) as pool:
            futures = {pool.submit(check_target, t, tool, pause_flag, options): t
                       for t in targets}
            if tool:
                for interp in interps:
                    futures[pool.submit(check_exiting, interp, tool)] = (interp, "exiting")
                if not args.no_churn:
                    for interp in interps:
                        futures[pool.submit(check_churn, interp, tool, pause_flag,
                                            workdir)] = (interp, "churn")
            for fut, what in futures.items():
                if isinstance(what, Target):
                    try:
                        res = fut.result()
                    except Exception as e:  # a bug here must show, not hang the run
                        res = {what.scenario: ("FAIL", "driver error: %r" % e, None)}
                    for col, r in res.items():
                        results[(what.interp.label, col)] = r
                    what.stop()
                else:
                    interp, col = what
                    try:
                        results[(interp.label, col)] = fut.result()
                    except Exception as e:
                        results[(interp.label, col)] = ("FAIL", "driver error: %r" % e, None)
        cli = cli_cases(tool, interps) if tool else []
    finally:
        for t in targets:
            t.stop()
        kill_all()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print("ground truth kept in %s" % workdir)

    columns = list(scenarios)
    if tool:
        columns += ["paused", "no-names", "max-depth", "exiting"]
        if not args.no_churn:
            columns.append("churn")
    print_table(interps, columns, results)
    if cli:
        print("\nCLI error cases:")
        for name, status, reason in cli:
            print("  %-4s %-22s %s" % (status, name, reason))
    failed = [k for k, v in results.items() if v[0] == "FAIL"] + [c for c in cli if c[1] == "FAIL"]
    ran = [k for k, v in results.items() if v[0] == "PASS"]
    print("\n%d FAIL, %d PASS, %d SKIP in %.1fs; versions skipped (not installed): %s" % (
        len(failed), len(ran), sum(1 for v in results.values() if v[0] == "SKIP")
        + sum(1 for c in cli if c[1] == "SKIP"), time.monotonic() - started,
        ", ".join(skipped) or "none"))
    if failed:
        return 1
    if not ran:
        print("FAIL: nothing ran")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
