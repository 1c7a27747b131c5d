#!/usr/bin/python3
"""`pydebug record` and `pydebug top` end to end, against every installed CPython.

For each interpreter, the many_threads scenario (../targets) records its own ground
truth and blocks; then:
  - record --format folded: every line must be one ground-truth thread's stack,
    outermost first, each frame "function (file:line)" as documented, rooted at
    "Thread 0x<ident>" (with the thread's name where it has one), and every thread must
    appear;
  - record --format speedscope: valid JSON in speedscope's format, one sampled profile
    per thread, and every sample's stack is that thread's ground truth;
  - top (stdout not a terminal): plain tables, whose functions are the innermost
    frames of the ground truth, own percentages adding up to about 100.
Once (newest interpreter): record stops on SIGINT and writes its file (exit 0); record
of a process that exits writes what it got and exits 0 with a note; the error exit codes
of the CLI contract (3 no process, 5 not Python, 1 usage).

Standard library only; run with /usr/bin/python3.
"""
import argparse
import glob
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TARGETS = os.path.join(os.path.dirname(HERE), "targets")
GT_TIMEOUT = 90.0


def interpreters():
    found = sorted(glob.glob("/root/.pyenv/versions/*/bin/python"))
    if os.path.exists("/usr/bin/python3.11"):
        found.append("/usr/bin/python3.11")
    env = os.environ.get("PYDBG_TEST_PYTHONS")
    return env.split(":") if env else found


def target_env():
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env.update(LC_ALL="C.UTF-8", PYTHONIOENCODING="utf-8", PYTHONDONTWRITEBYTECODE="1")
    return env


def start_target(python, tmp, index):
    out = os.path.join(tmp, "gt-%d.json" % index)
    p = subprocess.Popen([python, os.path.join(TARGETS, "many_threads.py"), out,
                          "--lifetime", "200", "--threads", "6"],
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, env=target_env(), start_new_session=True)
    return p, out


def stop(p):
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except OSError:
        pass
    p.wait()


def wait_truth(p, path):
    deadline = time.time() + GT_TIMEOUT
    while not os.path.exists(path):
        if time.time() > deadline or p.poll() is not None:
            return None
        time.sleep(0.05)
    with open(path, encoding="utf-8") as f:
        truth = json.load(f)
    if "error" in truth:
        return None
    # The recorder thread exits after writing: wait until only the recorded ones remain.
    deadline = time.time() + 15
    while len(os.listdir("/proc/%d/task" % p.pid)) != len(truth["threads"]):
        if time.time() > deadline:
            break
        time.sleep(0.05)
    return truth


def frame_label(fr, qualname_ok):
    name = fr["qualname"] if qualname_ok and fr.get("qualname") else fr["function"]
    return "%s (%s:%d)" % (name.replace(";", "_"), fr["filename"].replace(";", "_"), fr["line"])


def run(cmd, timeout=60, **kw):
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, timeout=timeout, **kw)


def check_version(pydebug, python, truth, pid, tmp, errors):
    label = truth["python_version"]
    qual = truth["hexversion"] >= 0x030B0000
    expected = {}
    for t in truth["threads"]:
        root = "Thread 0x%x" % t["thread_id"]
        if t["name"]:
            root += " (%s)" % t["name"].replace(";", "_")
        expected[t["thread_id"]] = (root, [frame_label(f, qual) for f in reversed(t["frames"])])

    # folded
    out = os.path.join(tmp, "profile-%d.folded" % pid)
    r = run([pydebug, "record", "--pid", str(pid), "--rate", "300", "--duration", "0.7",
             "-o", out])
    if r.returncode != 0:
        errors.append("%s: record folded: exit %d: %s" % (label, r.returncode, r.stderr))
        return
    if not re.search(r"^pydebug: record: \d+ samples in [\d.]+ s, \d+ Hz achieved, \d+ thread "
                     r"stacks, [\d.]+% torn", r.stderr, re.M):
        errors.append("%s: record: no summary line on stderr: %r" % (label, r.stderr))
    seen = set()
    total = 0
    with open(out, encoding="utf-8") as f:
        lines = f.read().splitlines()
    for line in lines:
        stack, _, count = line.rpartition(" ")
        parts = stack.split(";")
        m = re.match(r"Thread 0x([0-9a-f]+)", parts[0])
        if not m or not count.isdigit():
            errors.append("%s: folded line malformed: %r" % (label, line[:200]))
            continue
        ident = int(m.group(1), 16)
        if ident not in expected:
            errors.append("%s: folded: unknown thread %x" % (label, ident))
            continue
        root, frames = expected[ident]
        if parts[0] != root or parts[1:] != frames:
            errors.append("%s: folded stack of %s:\n  got      %s\n  expected %s" % (
                label, root, ";".join(parts)[:400], ";".join([root] + frames)[:400]))
        seen.add(ident)
        total += int(count)
    if seen != set(expected):
        errors.append("%s: folded: threads %s missing" % (
            label, sorted("%x" % i for i in set(expected) - seen)))
    if len(lines) != len(expected):
        errors.append("%s: folded: %d lines for %d unchanging threads" % (
            label, len(lines), len(expected)))

    # speedscope
    out = os.path.join(tmp, "profile-%d.json" % pid)
    r = run([pydebug, "record", "--pid", str(pid), "--rate", "300", "--duration", "0.5",
             "--format", "speedscope", "-o", out])
    if r.returncode != 0:
        errors.append("%s: record speedscope: exit %d: %s" % (label, r.returncode, r.stderr))
        return
    with open(out, encoding="utf-8") as f:
        doc = json.load(f)
    if doc.get("$schema") != "https://www.speedscope.app/file-format-schema.json":
        errors.append("%s: speedscope: no $schema" % label)
    frames = doc["shared"]["frames"]
    names = set()
    for prof in doc["profiles"]:
        names.add(prof["name"])
        if prof["type"] != "sampled" or len(prof["samples"]) != len(prof["weights"]):
            errors.append("%s: speedscope profile %s malformed" % (label, prof["name"]))
            continue
        m = re.match(r"Thread 0x([0-9a-f]+)", prof["name"])
        ident = int(m.group(1), 16) if m else None
        if ident not in expected or prof["name"] != expected[ident][0]:
            errors.append("%s: speedscope: unexpected profile %r" % (label, prof["name"]))
            continue
        if sum(prof["weights"]) != prof["endValue"]:
            errors.append("%s: speedscope: weights do not add up to endValue" % label)
        for stack in prof["samples"]:
            got = ["%s (%s:%d)" % (frames[i]["name"].replace(";", "_"),
                                   frames[i]["file"].replace(";", "_"), frames[i]["line"])
                   for i in stack]
            if got != expected[ident][1]:
                errors.append("%s: speedscope stack of %s: %s" % (label, prof["name"],
                                                                   ";".join(got)[:300]))
                break
    if names != set(v[0] for v in expected.values()):
        errors.append("%s: speedscope: profiles %s, threads %s" % (
            label, sorted(names), sorted(v[0] for v in expected.values())))

    # top, not on a terminal
    r = run([pydebug, "top", "--pid", str(pid), "--rate", "200", "--interval", "0.4",
             "--duration", "1.3", "--rows", "50"])
    if r.returncode != 0:
        errors.append("%s: top: exit %d: %s" % (label, r.returncode, r.stderr))
        return
    if "\033" in r.stdout:
        errors.append("%s: top wrote escape sequences to a non-terminal" % label)
    tables = [t for t in r.stdout.split("\n\n") if t.startswith("pydebug top:")]
    innermost = set()
    for t in truth["threads"]:
        fr = t["frames"][0]
        innermost.add(fr["qualname"] if qual and fr.get("qualname") else fr["function"])
    if len(tables) < 2:
        errors.append("%s: top printed %d tables in 1.3 s at 0.4 s intervals:\n%s" % (
            label, len(tables), r.stdout[:500]))
    for table in r.stdout.split("\n\n"):
        own_sum = 0.0
        for row in table.splitlines():
            m = re.match(r"\s*([\d.]+)%\s+([\d.]+)%\s+[\d.]+s\s+[\d.]+s\s+(.*) \((.*):(-?\d+)\)$",
                         row)
            if not m:
                continue
            own_sum += float(m.group(1))
            if float(m.group(1)) > 0 and m.group(3) not in innermost:
                errors.append("%s: top: %s has own time but is no thread's innermost frame"
                              % (label, m.group(3)))
        if "%Own" in table and abs(own_sum - 100.0) > 0.5 and "0 thread stacks" not in table:
            errors.append("%s: top: own percentages add up to %.2f" % (label, own_sum))


def check_signals_and_errors(pydebug, python, tmp, errors):
    # SIGINT stops a recording without --duration and still writes the file.
    t = subprocess.Popen([python, "-c", "import time\nwhile True: time.sleep(1)"],
                         stdin=subprocess.DEVNULL)
    time.sleep(0.5)
    out = os.path.join(tmp, "sigint.folded")
    rec = subprocess.Popen([pydebug, "record", "--pid", str(t.pid), "-o", out],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           universal_newlines=True)
    time.sleep(1.0)
    rec.send_signal(signal.SIGINT)
    _, err = rec.communicate(timeout=30)
    if rec.returncode != 0 or not os.path.exists(out) or os.path.getsize(out) == 0:
        errors.append("record after SIGINT: exit %s, file %s: %s" % (
            rec.returncode, os.path.exists(out), err))
    # The process exiting ends the recording: exit 0, a note, the file written.
    out = os.path.join(tmp, "exit.folded")
    rec = subprocess.Popen([pydebug, "record", "--pid", str(t.pid), "-o", out],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           universal_newlines=True)
    time.sleep(0.7)
    t.kill()
    t.wait()
    _, err = rec.communicate(timeout=30)
    if rec.returncode != 0 or "exited" not in err or os.path.getsize(out) == 0:
        errors.append("record of an exiting process: exit %s: %s" % (rec.returncode, err))
    # Exit codes of the contract.
    dead = subprocess.Popen(["true"])
    dead.wait()
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        for cmd, want in (
                ([pydebug, "record", "--pid", str(dead.pid), "-o", out], 3),
                ([pydebug, "top", "--pid", str(dead.pid), "--duration", "1"], 3),
                ([pydebug, "record", "--pid", str(sleeper.pid), "-o", out], 5),
                ([pydebug, "record", "--pid", "1x", "-o", out], 1),
                ([pydebug, "record", "--pid", str(sleeper.pid)], 1),
                ([pydebug, "record", "--pid", str(sleeper.pid), "--rate", "0", "-o", out], 1),
                ([pydebug, "top", "--pid", str(sleeper.pid), "--bogus"], 1)):
            r = run(cmd)
            lines = r.stderr.splitlines()
            if r.returncode != want or len(lines) != 1 or not lines[0].startswith("pydebug: "):
                errors.append("%s: exit %d (want %d), stderr %r" % (" ".join(cmd[1:]),
                                                                      r.returncode, want,
                                                                      r.stderr))
    finally:
        sleeper.kill()
        sleeper.wait()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pydebug", required=True)
    args = ap.parse_args()
    pythons = interpreters()
    failed = 0
    with tempfile.TemporaryDirectory(prefix="pydbg-record-") as tmp:
        started = [(py,) + start_target(py, tmp, i) for i, py in enumerate(pythons)]
        try:
            for py, p, gt_path in started:
                truth = wait_truth(p, gt_path)
                errors = []
                if truth is None:
                    errors.append("no ground truth")
                else:
                    check_version(args.pydebug, py, truth, p.pid, tmp, errors)
                stop(p)
                print("%-28s %s" % (py, "PASS" if not errors else "FAIL"))
                for e in errors[:10]:
                    print("    " + e)
                failed += bool(errors)
        finally:
            for _, p, _ in started:
                stop(p)
        errors = []
        check_signals_and_errors(args.pydebug, pythons[-1], tmp, errors)
        print("%-28s %s" % ("signals and exit codes", "PASS" if not errors else "FAIL"))
        for e in errors:
            print("    " + e)
        failed += bool(errors)
    return 1 if failed or not pythons else 0


if __name__ == "__main__":
    sys.exit(main())
