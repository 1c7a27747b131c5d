# min: 3.11
def f():
    e = ValueError("with notes")
    e.add_note("note one")
    e.add_note("note two")
    raise e


f()
