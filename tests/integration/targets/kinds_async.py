# -*- coding: utf-8 -*-
"""The asyncio part of the "kinds" scenario (3.5+ syntax, imported only there).

A task's coroutine awaits a chain of coroutines, the innermost of which makes a
blocking call: the thread sits in that call with the coroutine frames on its stack.
"""
import asyncio

import pydbg_gt


async def coro_leaf():
    pydbg_gt.ready()
    pydbg_gt.BLOCK.acquire()


async def coro_middle():
    await asyncio.sleep(0)
    await coro_leaf()


async def task_main():
    await coro_middle()


def run_loop():
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(loop.create_task(task_main()))
    finally:
        loop.close()
