def fail():
    try:
        raise KeyError("k")
    except KeyError as e:
        e2 = TypeError("not raised")
        e2.__context__ = e
        raise ValueError("outer") from e2


fail()
