import os


def read():
    return os.environ["PYDEBUG_SURELY_UNSET_VARIABLE"]


read()
