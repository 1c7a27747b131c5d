# -*- coding: utf-8 -*-
"""Scenario "unicode": a script in a non-ASCII directory (every frame's filename is
non-ASCII), a thread with a non-ASCII name (1-, 2- and 4-byte UTF-8 characters),
exec'd code with a non-ASCII file name, and on 3.x functions, a class and a method
with non-ASCII names (mödule_δ.py; 2.7 has no non-ASCII identifiers) blocked on a
line where non-ASCII text precedes the call, so PEP 657 byte columns differ from
character columns.

Usage: python unicode_target.py OUT.json [--lines OUT.txt] [--lifetime S]
"""
import importlib
import os
import sys
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)
import pydbg_gt  # noqa: E402

BLOCK = pydbg_gt.BLOCK
PY3 = sys.version_info[0] >= 3

GENERATED_PY2 = """
def generated_ascii(ready, block):
    ready()
    block.acquire()
generated_ascii(ready, block)
"""

GENERATED_PY3 = u"""
def gënerated_ñ(ready, block):
    ready()
    ñ = block.acquire()
gënerated_ñ(ready, block)
"""


def plain_function():
    pydbg_gt.ready()
    BLOCK.acquire()


def run_generated():
    namespace = {"ready": pydbg_gt.ready, "block": BLOCK}
    source = GENERATED_PY3 if PY3 else GENERATED_PY2
    exec(compile(source, "<gënerated-δ>", "exec"), namespace)


def main():
    args = pydbg_gt.parse_args()
    threads = [
        threading.Thread(target=plain_function, name="wörker-δ-😀"),
        threading.Thread(target=run_generated, name="exec ünïcode"),
    ]
    expected = len(threads) + 1
    module = None
    if PY3:
        module = importlib.import_module(u"mödule_δ")
        threads.append(threading.Thread(target=module.entry, name=u"Ωmega"))
        expected += 1
    for t in threads:
        t.daemon = True
        t.start()
    pydbg_gt.start_recorder(args, "unicode", expected)
    if module is not None:
        module.main_blocks()
    else:
        pydbg_gt.ready()
        BLOCK.acquire()


if __name__ == "__main__":
    main()
