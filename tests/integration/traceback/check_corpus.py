#!/usr/bin/env python3
"""Checks the traceback decoder against CPython's own view of its tracebacks.

1. gen_corpus.py runs every case under every installed CPython;
2. `pydebug traceback --format json` on each printed text must agree with the
   recorded traceback.TracebackException on every field (type, message,
   relation, frames with file/line/function/source, SyntaxError details,
   exception groups), and thread dumps with sys._current_frames();
3. the round trip text -> structure -> text gives back the printed lines, for
   feeds of 1, 3, 64 bytes and whole;
4. logs built from the corpus (constant and timestamp prefixes, CRLF, noise
   lines that mention Traceback, log records between tracebacks, a traceback
   cut by the end of the input) decode to the same tracebacks at the right lines.
"""
import argparse
import json
import os
import random
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import gen_corpus  # noqa: E402

ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")
failures = []


def fail(where, what):
    failures.append("%s: %s" % (where, what))


def run_cli(cli, path):
    proc = subprocess.run([cli, "traceback", "--format", "json", path], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=120)
    if proc.returncode != 0:
        raise RuntimeError("pydebug traceback %s: exit %d: %s" % (path, proc.returncode,
                                                                   proc.stderr.decode()))
    return json.loads(proc.stdout.decode("utf-8"))["tracebacks"]


def type_ok(parsed, truth):
    printed = truth.get("printed")
    if printed:
        return parsed == printed
    mod, qual, name = truth.get("module"), truth.get("qualname"), truth.get("name")
    allowed = {mod + "." + qual, mod + "." + name} if mod else set()
    if mod in (None, "builtins", "exceptions", "__main__"):
        allowed |= {qual, name}
    return parsed in allowed


def expand(frames):
    out = []
    for f in frames:
        one = [f["filename"], f["line"], f["function"], f["source"]]
        out.extend([one] * (1 + f.get("repeated", 0)))
    return out


def compare_chain(where, parsed, truth):
    if len(parsed) != len(truth):
        fail(where, "%d exceptions decoded, CPython has %d" % (len(parsed), len(truth)))
        return
    for i, (p, t) in enumerate(zip(parsed, truth)):
        w = "%s exc[%d]" % (where, i)
        if not type_ok(p["type"], t["type"]):
            fail(w, "type %r, CPython %r" % (p["type"], t["type"]))
        if p["message"] != t["message"]:
            fail(w, "message %r, CPython %r" % (p["message"], t["message"]))
        if p["relation"] != t["relation"]:
            fail(w, "relation %r, CPython %r" % (p["relation"], t["relation"]))
        tf = [[f[0], f[1], f[2], f[3].strip() if f[3] else None] for f in t["frames"]]
        pf = expand(p["frames"])
        if pf != tf:
            fail(w, "frames differ:\n  decoded %r\n  CPython %r" % (pf, tf))
        ts = t.get("syntax")
        ps = p.get("syntax")
        if ts and ts.get("filename") is not None and ts.get("text") is not None:
            if not ps:
                fail(w, "SyntaxError block not decoded")
            else:
                if ps["filename"] != ts["filename"] or ps["line"] != ts["line"]:
                    fail(w, "syntax location %r, CPython %r" % (ps, ts))
                if (ps["text"] or "").strip() != ts["text"].strip():
                    fail(w, "syntax text %r, CPython %r" % (ps["text"], ts["text"]))
        if "group" in t:
            pg = p.get("group")
            if pg is None:
                fail(w, "exception group not decoded")
                continue
            if len(pg) != len(t["group"]):
                fail(w, "%d group blocks, CPython printed %d" % (len(pg), len(t["group"])))
                continue
            for j, (pb, tb) in enumerate(zip(pg, t["group"])):
                compare_chain("%s group[%d]" % (w, j), pb["exceptions"], tb)
            if p.get("more_exceptions", 0) != t.get("more_exceptions", 0):
                fail(w, "more_exceptions %r, CPython %r" % (p.get("more_exceptions"),
                                                          t.get("more_exceptions")))
        elif "group" in p:
            fail(w, "decoded a group CPython does not have")


def check_truth(name, tbs, truth):
    if truth["kind"] == "threads":
        if len(tbs) != len(truth["threads"]):
            fail(name, "%d thread blocks, CPython has %d threads" % (len(tbs), len(truth["threads"])))
        for tb in tbs:
            stack = truth["threads"].get(str(tb.get("thread_id")))
            if tb.get("kind") != "thread" or stack is None:
                fail(name, "thread block %r matches no thread" % tb.get("thread_id"))
                continue
            exc = tb["exceptions"][0]
            if exc["type"] is not None:
                fail(name, "thread block has an exception type")
            got = [[f["filename"], f["line"], f["function"]] for f in exc["frames"]]
            want = [s[:3] for s in stack]
            if got != want:
                fail(name, "thread %s frames:\n  decoded %r\n  CPython %r" % (tb["thread_id"], got, want))
            if tb.get("current_thread") != (tb["thread_id"] == truth["current"]):
                fail(name, "current thread flag wrong for %s" % tb["thread_id"])
        return
    if len(tbs) != 1:
        fail(name, "%d tracebacks decoded, expected 1" % len(tbs))
        return
    if tbs[0].get("truncated"):
        fail(name, "marked truncated")
    compare_chain(name, tbs[0]["exceptions"], truth["exceptions"])


def roundtrip(tool, path, chunk):
    proc = subprocess.run([tool, path, str(chunk)], stdout=subprocess.PIPE, timeout=120)
    if proc.returncode != 0:
        raise RuntimeError("tb_roundtrip %s %d: exit %d" % (path, chunk, proc.returncode))
    out = []
    for part in proc.stdout.decode("utf-8").split("\x1e\n"):
        if part:
            start, _, text = part.partition("\n")
            out.append((int(start), text))
    return out


def check_roundtrip(tool, name, path, kind):
    with open(path, encoding="utf-8") as f:
        original = ANSI.sub("", f.read())
    results = [roundtrip(tool, path, chunk) for chunk in (0, 1, 3, 64)]
    for r in results[1:]:
        if r != results[0]:
            fail(name, "feeding in small pieces changes the result")
    texts = [t for _, t in results[0]]
    rebuilt = "\n".join(texts) if kind == "threads" else "".join(texts)
    if rebuilt.rstrip("\n") != original.rstrip("\n"):
        fail(name, "round trip differs:\n--- printed\n%s\n--- formatted\n%s" % (original, rebuilt))


NOISE = [
    "INFO:app.server:request 17 handled in 12 ms",
    "DEBUG worker heartbeat ok",
    "WARNING:root:Traceback collection is disabled for job 9",
    "[INFO] saw the word Traceback in a user comment",
    "ERROR printing 'Traceback (most recent call last):' would confuse naive tools",
    "INFO File \"config.yaml\" reloaded",
]


def build_log(entries, style, rng):
    """Returns (text, [(line where the traceback starts, name)])."""
    lines, placed = [], []

    def prefix(i):
        if style == "docker":
            return "web-1  | "
        if style == "timestamp":
            return "2024-05-%02d %02d:%02d:%02d,%03d ERROR [worker-3] " % (
                1 + i % 28, i % 24, i % 60, (i * 7) % 60, i % 1000)
        return ""

    for name, text in entries:
        for _ in range(rng.randint(1, 4)):
            lines.append(prefix(len(lines)) + rng.choice(NOISE))
        placed.append((len(lines) + 1, name))
        for t in text.split("\n")[:-1] if text.endswith("\n") else text.split("\n"):
            lines.append(prefix(len(lines)) + t)
    lines.append(prefix(len(lines)) + NOISE[0])
    eol = "\r\n" if style == "timestamp" else "\n"
    return eol.join(lines) + eol, placed


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cli", required=True)
    ap.add_argument("--roundtrip", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--example", help="examples/decode_traceback, run on every log")
    args = ap.parse_args()

    produced = gen_corpus.generate(args.work)
    if len(produced) < 20:
        print("too few corpus entries generated: %d" % len(produced))
        return 1
    decoded = {}
    for name, label, version, meta in produced:
        text_path = os.path.join(args.work, name + ".txt")
        with open(os.path.join(args.work, name + ".truth.json")) as f:
            truth = json.load(f)
        try:
            tbs = run_cli(args.cli, text_path)
            check_truth(name, tbs, truth)
            check_roundtrip(args.roundtrip, name, text_path, truth["kind"])
        except Exception as e:  # noqa: BLE001 - report and go on
            fail(name, "error: %s" % e)
            continue
        decoded[name] = tbs

    # logs: the same tracebacks, found again among noise and prefixes
    rng = random.Random(4242)
    entries = []
    for name, label, version, meta in produced:
        if name in decoded and meta["kind"] == "exception":
            with open(os.path.join(args.work, name + ".txt"), encoding="utf-8") as f:
                entries.append((name, ANSI.sub("", f.read()) if "color" in name else f.read()))
    for style in ("plain", "docker", "timestamp"):
        text, placed = build_log(entries, style, rng)
        # a traceback cut by the end of the input
        cut_name, cut_text = entries[0]
        cut_lines = cut_text.split("\n")[:3]
        text += "\n".join(cut_lines) + "\n"
        log_path = os.path.join(args.work, "log-%s.txt" % style)
        with open(log_path, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        try:
            tbs = run_cli(args.cli, log_path)
        except Exception as e:  # noqa: BLE001
            fail(log_path, "error: %s" % e)
            continue
        if args.example:
            out = subprocess.run([args.example, log_path], stdout=subprocess.PIPE,
                                 timeout=120).stdout.decode("utf-8")
            starts = [int(m) for m in re.findall(r"^line (\d+): ", out, re.M)]
            if starts != [tb["start_line"] for tb in tbs]:
                fail(log_path, "examples/decode_traceback lists other tracebacks")
        if len(tbs) != len(placed) + 1:
            fail(log_path, "%d tracebacks decoded, %d placed" % (len(tbs), len(placed) + 1))
        for tb, (line, name) in zip(tbs, placed):
            want = decoded[name][0]
            if tb["start_line"] != line + want["start_line"] - 1:
                fail(log_path, "%s found at line %d, placed at %d" % (name, tb["start_line"], line))
            strip = lambda d: {k: v for k, v in d.items() if k not in ("start_line", "end_line", "file")}  # noqa: E731
            if strip(tb) != strip(want):
                fail(log_path, "%s decodes differently in the log:\n  %r\n  %r" % (name, tb, want))
        if len(tbs) == len(placed) + 1:
            last = tbs[-1]
            if not last.get("truncated") or len(last["exceptions"][0]["frames"]) != 1:
                fail(log_path, "the cut traceback: %r" % last)

    # the command line: stdin, errors as one "pydebug: " line and exit status 1
    sample = os.path.join(args.work, produced[0][0] + ".txt")
    with open(sample, "rb") as f:
        via_stdin = subprocess.run([args.cli, "traceback", "--format", "json"], stdin=f,
                                   stdout=subprocess.PIPE, timeout=60)
    if via_stdin.returncode != 0 or json.loads(via_stdin.stdout)["tracebacks"][0]["file"] != "<stdin>":
        fail("cli", "reading standard input")
    for argv in (["traceback", os.path.join(args.work, "no-such-file.log")],
                 ["traceback", "--format", "yaml", sample], ["traceback", "--bogus"],
                 ["traceback", sample, "--format"]):
        proc = subprocess.run([args.cli] + argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              timeout=60)
        err = proc.stderr.decode()
        if proc.returncode != 1 or not err.startswith("pydebug: ") or err.count("\n") != 1:
            fail("cli", "%r: exit %d, stderr %r" % (argv, proc.returncode, err))
        if proc.stdout:
            fail("cli", "%r wrote to stdout on error" % (argv,))
    empty = subprocess.run([args.cli, "traceback", "--format", "json", os.devnull],
                           stdout=subprocess.PIPE, timeout=60)
    if empty.returncode != 0 or json.loads(empty.stdout) != {"tracebacks": []}:
        fail("cli", "empty input")

    for f in failures:
        print("FAIL " + f)
    print("%d corpus entries, %d failures" % (len(produced), len(failures)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
