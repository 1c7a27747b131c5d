# -*- coding: utf-8 -*-
"""Scenario "deep": a thread blocked at the bottom of a 5000-frame recursion (the
recursion limit raised above it), a thread in a 1000-frame mutual recursion, and the
main thread blocked. Every frame must be reported, none cut.

Usage: python deep.py OUT.json [--lines OUT.txt] [--lifetime S] [--depth N]
"""
import os
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pydbg_gt  # noqa: E402

BLOCK = pydbg_gt.BLOCK


def recurse(n):
    if n > 1:
        return recurse(n - 1)
    pydbg_gt.ready()
    BLOCK.acquire()


def ping(n):
    if n > 1:
        return pong(n - 1)
    pydbg_gt.ready()
    BLOCK.acquire()


def pong(n):
    if n > 1:
        return ping(n - 1)
    pydbg_gt.ready()
    BLOCK.acquire()


def main():
    args = pydbg_gt.parse_args(
        extra=lambda p: p.add_argument("--depth", type=int, default=5000))
    sys.setrecursionlimit(args.depth * 2 + 1000)
    # Up to 3.10 every Python call also recurses in C: give the threads room.
    threading.stack_size(256 * 1024 * 1024)
    deep = threading.Thread(target=recurse, args=(args.depth,), name="deep recursion")
    mutual = threading.Thread(target=ping, args=(1000,), name="mutual recursion")
    for t in (deep, mutual):
        t.daemon = True
        t.start()
    pydbg_gt.start_recorder(args, "deep", 3, extra={"depth": args.depth})
    pydbg_gt.ready()
    BLOCK.acquire()


if __name__ == "__main__":
    main()
