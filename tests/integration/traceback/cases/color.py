# min: 3.13
# env: FORCE_COLOR=1 PYTHON_COLORS=1
def f(d):
    return d["x"] + 1


f({})
