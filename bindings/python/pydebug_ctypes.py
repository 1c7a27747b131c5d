"""Calling libpydebug from Python with ctypes: no compiler, no extension module.

    import pydebug_ctypes as pydebug

    with pydebug.Process.attach(pid) as process:
        for thread in process.stacks():
            print(thread.ident, thread.name)
            for frame in thread.frames:
                print("  %s (%s:%d)" % (frame.function, frame.filename, frame.line))

The library is loaded by its SONAME, libpydebug.so.1, through the dynamic loader (so
LD_LIBRARY_PATH and the loader cache apply), or from the path in $PYDEBUG_LIBRARY.

The C API hands out borrowed pointers that die with their owner (see the "valid until"
notes in the headers). This module never lets one escape: stacks() copies everything into
plain Python objects and frees the capture before it returns, so Python code cannot hold
a dangling pointer. Errors become PydebugError, carrying the library's code and message.

Works with Python 3.6 and later.
"""

import collections
import ctypes
import os

__all__ = ["PydebugError", "Process", "Thread", "Frame", "ERRORS", "load", "version",
           "version_number", "strerror", "ATTACH_PAUSED", "CAPTURE_PAUSE",
           "CAPTURE_NO_THREAD_NAMES"]

SONAME = "libpydebug.so.1"

# pydebug/errors.h, PYDBG_ERROR_LIST: codes are never renumbered, only added.
ERRORS = {
    0: "OK", -1: "EINVAL", -2: "ENOMEM", -3: "ENOPROC", -4: "EPERM", -5: "ENOTPYTHON",
    -6: "EVERSION", -7: "EREAD", -8: "ECORRUPT", -9: "EEXITED", -10: "EIO", -11: "EFORMAT",
    -12: "ELIMIT", -13: "ENOTFOUND", -14: "ENOTSUP", -15: "ESTATE",
}
# The codes as module constants too: pydebug_ctypes.ENOPROC == -3.
globals().update({name: code for code, name in ERRORS.items()})
__all__ += list(ERRORS.values())

# pydebug/process.h and pydebug/frames.h flags.
ATTACH_PAUSED = 1 << 0
ATTACH_PROC_MEM = 1 << 1
CAPTURE_PAUSE = 1 << 0
CAPTURE_NO_THREAD_NAMES = 1 << 1


class _AttachOptions(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_uint32), ("flags", ctypes.c_uint32)]


class _CaptureOptions(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_uint32), ("flags", ctypes.c_uint32),
                ("max_depth", ctypes.c_uint32)]


_p = ctypes.c_void_p
_s = ctypes.c_char_p
_i = ctypes.c_int
_sz = ctypes.c_size_t

# One table of every function bound: name, result type, argument types. Adding a function
# of the C API is one line here.
_SIGNATURES = [
    ("pydbg_version_number", ctypes.c_uint, []),
    ("pydbg_version_string", _s, []),
    ("pydbg_strerror", _s, [_i]),
    ("pydbg_last_error", _s, []),
    ("pydbg_process_attach", _i, [ctypes.POINTER(_p), _i, ctypes.POINTER(_AttachOptions)]),
    ("pydbg_process_close", None, [_p]),
    ("pydbg_process_pause", _i, [_p]),
    ("pydbg_process_resume", _i, [_p]),
    ("pydbg_process_pid", _i, [_p]),
    ("pydbg_process_python_version", _s, [_p]),
    ("pydbg_process_python_hexversion", ctypes.c_uint32, [_p]),
    ("pydbg_process_interpreter_path", _s, [_p]),
    ("pydbg_process_errmsg", _s, [_p]),
    ("pydbg_stacks_capture", _i, [ctypes.POINTER(_p), _p, ctypes.POINTER(_CaptureOptions)]),
    ("pydbg_stacks_free", None, [_p]),
    ("pydbg_stacks_thread_count", _sz, [_p]),
    ("pydbg_stacks_thread", _p, [_p, _sz]),
    ("pydbg_thread_interpreter_id", ctypes.c_int64, [_p]),
    ("pydbg_thread_ident", ctypes.c_uint64, [_p]),
    ("pydbg_thread_native_id", ctypes.c_int64, [_p]),
    ("pydbg_thread_name", _s, [_p]),
    ("pydbg_thread_is_main", _i, [_p]),
    ("pydbg_thread_holds_gil", _i, [_p]),
    ("pydbg_thread_frame_count", _sz, [_p]),
    ("pydbg_thread_frame", _p, [_p, _sz]),
    ("pydbg_thread_truncated", _i, [_p]),
    ("pydbg_thread_error", _i, [_p]),
    ("pydbg_thread_errmsg", _s, [_p]),
    ("pydbg_frame_function", _s, [_p]),
    ("pydbg_frame_qualname", _s, [_p]),
    ("pydbg_frame_filename", _s, [_p]),
    ("pydbg_frame_line", _i, [_p]),
    ("pydbg_frame_end_line", _i, [_p]),
    ("pydbg_frame_column", _i, [_p]),
    ("pydbg_frame_end_column", _i, [_p]),
    ("pydbg_frame_instruction_offset", _i, [_p]),
    ("pydbg_frame_code_address", ctypes.c_uint64, [_p]),
    # char ** as void **: the string must be given back to pydbg_tb_string_free().
    ("pydbg_stacks_format", _i, [ctypes.POINTER(_p), ctypes.POINTER(_sz), _p, _p, _i]),
    ("pydbg_tb_string_free", None, [_p]),
]

_lib = None


def load(path=None):
    """Loads the library (once) and declares every bound function's types.

    Declaring restype/argtypes is not optional: without them ctypes passes and returns
    C int, which truncates 64-bit pointers and integers.
    """
    global _lib
    if _lib is not None and path is None:
        return _lib
    lib = ctypes.CDLL(path or os.environ.get("PYDEBUG_LIBRARY") or SONAME)
    for name, restype, argtypes in _SIGNATURES:
        function = getattr(lib, name)
        function.restype = restype
        function.argtypes = argtypes
    _lib = lib
    return lib


def _text(value):
    # Paths and names from the target are bytes in an unknown encoding: never fail on them.
    return None if value is None else value.decode("utf-8", "surrogateescape")


class PydebugError(Exception):
    """A libpydebug failure: .code (negative), .name ("ENOPROC") and the detailed message."""

    def __init__(self, code, message):
        self.code = code
        self.name = ERRORS.get(code, "E?")
        self.message = message
        super().__init__("%s: %s" % (strerror(code), message) if message else strerror(code))


def version():
    """The loaded library's version string, such as "1.0.0"."""
    return _text(load().pydbg_version_string())


def version_number():
    """The loaded library's version as MAJOR*10000 + MINOR*100 + RELEASE."""
    return load().pydbg_version_number()


def strerror(code):
    """The library's short description of an error code."""
    return _text(load().pydbg_strerror(code))


Frame = collections.namedtuple(
    "Frame", "function qualname filename line end_line column end_column instruction_offset "
             "code_address")
Frame.__doc__ = "One Python frame; positions are None where the target's version has none."

Thread = collections.namedtuple(
    "Thread", "interpreter_id ident native_id name is_main holds_gil truncated error "
              "errmsg frames")
Thread.__doc__ = ("One thread: ident is threading.get_ident() in that thread; frames are "
                  "innermost first; error is 0 or the code that stopped the walk part-way.")


# pydbg_stacks_output_format
_STACKS_FORMATS = {"text": 0, "json": 1, "faulthandler": 2}


def _opt(value):
    return None if value < 0 else value


def _frame(lib, f):
    return Frame(function=_text(lib.pydbg_frame_function(f)),
                 qualname=_text(lib.pydbg_frame_qualname(f)),
                 filename=_text(lib.pydbg_frame_filename(f)),
                 line=_opt(lib.pydbg_frame_line(f)),
                 end_line=_opt(lib.pydbg_frame_end_line(f)),
                 column=_opt(lib.pydbg_frame_column(f)),
                 end_column=_opt(lib.pydbg_frame_end_column(f)),
                 instruction_offset=_opt(lib.pydbg_frame_instruction_offset(f)),
                 code_address=lib.pydbg_frame_code_address(f))


def _thread(lib, t):
    count = lib.pydbg_thread_frame_count(t)
    gil = lib.pydbg_thread_holds_gil(t)
    return Thread(interpreter_id=lib.pydbg_thread_interpreter_id(t),
                  ident=lib.pydbg_thread_ident(t),
                  native_id=_opt(lib.pydbg_thread_native_id(t)),
                  name=_text(lib.pydbg_thread_name(t)),
                  is_main=bool(lib.pydbg_thread_is_main(t)),
                  holds_gil=None if gil < 0 else bool(gil),
                  truncated=bool(lib.pydbg_thread_truncated(t)),
                  error=lib.pydbg_thread_error(t),
                  errmsg=_text(lib.pydbg_thread_errmsg(t)),
                  frames=[_frame(lib, lib.pydbg_thread_frame(t, i)) for i in range(count)])


class Process:
    """An attached process. Use as a context manager, or call close().

    Like the C handle, one Process must not be used by two threads at once; distinct
    Process objects are independent.
    """

    def __init__(self, handle):
        self._handle = handle

    @classmethod
    def attach(cls, pid, paused=False):
        lib = load()
        options = _AttachOptions(ctypes.sizeof(_AttachOptions), ATTACH_PAUSED if paused else 0)
        handle = _p()
        rc = lib.pydbg_process_attach(ctypes.byref(handle), pid, ctypes.byref(options))
        if rc != 0:
            # No handle: the reason is in this thread's last error.
            raise PydebugError(rc, _text(lib.pydbg_last_error()))
        return cls(handle)

    def close(self):
        if self._handle:
            load().pydbg_process_close(self._handle)
            self._handle = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        self.close()

    def _live(self):
        if not self._handle:
            raise PydebugError(-15, "the process handle is closed")  # ESTATE
        return self._handle

    def _check(self, rc):
        if rc != 0:
            raise PydebugError(rc, _text(load().pydbg_process_errmsg(self._handle)))

    @property
    def pid(self):
        return load().pydbg_process_pid(self._live())

    @property
    def python_version(self):
        return _text(load().pydbg_process_python_version(self._live()))

    @property
    def python_hexversion(self):
        return load().pydbg_process_python_hexversion(self._live())

    @property
    def interpreter_path(self):
        return _text(load().pydbg_process_interpreter_path(self._live()))

    def pause(self):
        self._check(load().pydbg_process_pause(self._live()))

    def resume(self):
        self._check(load().pydbg_process_resume(self._live()))

    def _capture(self, pause, thread_names, max_depth):
        lib = load()
        flags = (CAPTURE_PAUSE if pause else 0) | (0 if thread_names else
                                                   CAPTURE_NO_THREAD_NAMES)
        options = _CaptureOptions(ctypes.sizeof(_CaptureOptions), flags, max_depth)
        stacks = _p()
        self._check(lib.pydbg_stacks_capture(ctypes.byref(stacks), self._live(),
                                             ctypes.byref(options)))
        return lib, stacks

    def stacks(self, pause=False, thread_names=True, max_depth=0):
        """Every thread's stack, as a list of Thread, copied out of the library."""
        # Inline, not through _capture(): the capture shows no binding frame below stacks().
        lib = load()
        flags = (CAPTURE_PAUSE if pause else 0) | (0 if thread_names else
                                                   CAPTURE_NO_THREAD_NAMES)
        options = _CaptureOptions(ctypes.sizeof(_CaptureOptions), flags, max_depth)
        stacks = _p()
        self._check(lib.pydbg_stacks_capture(ctypes.byref(stacks), self._live(),
                                             ctypes.byref(options)))
        try:
            count = lib.pydbg_stacks_thread_count(stacks)
            return [_thread(lib, lib.pydbg_stacks_thread(stacks, i)) for i in range(count)]
        finally:
            lib.pydbg_stacks_free(stacks)

    def dump(self, format="text", pause=False, thread_names=True, max_depth=0):
        """Every thread's stack written out by pydbg_stacks_format(), as a str.

        format is "text" (what `pydebug dump` prints), "json" (the CLI contract's
        document, without a final newline) or "faulthandler" (CPython faulthandler's layout).
        """
        code = _STACKS_FORMATS.get(format)
        if code is None:
            raise ValueError("format must be one of %s" % ", ".join(sorted(_STACKS_FORMATS)))
        lib, stacks = self._capture(pause, thread_names, max_depth)
        try:
            out, length = _p(), _sz()
            rc = lib.pydbg_stacks_format(ctypes.byref(out), ctypes.byref(length), stacks,
                                         self._live(), code)
            if rc != 0:
                raise PydebugError(rc, _text(lib.pydbg_last_error()))
            try:
                return _text(ctypes.string_at(out, length.value))
            finally:
                lib.pydbg_tb_string_free(out)
        finally:
            lib.pydbg_stacks_free(stacks)
