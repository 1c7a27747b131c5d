# py2: yes
# run: stdin
def f(x):
    return 1 / x


f(0)
