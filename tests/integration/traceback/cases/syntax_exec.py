# py2: yes
source = "x = 1\nif x\n    y = 2\n"
exec(compile(source, "<string>", "exec"))
