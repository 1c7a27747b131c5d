# py2: yes
def f():
    raise KeyboardInterrupt()


f()
