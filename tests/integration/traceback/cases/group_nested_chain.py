# min: 3.11
def inner():
    try:
        raise KeyError("missing")
    except KeyError as e:
        raise ExceptionGroup("inner", [ValueError("a"), TypeError("b")]) from e


try:
    inner()
except ExceptionGroup as eg:
    raise ExceptionGroup("outer", [eg, RuntimeError("c")])
