# Several threads parked in known stacks; the main thread reads NULL via ctypes.
import sys
import crashlib


def inner():
    crashlib.segfault()


def outer():
    inner()


crashlib.park_threads(4)
outer()
