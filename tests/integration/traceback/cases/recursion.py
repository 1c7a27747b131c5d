# py2: yes
import sys
sys.setrecursionlimit(120)


def down(n):
    return down(n + 1)


down(0)
