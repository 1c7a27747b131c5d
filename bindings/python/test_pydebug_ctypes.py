"""Tests of the ctypes binding against the library it loads (run by tests/consumers).

    python3 -m unittest -v test_pydebug_ctypes

The ground truth is outside the binding: the installed header's PYDBG_ERROR_LIST (found
through $PYDEBUG_TEST_INCLUDE_DIR), the operating system (a PID that just exited, a process
that is not Python), this interpreter's own view of its stack (sys._getframe()), and,
for the sampler, tracebacks and snapshots, what other Python processes say of themselves:
tests/consumers/target.py ($PYDEBUG_TEST_TARGET, run by $PYDEBUG_TEST_TARGET_PYTHON)
records its threads and counts the objects it grows; a failing script records its own
traceback with the traceback module.
"""
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
import unittest

import pydebug_ctypes as pydebug


def header_errors():
    include = os.environ.get("PYDEBUG_TEST_INCLUDE_DIR")
    if not include:
        return None
    with open(os.path.join(include, "pydebug", "errors.h")) as f:
        text = f.read()
    return {int(code): (name, description) for name, code, description in
            re.findall(r'X\((\w+),\s*(-?\d+),\s*"([^"]*)"\)', text)}


def header_flags(header, prefix):
    """{NAME: value} of every `PYDBG_<prefix>NAME = 1u << N` in an installed header."""
    include = os.environ.get("PYDEBUG_TEST_INCLUDE_DIR")
    if not include:
        return None
    with open(os.path.join(include, "pydebug", header)) as f:
        text = f.read()
    return {name: 1 << int(shift) for name, shift in
            re.findall(r"PYDBG_%s(\w+)\s*=\s*1u\s*<<\s*(\d+)" % prefix, text)}


def target_python():
    """The Python that runs targets and scripts; the tests need one under tests/consumers."""
    python, script = (os.environ.get("PYDEBUG_TEST_TARGET_PYTHON"),
                      os.environ.get("PYDEBUG_TEST_TARGET"))
    if not (python and script):
        if os.environ.get("PYDEBUG_TEST_INCLUDE_DIR"):
            raise AssertionError("run_consumer.py did not say which target to run")
        raise unittest.SkipTest("PYDEBUG_TEST_TARGET(_PYTHON) is not set")
    return python, script


class Target:
    """A target.py process of our own, killed on exit; .truth is its own record."""

    def __init__(self):
        self.python, self.script = target_python()

    def __enter__(self):
        self.dir = tempfile.mkdtemp(prefix="pydebug-target-")
        self.truth_path = os.path.join(self.dir, "truth.json")
        self.proc = subprocess.Popen([self.python, self.script, self.truth_path,
                                      "--lifetime", "120"])
        deadline = time.time() + 60
        while not os.path.exists(self.truth_path):
            if self.proc.poll() is not None or time.time() > deadline:
                self.__exit__()
                raise AssertionError("the target did not record its threads")
            time.sleep(0.02)
        with open(self.truth_path) as f:
            self.truth = json.load(f)
        return self

    def __exit__(self, *exc):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)

    def grow(self, sequence):
        """Has the target grow (SIGUSR1); returns the ConsumerGrowth count it reports."""
        os.kill(self.proc.pid, signal.SIGUSR1)
        path = self.truth_path + ".grown"
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                with open(path) as f:
                    seq, count = map(int, f.read().split())
                if seq == sequence:
                    return count
            except (OSError, ValueError):
                pass
            time.sleep(0.02)
        with open("/proc/%d/status" % self.proc.pid) as f:
            status = f.read()
        raise AssertionError("the target did not grow: %s" % status)


class TestLibrary(unittest.TestCase):
    def test_version(self):
        number = pydebug.version_number()
        self.assertEqual(pydebug.version(), "%d.%d.%d" % (number // 10000, number // 100 % 100,
                                                          number % 100))
        expected = os.environ.get("PYDEBUG_TEST_EXPECT_VERSION")
        if expected:
            self.assertEqual(pydebug.version(), expected)

    def test_error_table_matches_header(self):
        errors = header_errors()
        if errors is None:
            self.skipTest("PYDEBUG_TEST_INCLUDE_DIR is not set")
        self.assertGreater(len(errors), 10)
        self.assertEqual(pydebug.ERRORS, {code: name for code, (name, _) in errors.items()})
        for code, (name, description) in errors.items():
            self.assertEqual(pydebug.strerror(code), description)
            self.assertEqual(getattr(pydebug, name), code)


class TestLineTable(unittest.TestCase):
    """Against the positions the target's interpreter gives each instruction of a function
    (tests/consumers/linetable_truth.py, run by the driver: $PYDEBUG_TEST_LINETABLE_TRUTH)."""

    def test_lookup_matches_the_interpreter(self):
        truth = {"position": []}
        with open(os.environ["PYDEBUG_TEST_LINETABLE_TRUTH"]) as f:
            for line in f:
                key, _, value = line.strip().partition(" ")
                if key == "position":
                    truth["position"].append([int(v) for v in value.split()])
                else:
                    truth[key] = value
        fmt = pydebug.linetable_format_for_version(int(truth["hexversion"]))
        table = bytes.fromhex(truth["table"])
        self.assertTrue(truth["position"])
        for offset, *want in truth["position"]:
            got = pydebug.linetable_lookup(fmt, table, int(truth["first_line"]), offset)
            self.assertEqual(list(got), want, "offset %d" % offset)

    def test_errors(self):
        with self.assertRaises(pydebug.PydebugError) as caught:
            pydebug.linetable_format_for_version(0x01000000)  # Python 1.0
        self.assertEqual(caught.exception.code, pydebug.EVERSION)
        with self.assertRaises(pydebug.PydebugError) as caught:
            pydebug.linetable_lookup(99, b"", 1, 0)
        self.assertEqual(caught.exception.code, pydebug.EINVAL)


class TestAttach(unittest.TestCase):
    def test_no_such_process(self):
        child = subprocess.Popen(["true"])
        child.wait()
        with self.assertRaises(pydebug.PydebugError) as caught:
            pydebug.Process.attach(child.pid)
        self.assertEqual(caught.exception.code, pydebug.ENOPROC)
        self.assertEqual(caught.exception.name, "ENOPROC")
        self.assertTrue(caught.exception.message)

    def test_not_python(self):
        child = subprocess.Popen(["sleep", "60"])
        try:
            with self.assertRaises(pydebug.PydebugError) as caught:
                pydebug.Process.attach(child.pid)
            self.assertEqual(caught.exception.code, pydebug.ENOTPYTHON)
        finally:
            child.kill()
            child.wait()

    def test_core_errors(self):
        # The core file itself is checked in tests/consumers (dump_stacks.py --core).
        with self.assertRaises(pydebug.PydebugError) as caught:
            pydebug.Process.open_core("/nonexistent/core")
        self.assertEqual(caught.exception.code, pydebug.ENOTFOUND)
        with tempfile.NamedTemporaryFile() as garbage:
            garbage.write(b"not an ELF core file\n" * 100)
            garbage.flush()
            with self.assertRaises(pydebug.PydebugError) as caught:
                pydebug.Process.open_core(garbage.name)
            self.assertEqual(caught.exception.code, pydebug.EFORMAT)
            self.assertTrue(caught.exception.message)

    def test_own_stack(self):
        # This interpreter attached to itself: the thread running this test must show the
        # very functions Python says it is running, below the binding's own stacks().
        expected = ["stacks"]
        frame = sys._getframe()
        while frame is not None:
            expected.append(frame.f_code.co_name)
            frame = frame.f_back
        with pydebug.Process.attach(os.getpid()) as process:
            self.assertEqual(process.pid, os.getpid())
            self.assertEqual(process.python_version,
                             "%d.%d.%d" % sys.version_info[:3])
            threads = process.stacks()
        mine = [t for t in threads if t.ident == threading.get_ident()]
        self.assertEqual(len(mine), 1, threads)
        self.assertEqual([f.function for f in mine[0].frames], expected)
        self.assertEqual(mine[0].frames[1].filename, os.path.abspath(__file__))
        self.assertEqual(mine[0].name, threading.current_thread().name)

    def test_dump_formats(self):
        # The formatted capture holds what the structured one does: JSON read back by
        # Python's json, faulthandler's layout with this thread's header and frames.
        with pydebug.Process.attach(os.getpid()) as process:
            doc = json.loads(process.dump("json"))
            fh = process.dump("faulthandler")
            text = process.dump()
            with self.assertRaises(ValueError):
                process.dump("xml")
        self.assertEqual(doc["pid"], os.getpid())
        mine = [t for t in doc["threads"] if t["thread_id"] == threading.get_ident()]
        self.assertEqual(len(mine), 1, doc)
        names = [f["function"] for f in mine[0]["frames"]]
        self.assertEqual(names[:2], ["_capture", "dump"])
        self.assertEqual(names[2], "test_dump_formats")
        header = "Thread 0x%016x (most recent call first):\n" % threading.get_ident()
        self.assertIn(header, fh)
        block = fh.split(header, 1)[1].split("\n\n", 1)[0]
        me = '  File "%s", line ' % os.path.abspath(__file__)
        self.assertTrue(any(line.startswith(me) and line.endswith(" in test_dump_formats")
                            for line in block.splitlines()), block)
        self.assertTrue(text.startswith("Process %d: Python " % os.getpid()), text)

    def test_closed_handle(self):
        process = pydebug.Process.attach(os.getpid())
        process.close()
        process.close()  # closing twice is harmless, as pydbg_process_close(NULL) is
        with self.assertRaises(pydebug.PydebugError) as caught:
            process.stacks()
        self.assertEqual(caught.exception.code, pydebug.ESTATE)


class TestSampler(unittest.TestCase):
    SAMPLES = 40

    def test_flags_match_header(self):
        flags = header_flags("sample.h", "SAMPLER_")
        if flags is None:
            self.skipTest("PYDEBUG_TEST_INCLUDE_DIR is not set")
        self.assertGreaterEqual(len(flags), 4)
        for name, value in flags.items():
            self.assertEqual(getattr(pydebug, "SAMPLER_" + name), value, name)

    def test_samples_match_the_target(self):
        with Target() as target, pydebug.Process.attach(target.proc.pid) as process:
            truth = target.truth["threads"]
            flags = pydebug.SAMPLER_GIL | pydebug.SAMPLER_THREAD_STATE
            with process.sampler(flags=flags) as sampler:
                torn = 0
                for _ in range(self.SAMPLES):
                    threads = {t.ident: t for t in sampler.sample()}
                    for want in truth:
                        got = threads.get(want["ident"])
                        self.assertIsNotNone(got, (want, sorted(threads)))
                        self.assertEqual(got.name, want["name"])
                        if got.error:
                            self.assertEqual(got.error, pydebug.ECORRUPT)
                            self.assertEqual(got.frames, [])
                            torn += 1
                            continue
                        infos = [sampler.code_info(f.code) for f in got.frames]
                        self.assertEqual([(i.function, f.line, i.first_line, i.filename)
                                          for i, f in zip(infos, got.frames)],
                                         [(f["function"], f["line"], f["first_line"],
                                           f["file"]) for f in want["frames"]])
                        self.assertFalse(got.truncated)
                        # Every thread is blocked in acquire(): asleep in the kernel.
                        self.assertEqual(got.state, pydebug.THREAD_STATE_IDLE)
                        self.assertTrue(os.path.isdir("/proc/%d/task/%d" % (
                            target.proc.pid, got.native_id)), got)
                        self.assertIn(got.holds_gil, (True, False))
                    self.assertLessEqual(sum(1 for t in threads.values() if t.holds_gil), 1)
                self.assertLessEqual(torn, self.SAMPLES * len(truth) // 10)
                self.assertEqual(sampler.sample_count, self.SAMPLES)
                self.assertGreaterEqual(sampler.thread_sample_count, self.SAMPLES * len(truth))
                self.assertEqual(sampler.torn_count, torn)
                self.assertGreater(sampler.read_calls, 0)
                with self.assertRaises(pydebug.PydebugError) as caught:
                    sampler.code_info(0)
                self.assertEqual(caught.exception.code, pydebug.ENOTFOUND)
                kept = sampler
            # The with block closed it; so does closing the process.
            with self.assertRaises(pydebug.PydebugError) as caught:
                kept.sample()
            self.assertEqual(caught.exception.code, pydebug.ESTATE)
            again = process.sampler()
        self.assertFalse(again._handle)

    def test_sampler_of_exited_process(self):
        with Target() as target, pydebug.Process.attach(target.proc.pid) as process:
            with process.sampler() as sampler:
                sampler.sample()
                target.proc.kill()
                target.proc.wait()
                with self.assertRaises(pydebug.PydebugError) as caught:
                    sampler.sample()
                self.assertIn(caught.exception.code, (pydebug.EEXITED, pydebug.ENOPROC,
                                                      pydebug.EREAD))


# A failing program that records its own traceback with the traceback module: the chain in
# printed order, each exception's line as format_exception_only() prints it, its frames as
# extract_tb() gives them, and how it follows the previous one.
FAILING_SCRIPT = r'''
import sys
import traceback


def record(path, exc):
    chain = []
    while exc is not None and len(chain) < 20:
        chain.append(exc)
        exc = exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)
    chain.reverse()
    with open(path, "w") as f:
        for i, e in enumerate(chain):
            relation = "none" if i == 0 else ("cause" if e.__cause__ is chain[i - 1]
                                              else "context")
            line = traceback.format_exception_only(type(e), e)[-1].rstrip("\n")
            f.write("exception\t%s\t%s\n" % (relation, line))
            for fs in traceback.extract_tb(e.__traceback__):
                f.write("frame\t%s\t%d\t%s\n" % (fs.filename, fs.lineno, fs.name))


def hook(kind, value, tb):
    record(sys.argv[1], value)
    sys.__excepthook__(kind, value, tb)


sys.excepthook = hook


def lookup(table, key):
    return table[key]


def parse_config(text):
    try:
        return lookup({"timeout": 3}, text)
    except KeyError as e:
        raise ValueError("no setting %r in the configuration" % text) from e


def report(name):
    try:
        parse_config(name)
    except ValueError:
        counts = {}
        return counts["errors"] + 1


report("retries")
'''


def read_script_truth(path):
    """[(relation, type, message, [(filename, line, function)])] from the script's record."""
    chain = []
    with open(path) as f:
        for line in f.read().splitlines():
            fields = line.split("\t")
            if fields[0] == "exception":
                kind, _, message = fields[2].partition(": ")
                chain.append((fields[1], kind, message, []))
            else:
                chain[-1][3].append((fields[1], int(fields[2]), fields[3]))
    return chain


_RELATIONS = {"none": pydebug.TB_RELATION_NONE, "cause": pydebug.TB_RELATION_CAUSE,
              "context": pydebug.TB_RELATION_CONTEXT}


class TestTraceback(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        python, _ = target_python()
        cls.dir = tempfile.mkdtemp(prefix="pydebug-tb-")
        script = os.path.join(cls.dir, "failing.py")
        with open(script, "w") as f:
            f.write(FAILING_SCRIPT)
        record = os.path.join(cls.dir, "record.txt")
        env = dict(os.environ, PYTHONIOENCODING="utf-8", NO_COLOR="1")
        result = subprocess.run([python, script, record], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=env)
        assert result.returncode == 1, result
        cls.stderr = result.stderr.decode("utf-8")
        cls.truth = read_script_truth(record)
        assert len(cls.truth) == 3, cls.truth

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def check(self, tb):
        self.assertEqual(tb.kind, pydebug.TB_KIND_EXCEPTION)
        self.assertFalse(tb.truncated)
        got = [(e.relation, e.type, e.message,
                [(f.filename, f.line, f.function) for f in e.frames]) for e in tb.exceptions]
        want = [(_RELATIONS[r], t, m, frames) for r, t, m, frames in self.truth]
        self.assertEqual(got, want)
        for e in tb.exceptions:
            self.assertTrue(e.has_traceback)
            self.assertFalse(e.is_group)
            self.assertIsNone(e.syntax)

    def test_parse_matches_the_script(self):
        with pydebug.parse_traceback(self.stderr) as tb:
            self.check(tb)
            self.assertEqual(tb.start_line, 1)
            self.assertEqual(tb.end_line, len(self.stderr.splitlines()))
            self.assertEqual(tb.format("text").rstrip("\n"), self.stderr.rstrip("\n"))
            doc = json.loads(tb.format("json"))
            with self.assertRaises(ValueError):
                tb.format("xml")
        self.assertEqual([(e["type"], e["message"], e["relation"]) for e in doc["exceptions"]],
                         [(t, m, None if r == "none" else r) for r, t, m, _ in self.truth])
        self.assertEqual([[(f["filename"], f["line"], f["function"]) for f in e["frames"]]
                          for e in doc["exceptions"]], [fr for _, _, _, fr in self.truth])
        with self.assertRaises(pydebug.PydebugError) as caught:
            tb.format()
        self.assertEqual(caught.exception.code, pydebug.ESTATE)

    def test_streaming_with_log_prefixes(self):
        # Two copies in a log, every line prefixed, fed a few bytes at a time.
        lines = self.stderr.splitlines()
        log, starts = [], []
        for copy in range(2):
            log.append("2024-05-01 12:00:0%d INFO service started" % copy)
            starts.append(len(log) + 1)
            log.extend("2024-05-01 12:00:0%d ERROR %s" % (copy, line) for line in lines)
        log.append("2024-05-01 12:00:09 INFO done")
        text = "\n".join(log) + "\n"
        found = []
        with pydebug.TracebackParser() as parser:
            for i in range(0, len(text), 5):
                parser.feed(text[i:i + 5].encode("utf-8"))
                found.extend(parser.tracebacks())
            parser.finish()
            found.extend(parser.tracebacks())
            self.assertEqual(parser.line_count, len(log))
            with self.assertRaises(pydebug.PydebugError) as caught:
                parser.feed("more")
            self.assertEqual(caught.exception.code, pydebug.ESTATE)
        self.assertEqual([tb.start_line for tb in found], starts)
        for copy, tb in enumerate(found):
            self.check(tb)
            self.assertEqual(tb.prefix, "2024-05-01 12:00:0%d ERROR " % copy)
            self.assertEqual(tb.end_line, starts[copy] + len(lines) - 1)
            tb.close()

    def test_no_traceback(self):
        with self.assertRaises(pydebug.PydebugError) as caught:
            pydebug.parse_traceback("nothing to see here\n")
        self.assertEqual(caught.exception.code, pydebug.ENOTFOUND)
        self.assertEqual(pydebug.parse_tracebacks(b"still nothing\n"), [])


class TestSnapshot(unittest.TestCase):
    def test_diff_shows_the_growth(self):
        with Target() as target, pydebug.Process.attach(target.proc.pid) as process:
            with process.snapshot() as before:
                count = target.grow(1)
                with process.snapshot() as after:
                    for snapshot in (before, after):
                        self.assertEqual(snapshot.pid, target.proc.pid)
                        self.assertEqual(snapshot.python_version,
                                         target.truth["python_version"])
                        want = (pydebug.SNAPSHOT_HAS_MAPPINGS | pydebug.SNAPSHOT_HAS_CENSUS |
                                pydebug.SNAPSHOT_WAS_PAUSED)
                        self.assertEqual(snapshot.contents & want, want, snapshot.census_note)
                        self.assertTrue(snapshot.mappings())
                    self.assertGreaterEqual(after.time_ns, before.time_ns)
                    self.assertNotIn("ConsumerGrowth", [t.name for t in before.types()])
                    grown = [t for t in after.types() if t.name == "ConsumerGrowth"]
                    self.assertEqual(len(grown), 1, grown)
                    self.assertEqual(grown[0].tracked_count, count)
                    for tracked_only in (False, True):
                        rows = {r.key: r for r in pydebug.diff(before, after,
                                                               tracked_only=tracked_only)}
                        row = rows["ConsumerGrowth"]
                        self.assertEqual((row.count_delta, row.count, row.old_count),
                                         (1000, count, 0))
                        self.assertEqual(row.size_delta, row.size)
                        self.assertGreater(row.size, 0)
                    # Saved and loaded back, from a file and from bytes: nothing changed.
                    path = os.path.join(target.dir, "after.pydsnap")
                    after.save(path)
                    with pydebug.Snapshot.load(path) as loaded:
                        with open(path, "rb") as f:
                            data = f.read()
                        with pydebug.Snapshot.from_bytes(data) as copy:
                            for other in (loaded, copy):
                                self.assertEqual(other.types(), after.types())
                                self.assertEqual(other.pid, after.pid)
                                rows = after.diff(other)
                                self.assertTrue(rows)
                                self.assertTrue(all(r.count_delta == 0 and r.size_delta == 0
                                                    for r in rows))
                    mapping_rows = pydebug.diff(before, after, by="mapping")
                    self.assertTrue(mapping_rows)

    def test_load_errors(self):
        with self.assertRaises(pydebug.PydebugError) as caught:
            pydebug.Snapshot.from_bytes(b"not a snapshot at all")
        self.assertEqual(caught.exception.code, pydebug.EFORMAT)
        self.assertTrue(caught.exception.message)
        with self.assertRaises(pydebug.PydebugError) as caught:
            pydebug.Snapshot.load("/nonexistent/pydebug.snapshot")
        self.assertEqual(caught.exception.code, pydebug.EIO)


if __name__ == "__main__":
    unittest.main()
