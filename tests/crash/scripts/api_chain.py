# faulthandler first, then ours through the API: ours dumps (to fd 3) and then
# calls faulthandler's handler, which dumps to stderr and re-raises.
import faulthandler
import os
import crashlib

faulthandler.enable(all_threads=True)
crashlib.install(fd=int(os.environ["OURS_FD"]))


def inner():
    crashlib.segfault()


crashlib.park_threads(2)
inner()
