"""A small program for the demo: three named threads blocked at known places.

Usage: python demo_target.py READY_FILE
Writes READY_FILE once every thread is in place, then waits until killed.
"""
import sys
import threading
import time


class Worker(object):
    def __init__(self, ready):
        self.ready = ready

    def run(self, depth):
        if depth:
            return self.run(depth - 1)
        self.ready.release()
        while True:
            time.sleep(3600)


def serve_forever(ready):
    def handle_request():
        ready.release()
        threading.Event().wait()
    handle_request()


def main():
    ready = threading.Semaphore(0)
    threads = [
        threading.Thread(target=Worker(ready).run, args=(3,), name="worker-1"),
        threading.Thread(target=serve_forever, args=(ready,), name="server"),
    ]
    for thread in threads:
        thread.daemon = True
        thread.start()
    for _ in threads:
        ready.acquire()
    with open(sys.argv[1], "w") as f:
        f.write("ready\n")
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
