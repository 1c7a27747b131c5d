def fail():
    raise RuntimeError("wrapper") from ValueError("never raised")


fail()
