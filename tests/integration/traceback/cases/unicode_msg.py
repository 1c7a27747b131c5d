def f():
    raise ValueError("caf\u00e9 \u2014 \u6f22\u5b57 \"quoted\" back\\slash\ttab")


f()
