# py2: yes
def divide(a, b):
    return (a /
            b)


total = divide(
    1,
    0,
)
