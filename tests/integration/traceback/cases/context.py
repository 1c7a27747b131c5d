class Outer:
    class Inner(Exception):
        pass


def cleanup():
    raise Outer.Inner("cleanup failed: a: b")


try:
    [1, 2][5]
except IndexError:
    cleanup()
