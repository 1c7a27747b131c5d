# The crash happens in a worker thread; the main thread waits in join().
import threading
import crashlib


def worker_inner():
    crashlib.segfault()


def worker():
    worker_inner()


crashlib.park_threads(2)
t = threading.Thread(target=worker)
t.start()
t.join()
