"""Tests of the ctypes binding against the library it loads (run by tests/consumers).

    python3 -m unittest -v test_pydebug_ctypes

The ground truth is outside the binding: the installed header's PYDBG_ERROR_LIST (found
through $PYDEBUG_TEST_INCLUDE_DIR), the operating system (a PID that just exited, a process
that is not Python) and this interpreter's own view of its stack (sys._getframe()).
"""
import json
import os
import re
import subprocess
import sys
import threading
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


if __name__ == "__main__":
    unittest.main()
