# py2: yes
def broken(:
    pass
