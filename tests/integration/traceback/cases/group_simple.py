# min: 3.11
def task(i):
    raise OSError(i, "task %d failed" % i)


def run():
    errors = []
    for i in range(3):
        try:
            task(i)
        except OSError as e:
            errors.append(e)
    raise ExceptionGroup("tasks failed", errors)


run()
