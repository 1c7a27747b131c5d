# Crash while the malloc lock is held: the LD_PRELOADed shim's malloc takes its
# lock and then writes to NULL when asked for this magic size. The shim aborts
# (exit 97) if anything calls malloc on the signal stack, that is inside the
# dump, and a dump that needed the lock would hang.
import ctypes
import crashlib

libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]


def allocate():
    libc.malloc(0x5EED5)


crashlib.park_threads(2)
allocate()
