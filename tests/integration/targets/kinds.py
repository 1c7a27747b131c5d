# -*- coding: utf-8 -*-
"""Scenario "kinds": one thread per kind of Python frame, each blocked inside it.

- nested closures (qualnames with <locals>), methods, classmethods, staticmethods and a
  property of a nested class;
- a generator blocked in its body, driven by another generator;
- a Python function called back from C (sorted's key) -- on 3.11+ the C call leaves an
  entry frame between the two Python frames;
- a lambda run as a thread target; exec'd code compiled as "<generated>";
- calls spanning several lines (PEP 657 end_line differs from line);
- a thread with a user-given name containing spaces;
- an asyncio task whose coroutine chain runs a blocking call (kinds_async.py, 3.5+);
- the main thread blocked in a C call (lock.acquire) inside a method.

Usage: python kinds.py OUT.json [--lines OUT.txt] [--lifetime S]
"""
import os
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pydbg_gt  # noqa: E402

BLOCK = pydbg_gt.BLOCK


def closure_outer():
    level = 1

    def closure_middle():
        def closure_inner():
            pydbg_gt.ready()
            BLOCK.acquire()
            return level
        return closure_inner()
    return closure_middle()


class Outer(object):
    class Inner(object):
        def method(self):
            return self.prop

        @property
        def prop(self):
            return self.cls_method()

        @classmethod
        def cls_method(cls):
            return cls.static_method()

        @staticmethod
        def static_method():
            pydbg_gt.ready()
            BLOCK.acquire()


def gen_inner():
    yield 1
    pydbg_gt.ready()
    BLOCK.acquire()
    yield 2


def gen_outer():
    for value in gen_inner():
        yield value


def consume_generators():
    total = 0
    for value in gen_outer():
        total += value
    return total


def key_that_blocks(item):
    pydbg_gt.ready()
    BLOCK.acquire()
    return item


def sort_with_callback():
    return sorted([3], key=key_that_blocks)


def multiline_leaf(a, b):
    pydbg_gt.ready()
    BLOCK.acquire(
        True,
    )


def multiline_caller():
    return multiline_leaf(
        1,
        2,
    )


GENERATED_SOURCE = """
def generated_function(ready, block):
    ready()
    block.acquire()

generated_function(ready, block)
"""


def run_generated():
    namespace = {"ready": pydbg_gt.ready, "block": BLOCK}
    exec(compile(GENERATED_SOURCE, "<generated>", "exec"), namespace)


class Waiter(object):
    def wait_in_main(self):
        pydbg_gt.ready()
        BLOCK.acquire()


def main():
    args = pydbg_gt.parse_args()
    bodies = [
        ("closures", closure_outer),
        ("methods", lambda: Outer.Inner().method()),
        ("generators", consume_generators),
        ("c callback", sort_with_callback),
        ("exec", run_generated),
        ("multi-line calls", multiline_caller),
        ("user named thread: spaces & symbols", closure_outer),
    ]
    threads = []
    for name, body in bodies:
        threads.append(threading.Thread(target=body, name=name))
    # A lambda as the target itself, with the default name.
    threads.append(threading.Thread(target=lambda: (pydbg_gt.ready(), BLOCK.acquire())))
    expected = len(threads) + 1
    if sys.version_info >= (3, 5):
        import kinds_async
        threads.append(threading.Thread(target=kinds_async.run_loop, name="asyncio loop"))
        expected += 1
    for t in threads:
        t.daemon = True
        t.start()
    pydbg_gt.start_recorder(args, "kinds", expected)
    Waiter().wait_in_main()


if __name__ == "__main__":
    main()
