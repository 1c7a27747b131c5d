# os.abort() from a nested call, with a parked thread.
import os
import crashlib


def level2():
    os.abort()


def level1():
    level2()


crashlib.park_threads(1)
level1()
