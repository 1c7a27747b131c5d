src = "def f():\nreturn 1\n"
exec(src)
