#!/usr/bin/env python3
"""`pydebug snapshot` and `pydebug diff` against every installed CPython.

For each interpreter, snap_target.py grows known types between two points and
records its own gc-based census at each (gc.get_objects() and sys.getsizeof(),
plus the untracked objects reached through gc.get_referents()). The driver
takes a paused snapshot at each point and checks the diff against that ground
truth:

- tracked objects (`diff --tracked-only`): the count delta of every type is
  exact; the size delta is exact for the types the target grows, and over all
  types differs by at most 1% of the growth (types with their own __sizeof__,
  such as deque or io buffers, count hidden buffers a snapshot does not see);
- untracked objects reached (`diff`): the deltas of str, int, float and bytes
  agree within 2% + 16 objects (the census follows list, tuple, dict and set
  items, instance attributes and __slots__; gc.get_referents() follows every
  tp_traverse);
- by mapping: the resident total matches /proc/PID/smaps_rollup at the same
  moment within 1%.

2.7 and 3.6 create a few objects (tuples, descriptors) around their own census
that the snapshot sees and the census cannot, so there a count may differ by up
to 3 objects and sizes are compared over all types only.

Also: a live (non-paused) snapshot, the example program, a truncated file and
a corrupt file. Prints "N passed, N failed" at the end; exit status 1 on any failure.
"""
import argparse
import glob
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
TARGET = os.path.join(HERE, "snap_target.py")
GROWN = ["Leaky", "Slotted", "list", "dict", "set", "bytearray", "tuple"]
REACHED = ["str", "int", "float", "bytes"]


def interpreters():
    found = sorted(glob.glob("/root/.pyenv/versions/*/bin/python"))
    found = [p for p in found if os.path.basename(os.path.dirname(os.path.dirname(p)))
             .replace(".", "").isdigit()]
    if os.path.exists("/usr/bin/python3.11"):
        found.append("/usr/bin/python3.11")
    return found


def rss_kib(pid):
    with open("/proc/%d/smaps_rollup" % pid) as f:
        for line in f:
            if line.startswith("Rss:"):
                return int(line.split()[1])
    return None


class Checker(object):
    def __init__(self, label):
        self.label = label
        self.problems = []

    def check(self, ok, message):
        if not ok:
            self.problems.append(message)


def run(cmd, **kw):
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, timeout=120, **kw)


def one(pydebug, example, python, work):
    label = python
    c = Checker(label)
    gt_path = os.path.join(work, "gt.jsonl")
    proc = subprocess.Popen([python, "-u", TARGET, gt_path], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE)
    snaps, rss = [], []
    try:
        for phase in range(2):
            line = proc.stdout.readline()
            if not line.startswith(b"ready"):
                c.check(False, "target did not get ready: %r" % line)
                return c
            path = os.path.join(work, "s%d.snap" % phase)
            r = run([pydebug, "snapshot", "--pid", str(proc.pid), "-o", path,
                     "--format", "json"])
            c.check(r.returncode == 0, "snapshot exit %d: %s" % (r.returncode, r.stderr))
            if r.returncode != 0:
                return c
            summary = json.loads(r.stdout)
            c.check(summary["census"] is True and summary["paused"] is True,
                    "no paused census: %s" % summary.get("census_note"))
            rss.append(rss_kib(proc.pid))
            snaps.append(path)
            if phase == 1:
                live = run([pydebug, "snapshot", "--pid", str(proc.pid), "--live", "-o",
                            os.path.join(work, "live.snap")])
                c.check(live.returncode == 0, "live snapshot failed: %s" % live.stderr)
            proc.stdin.write(b"\n")
            proc.stdin.flush()
        c.check(proc.stdout.readline().startswith(b"done"), "target did not finish")
    finally:
        proc.stdin.close()
        proc.wait()

    records = [json.loads(l) for l in open(gt_path)]
    a = [r for r in records if r.get("phase") == 0][0]
    b = [r for r in records if r.get("phase") == 1][0]
    version = [r for r in records if r.get("phase") == "end"][0]["version"]
    c.label = "%s (%s)" % (python, version)
    slack = 3 if version.startswith("2.") or version.startswith("3.6.") else 0

    def diff(*args):
        r = run([pydebug, "diff", snaps[0], snaps[1], "--format", "json", "--top", "0",
                 "--all"] + list(args))
        c.check(r.returncode == 0, "diff %s failed: %s" % (args, r.stderr))
        return {e["key"]: e for e in json.loads(r.stdout)["entries"]} if r.returncode == 0 \
            else {}

    def gt(side, kind, name):
        return side[kind].get(name, 0)

    tracked = diff("--tracked-only")
    total_growth = 0
    size_error = 0
    for name in sorted(set(a["tracked_counts"]) | set(b["tracked_counts"]) | set(tracked)):
        e = tracked.get(name, {"count_delta": 0, "size_delta": 0, "count": 0})
        dc = gt(b, "tracked_counts", name) - gt(a, "tracked_counts", name)
        ds = gt(b, "tracked_sizes", name) - gt(a, "tracked_sizes", name)
        total_growth += abs(ds)
        size_error += abs(ds - e["size_delta"])
        c.check(abs(e["count_delta"] - dc) <= slack,
                "%s: count delta %d, the target's gc census says %d"
                % (name, e["count_delta"], dc))
        c.check(abs(e["count"] - gt(b, "tracked_counts", name)) <= slack,
                "%s: count %d, the target's gc census says %d"
                % (name, e["count"], gt(b, "tracked_counts", name)))
        if name in GROWN and not slack:
            c.check(e["size_delta"] == ds, "%s: size delta %d, sys.getsizeof() says %d"
                    % (name, e["size_delta"], ds))
    c.check(size_error <= total_growth // 100,
            "tracked size deltas differ by %d bytes in all, over 1%% of %d"
            % (size_error, total_growth))
    for name in ("Leaky", "Slotted"):
        c.check(tracked.get(name, {}).get("count_delta", 0) >= 1000 if name == "Leaky"
                else tracked.get(name, {}).get("count_delta", 0) >= 500,
                "%s did not grow" % name)

    everything = diff()
    for name in REACHED:
        e = everything.get(name, {"count_delta": 0})
        dc = (gt(b, "reached_counts", name) - gt(a, "reached_counts", name) +
              gt(b, "tracked_counts", name) - gt(a, "tracked_counts", name))
        c.check(abs(e["count_delta"] - dc) <= abs(dc) // 50 + 16,
                "%s: %d more objects found, the target's referent walk says %d"
                % (name, e["count_delta"], dc))

    mappings = diff("--by", "mapping")
    total = sum(e["size"] for e in mappings.values())
    if rss[1]:
        c.check(abs(total - rss[1] * 1024) <= rss[1] * 1024 // 100,
                "resident total %d, smaps_rollup says %d" % (total, rss[1] * 1024))
    c.check("[heap]" in mappings or "[anon]" in mappings, "no [heap] or [anon] mapping")

    text = run([pydebug, "diff", snaps[0], snaps[1], "--top", "30"])
    c.check(text.returncode == 0 and "Leaky" in text.stdout, "text diff: %s" % text.stderr)

    if example:
        r = run([example, snaps[0], snaps[1], "30"])
        c.check(r.returncode == 0 and "Leaky" in r.stdout,
                "example failed: %s %s" % (r.stdout, r.stderr))

    # Damaged files are clear errors, never a crash or a wrong answer.
    data = open(snaps[0], "rb").read()
    for what, damaged in (("truncated", data[:len(data) // 2]),
                          ("corrupt", data[:40] + bytes([data[40] ^ 0xFF]) + data[41:])):
        bad = os.path.join(work, what + ".snap")
        with open(bad, "wb") as f:
            f.write(damaged)
        r = run([pydebug, "diff", bad, snaps[1]])
        c.check(r.returncode == 1 and r.stderr.startswith("pydebug: ") and
                r.stderr.count("\n") == 1, "%s file: exit %d, %r" % (what, r.returncode,
                                                                     r.stderr))
    return c


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--pydebug", required=True)
    parser.add_argument("--example")
    parser.add_argument("pythons", nargs="*")
    args = parser.parse_args()
    passed = failed = 0
    for python in args.pythons or interpreters():
        with tempfile.TemporaryDirectory() as work:
            try:
                c = one(args.pydebug, args.example, python, work)
            except Exception as exc:  # a crash of the driver is a failure, not an abort
                c = Checker(python)
                c.check(False, "driver error: %r" % (exc,))
        if c.problems:
            failed += 1
            print("FAIL %s" % c.label)
            for p in c.problems[:20]:
                print("    " + p)
        else:
            passed += 1
            print("ok   %s" % c.label)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed or not passed else 0


if __name__ == "__main__":
    sys.exit(main())
