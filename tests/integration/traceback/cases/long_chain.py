def level(n):
    if n == 0:
        raise LookupError("bottom")
    try:
        level(n - 1)
    except Exception as e:
        if n % 2:
            raise RuntimeError("level %d" % n) from e
        raise RuntimeError("level %d" % n)


level(4)
