# kind: threads
# Several threads blocked at known places, then a faulthandler dump of all of
# them; the ground truth is sys._current_frames() taken on the same line.
import faulthandler
import json
import os
import sys
import threading
import time

ready = threading.Event()
stop = threading.Event()


class Worker:
    def run(self, depth):
        if depth:
            return self.run(depth - 1)
        return stop.wait()


threads = [threading.Thread(target=Worker().run, args=(i,)) for i in range(3)]
for t in threads:
    t.start()
time.sleep(0.5)


def describe(frames):
    out = {}
    for ident, f in frames.items():
        stack = []
        while f is not None:
            code = f.f_code
            stack.append([code.co_filename, f.f_lineno, code.co_name,
                          getattr(code, "co_qualname", None)])
            f = f.f_back
        out[str(ident)] = stack
    return out


def snap(): frames = sys._current_frames(); faulthandler.dump_traceback(all_threads=True); return describe(frames)  # noqa: E501,E704


truth = snap()
stop.set()
for t in threads:
    t.join()
with open(os.environ["TBTRUTH_OUT"], "w") as f:
    json.dump({"kind": "threads", "current": threading.current_thread().ident,
               "threads": truth}, f)
