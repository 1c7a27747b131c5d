# -*- coding: utf-8 -*-
"""Non-ASCII identifiers for the "unicode" scenario (3.x only).

Names mix 1-byte (Latin-1), 2-byte (Greek, Cyrillic) and 4-byte (CJK Extension B)
UTF-8 characters, which CPython stores in 1-, 2- and 4-byte string kinds.
"""
import pydbg_gt


def 𠀀_deep():
    pydbg_gt.ready()
    é = pydbg_gt.BLOCK.acquire()  # the call starts at byte 9, character 8
    return é


class Δέλτα:
    def μέθοδος(self):
        return 𠀀_deep()


def función_ñ():
    return Δέλτα().μέθοδος()


def entry():
    función_ñ()


def главная():
    pydbg_gt.ready()
    ж = pydbg_gt.BLOCK.acquire()
    return ж


def main_blocks():
    главная()
