# min: 3.11
def f():
    raise ValueError("one\ntwo")


def g():
    try:
        f()
    except Exception as e:
        raise ExceptionGroup("eg", [e, TypeError("t"),
                                    ExceptionGroup("inner", [KeyError("k")])]) from e


def h():
    x = {"a": 1}
    return (x["a"] +
            x["b"])


try:
    g()
except* TypeError:
    h()
