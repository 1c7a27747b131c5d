"""Calling libpydebug from Python with ctypes: no compiler, no extension module.

    import pydebug_ctypes as pydebug

    with pydebug.Process.attach(pid) as process:
        for thread in process.stacks():
            print(thread.ident, thread.name)
            for frame in thread.frames:
                print("  %s (%s:%d)" % (frame.function, frame.filename, frame.line))

The library is loaded by its SONAME, libpydebug.so.1, through the dynamic loader (so
LD_LIBRARY_PATH and the loader cache apply), or from the path in $PYDEBUG_LIBRARY.

Beyond stacks, the module binds the sampler (Process.sampler(), pydebug/sample.h), the
traceback parser and formatter (parse_traceback(), TracebackParser, pydebug/traceback.h)
and memory snapshots (Process.snapshot(), Snapshot.load(), diff(), pydebug/snapshot.h):

    with pydebug.Process.attach(pid) as process, process.sampler() as sampler:
        for thread in sampler.sample():
            names = [sampler.code_info(f.code).function for f in thread.frames]

    with pydebug.parse_traceback(text) as tb:
        print(tb.exceptions[-1].type, tb.format("json"))

The C API hands out borrowed pointers that die with their owner (see the "valid until"
notes in the headers). This module never lets one escape: stacks(), Sampler.sample(), a
Traceback's exceptions and a Snapshot's tables are copied into plain Python objects (and
a capture or a sample is done with before the call returns), so Python code cannot hold
a dangling pointer. Objects that own a C handle (Process, Sampler, Traceback,
TracebackParser, Snapshot) are context managers with close(); a Process closes the
samplers made from it before it closes itself, since a C sampler borrows its process.
Errors become PydebugError, carrying the library's code and message.

Works with Python 3.6 and later.
"""

import collections
import ctypes
import os
import weakref

__all__ = ["PydebugError", "Process", "Thread", "Frame", "ERRORS", "load", "version",
           "Position", "linetable_format_for_version", "linetable_lookup",
           "version_number", "strerror", "ATTACH_PAUSED", "CAPTURE_PAUSE",
           "CAPTURE_NO_THREAD_NAMES",
           "Sampler", "SampleThread", "SampleFrame", "CodeInfo",
           "Traceback", "TracebackParser", "TbException", "TbFrame", "TbBlock",
           "SyntaxLocation", "parse_traceback", "parse_tracebacks",
           "Snapshot", "TypeEntry", "Mapping", "PymallocUsage", "SizeClass", "DiffRow",
           "diff"]

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

# pydebug/sample.h: pydbg_sampler_flags and pydbg_thread_state.
SAMPLER_THREAD_STATE = 1 << 0
SAMPLER_GIL_ONLY = 1 << 1
SAMPLER_RUNNING_ONLY = 1 << 2
SAMPLER_PAUSE = 1 << 3
# Read the GIL holder with every sample; without it SampleThread.holds_gil is None.
# Implied by SAMPLER_GIL_ONLY. (Added to the header with 1.1's sampler.)
SAMPLER_GIL = 1 << 4
THREAD_STATE_UNKNOWN = 0
THREAD_STATE_RUNNING = 1
THREAD_STATE_IDLE = 2

# pydebug/traceback.h: pydbg_tb_kind, pydbg_tb_relation.
TB_KIND_EXCEPTION = 0
TB_KIND_THREAD = 1
TB_RELATION_NONE = 0
TB_RELATION_CAUSE = 1
TB_RELATION_CONTEXT = 2

# pydebug/snapshot.h: pydbg_snapshot_flags, pydbg_snapshot_contents, pydbg_mapping_kind,
# pydbg_diff_flags.
SNAPSHOT_PAUSE = 1 << 0
SNAPSHOT_NO_CENSUS = 1 << 1
SNAPSHOT_NO_REFERENTS = 1 << 2
SNAPSHOT_HAS_MAPPINGS = 1 << 0
SNAPSHOT_HAS_CENSUS = 1 << 1
SNAPSHOT_HAS_REFERENTS = 1 << 2
SNAPSHOT_WAS_PAUSED = 1 << 3
SNAPSHOT_HAS_PYMALLOC = 1 << 4
MAPPING_ANON = 0
MAPPING_HEAP = 1
MAPPING_STACK = 2
MAPPING_FILE = 3
MAPPING_SPECIAL = 4
DIFF_TRACKED_ONLY = 1 << 0


class _AttachOptions(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_uint32), ("flags", ctypes.c_uint32)]


class _CaptureOptions(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_uint32), ("flags", ctypes.c_uint32),
                ("max_depth", ctypes.c_uint32)]


class _SamplerOptions(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_uint32), ("flags", ctypes.c_uint32),
                ("max_depth", ctypes.c_uint32)]


class _SnapshotOptions(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_uint32), ("flags", ctypes.c_uint32)]


class _DiffOptions(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_uint32), ("by", ctypes.c_uint32),
                ("flags", ctypes.c_uint32)]


class _TbParserOptions(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_uint32), ("flags", ctypes.c_uint32),
                ("max_traceback_bytes", ctypes.c_uint64)]


_p = ctypes.c_void_p
_s = ctypes.c_char_p
_i = ctypes.c_int
_sz = ctypes.c_size_t
_u64 = ctypes.c_uint64
_i64 = ctypes.c_int64
_pi = ctypes.POINTER(ctypes.c_int)
_ps = ctypes.POINTER(_s)

# One table of every function bound: name, result type, argument types. Adding a function
# of the C API is one line here.
_SIGNATURES = [
    ("pydbg_version_number", ctypes.c_uint, []),
    ("pydbg_version_string", _s, []),
    ("pydbg_strerror", _s, [_i]),
    ("pydbg_last_error", _s, []),
    ("pydbg_process_attach", _i, [ctypes.POINTER(_p), _i, ctypes.POINTER(_AttachOptions)]),
    ("pydbg_process_open_core", _i, [ctypes.POINTER(_p), _s, _s, ctypes.POINTER(_AttachOptions)]),
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
    ("pydbg_linetable_format_for_version", _i, [ctypes.c_uint32]),
    ("pydbg_linetable_lookup", _i, [_pi, _pi, _pi, _pi, _i, ctypes.c_char_p, ctypes.c_size_t,
                                    _i, _i]),
    # sample.h
    ("pydbg_sampler_new", _i, [ctypes.POINTER(_p), _p, ctypes.POINTER(_SamplerOptions)]),
    ("pydbg_sampler_free", None, [_p]),
    ("pydbg_sampler_sample", _i, [_p, ctypes.POINTER(_p)]),
    ("pydbg_sampler_code_info", _i, [_p, _u64, _ps, _ps, _ps, _pi]),
    ("pydbg_sampler_sample_count", _u64, [_p]),
    ("pydbg_sampler_torn_count", _u64, [_p]),
    ("pydbg_sampler_thread_sample_count", _u64, [_p]),
    ("pydbg_sampler_read_calls", _u64, [_p]),
    ("pydbg_sampler_errmsg", _s, [_p]),
    ("pydbg_sample_thread_count", _sz, [_p]),
    ("pydbg_sample_thread_ident", _u64, [_p, _sz]),
    ("pydbg_sample_thread_name", _s, [_p, _sz]),
    ("pydbg_sample_thread_native_id", _i64, [_p, _sz]),
    ("pydbg_sample_thread_holds_gil", _i, [_p, _sz]),
    ("pydbg_sample_thread_state", _i, [_p, _sz]),
    ("pydbg_sample_thread_error", _i, [_p, _sz]),
    ("pydbg_sample_thread_truncated", _i, [_p, _sz]),
    ("pydbg_sample_frame_count", _sz, [_p, _sz]),
    ("pydbg_sample_frame_code", _u64, [_p, _sz, _sz]),
    ("pydbg_sample_frame_line", _i, [_p, _sz, _sz]),
    # traceback.h
    ("pydbg_tb_parser_new", _i, [ctypes.POINTER(_p), ctypes.POINTER(_TbParserOptions)]),
    ("pydbg_tb_parser_free", None, [_p]),
    ("pydbg_tb_parser_feed", _i, [_p, _p, _sz]),
    ("pydbg_tb_parser_finish", _i, [_p]),
    ("pydbg_tb_parser_next", _i, [_p, ctypes.POINTER(_p)]),
    ("pydbg_tb_parser_line_count", _u64, [_p]),
    ("pydbg_tb_parser_errmsg", _s, [_p]),
    ("pydbg_traceback_parse", _i, [ctypes.POINTER(_p), _p, _sz]),
    ("pydbg_traceback_free", None, [_p]),
    ("pydbg_traceback_kind", _i, [_p]),
    ("pydbg_traceback_start_line", _u64, [_p]),
    ("pydbg_traceback_end_line", _u64, [_p]),
    ("pydbg_traceback_truncated", _i, [_p]),
    ("pydbg_traceback_prefix", _s, [_p]),
    ("pydbg_traceback_thread_header", _s, [_p]),
    ("pydbg_traceback_thread_id", _u64, [_p]),
    ("pydbg_traceback_thread_name", _s, [_p]),
    ("pydbg_traceback_thread_is_current", _i, [_p]),
    ("pydbg_traceback_exception_count", _sz, [_p]),
    ("pydbg_traceback_exception", _p, [_p, _sz]),
    ("pydbg_tb_exception_type", _s, [_p]),
    ("pydbg_tb_exception_message", _s, [_p]),
    ("pydbg_tb_exception_relation", _i, [_p]),
    ("pydbg_tb_exception_has_traceback", _i, [_p]),
    ("pydbg_tb_exception_frame_count", _sz, [_p]),
    ("pydbg_tb_exception_frame", _p, [_p, _sz]),
    ("pydbg_tb_exception_is_group", _i, [_p]),
    ("pydbg_tb_exception_block_count", _sz, [_p]),
    ("pydbg_tb_exception_block", _p, [_p, _sz]),
    ("pydbg_tb_exception_more_exceptions", _u64, [_p]),
    ("pydbg_tb_exception_syntax", _i, [_p, _ps, _pi, _ps, _pi, _pi]),
    ("pydbg_tb_block_exception_count", _sz, [_p]),
    ("pydbg_tb_block_exception", _p, [_p, _sz]),
    ("pydbg_tb_block_depth_limited", _i, [_p]),
    ("pydbg_tb_frame_filename", _s, [_p]),
    ("pydbg_tb_frame_line", _i, [_p]),
    ("pydbg_tb_frame_function", _s, [_p]),
    ("pydbg_tb_frame_source", _s, [_p]),
    ("pydbg_tb_frame_marker", _s, [_p]),
    ("pydbg_tb_frame_repeat", _u64, [_p]),
    ("pydbg_traceback_format", _i, [ctypes.POINTER(_p), ctypes.POINTER(_sz), _p, _i]),
    # snapshot.h
    ("pydbg_snapshot_take", _i, [ctypes.POINTER(_p), _p, ctypes.POINTER(_SnapshotOptions)]),
    ("pydbg_snapshot_save", _i, [_p, _s]),
    ("pydbg_snapshot_load", _i, [ctypes.POINTER(_p), _s]),
    ("pydbg_snapshot_load_memory", _i, [ctypes.POINTER(_p), _p, _sz]),
    ("pydbg_snapshot_free", None, [_p]),
    ("pydbg_snapshot_contents", ctypes.c_uint32, [_p]),
    ("pydbg_snapshot_pid", _i, [_p]),
    ("pydbg_snapshot_time_ns", _i64, [_p]),
    ("pydbg_snapshot_census_ns", _i64, [_p]),
    ("pydbg_snapshot_python_version", _s, [_p]),
    ("pydbg_snapshot_executable", _s, [_p]),
    ("pydbg_snapshot_census_note", _s, [_p]),
    ("pydbg_snapshot_type_count", _sz, [_p]),
    ("pydbg_snapshot_type_name", _s, [_p, _sz]),
    ("pydbg_snapshot_type_value", _u64, [_p, _sz, _i]),
    ("pydbg_snapshot_mapping_count", _sz, [_p]),
    ("pydbg_snapshot_mapping_path", _s, [_p, _sz]),
    ("pydbg_snapshot_mapping_kind", _i, [_p, _sz]),
    ("pydbg_snapshot_mapping_value", _u64, [_p, _sz, _i]),
    ("pydbg_snapshot_pymalloc_note", _s, [_p]),
    ("pydbg_snapshot_pymalloc_count", _sz, [_p]),
    ("pydbg_snapshot_pymalloc_value", _u64, [_p, _sz, _i]),
    ("pydbg_snapshot_pymalloc_class_value", _u64, [_p, _sz, _sz, _i]),
    ("pydbg_diff_compute", _i, [ctypes.POINTER(_p), _p, _p, ctypes.POINTER(_DiffOptions)]),
    ("pydbg_diff_free", None, [_p]),
    ("pydbg_diff_count", _sz, [_p]),
    ("pydbg_diff_key", _s, [_p, _sz]),
    ("pydbg_diff_value", _i64, [_p, _sz, _i]),
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
        # Samplers borrow the C process handle: they are closed before it is.
        self._samplers = weakref.WeakSet()

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

    @classmethod
    def open_core(cls, core_path, executable_path=None):
        """A process as a core file recorded it (read-only: no pausing, no sampling of a
        live target). executable_path: where the main executable is now, when not at the
        path the core records. Paths are str or bytes (file system encoding)."""
        lib = load()
        handle = _p()
        rc = lib.pydbg_process_open_core(ctypes.byref(handle), os.fsencode(core_path),
                                         None if executable_path is None
                                         else os.fsencode(executable_path), None)
        if rc != 0:
            raise PydebugError(rc, _text(lib.pydbg_last_error()))
        return cls(handle)

    def close(self):
        """Closes the samplers made from this process, then the process handle."""
        for sampler in list(getattr(self, "_samplers", ())):
            sampler.close()
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

    def sampler(self, flags=0, max_depth=0):
        """A Sampler of this process; flags are SAMPLER_* (SAMPLER_GIL for holds_gil)."""
        return Sampler(self, flags, max_depth)

    def snapshot(self, pause=True, census=True, referents=True):
        """A memory Snapshot: the mappings, and the heap census by type unless census=False.

        pause=False lets the target run (a best-effort census); referents=False counts
        tracked objects only.
        """
        lib = load()
        flags = ((SNAPSHOT_PAUSE if pause else 0) | (0 if census else SNAPSHOT_NO_CENSUS) |
                 (0 if referents else SNAPSHOT_NO_REFERENTS))
        options = _SnapshotOptions(ctypes.sizeof(_SnapshotOptions), flags)
        handle = _p()
        rc = lib.pydbg_snapshot_take(ctypes.byref(handle), self._live(), ctypes.byref(options))
        if rc != 0:
            raise PydebugError(rc, _text(lib.pydbg_last_error()))
        return Snapshot(handle)


class _Handle:
    """Owns one C handle, freed by close(), the end of a with block, or the collector."""

    _free = None  # the name of the C function that frees the handle

    def __init__(self, handle):
        self._handle = handle

    def close(self):
        if self._handle:
            getattr(load(), self._free)(self._handle)
            self._handle = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        self.close()

    def _live(self):
        if not self._handle:
            raise PydebugError(ESTATE, "the %s is closed" % type(self).__name__)
        return self._handle


# ---- sampling (pydebug/sample.h) ---------------------------------------------------------

SampleFrame = collections.namedtuple("SampleFrame", "code line")
SampleFrame.__doc__ = ("One frame of a sample: code is a code key (names: "
                       "Sampler.code_info()), line None where unknown.")

SampleThread = collections.namedtuple(
    "SampleThread", "ident native_id name holds_gil state error truncated frames")
SampleThread.__doc__ = ("One thread of a sample: holds_gil is None unless the sampler has "
                        "SAMPLER_GIL; state a THREAD_STATE_*; error 0, or ECORRUPT when the "
                        "stack was torn while read (then frames is empty); frames innermost "
                        "first.")

CodeInfo = collections.namedtuple("CodeInfo", "function qualname filename first_line")
CodeInfo.__doc__ = "The names of a code key; qualname is None before CPython 3.11."


class Sampler(_Handle):
    """Samples every thread's stack of a Process, fast and repeatedly.

    Made by Process.sampler(); closed with close(), a with block, or when its Process is
    closed. Like the C sampler it is used by one thread at a time, and while it samples
    its Process must not be used by another thread.
    """

    _free = "pydbg_sampler_free"

    def __init__(self, process, flags=0, max_depth=0):
        lib = load()
        options = _SamplerOptions(ctypes.sizeof(_SamplerOptions), flags, max_depth)
        handle = _p()
        rc = lib.pydbg_sampler_new(ctypes.byref(handle), process._live(), ctypes.byref(options))
        if rc != 0:
            raise PydebugError(rc, _text(lib.pydbg_last_error()))
        super().__init__(handle)
        self._process = process  # keeps the process alive as long as the sampler
        self._names = {}
        process._samplers.add(self)

    def close(self):
        super().close()
        self._names = {}

    def _check(self, rc):
        if rc != 0:
            raise PydebugError(rc, _text(load().pydbg_sampler_errmsg(self._handle)))

    def sample(self):
        """Takes one sample: a list of SampleThread, copied out of the library."""
        lib = load()
        out = _p()
        self._check(lib.pydbg_sampler_sample(self._live(), ctypes.byref(out)))
        sample = out.value
        threads = []
        for t in range(lib.pydbg_sample_thread_count(sample)):
            gil = lib.pydbg_sample_thread_holds_gil(sample, t)
            frames = [SampleFrame(lib.pydbg_sample_frame_code(sample, t, f),
                                  _opt(lib.pydbg_sample_frame_line(sample, t, f)))
                      for f in range(lib.pydbg_sample_frame_count(sample, t))]
            threads.append(SampleThread(
                ident=lib.pydbg_sample_thread_ident(sample, t),
                native_id=_opt(lib.pydbg_sample_thread_native_id(sample, t)),
                name=_text(lib.pydbg_sample_thread_name(sample, t)),
                holds_gil=None if gil < 0 else bool(gil),
                state=lib.pydbg_sample_thread_state(sample, t),
                error=lib.pydbg_sample_thread_error(sample, t),
                truncated=bool(lib.pydbg_sample_thread_truncated(sample, t)),
                frames=frames))
        return threads

    def code_info(self, code):
        """The CodeInfo of a code key (cached: a key names one code object for the
        sampler's life); PydebugError ENOTFOUND for a key the sampler never gave."""
        info = self._names.get(code)
        if info is None:
            function, qualname, filename = _s(), _s(), _s()
            first_line = ctypes.c_int()
            rc = load().pydbg_sampler_code_info(self._live(), code, ctypes.byref(function),
                                                ctypes.byref(qualname), ctypes.byref(filename),
                                                ctypes.byref(first_line))
            if rc != 0:
                raise PydebugError(rc, "no code key %d in this sampler" % code)
            info = CodeInfo(_text(function.value), _text(qualname.value),
                            _text(filename.value), first_line.value)
            self._names[code] = info
        return info

    @property
    def sample_count(self):
        return load().pydbg_sampler_sample_count(self._live())

    @property
    def torn_count(self):
        return load().pydbg_sampler_torn_count(self._live())

    @property
    def thread_sample_count(self):
        return load().pydbg_sampler_thread_sample_count(self._live())

    @property
    def read_calls(self):
        return load().pydbg_sampler_read_calls(self._live())


# ---- tracebacks (pydebug/traceback.h) ----------------------------------------------------

TbFrame = collections.namedtuple("TbFrame", "filename line function source marker repeat")
TbFrame.__doc__ = ("One printed frame: line None when printed as None or ???; source and "
                   "marker (3.11+ ~~~^^^) None when not printed; repeat is N of "
                   "[Previous line repeated N more times].")

SyntaxLocation = collections.namedtuple("SyntaxLocation",
                                        "filename line text column end_column")

TbBlock = collections.namedtuple("TbBlock", "exceptions depth_limited")
TbBlock.__doc__ = "One sub-exception block of an exception group: a chain of TbException."

TbException = collections.namedtuple(
    "TbException", "type message relation has_traceback frames is_group blocks "
                   "more_exceptions syntax")
TbException.__doc__ = ("One exception of a chain: type and message as printed (None for a "
                       "thread block), relation a TB_RELATION_*, frames outermost first, "
                       "syntax a SyntaxLocation for a SyntaxError block or None.")

_TB_FORMATS = {"text": 0, "json": 1}
# Exception groups nest; CPython prints at most sys.getrecursionlimit() levels, and the
# parser bounds them too, but a copy must not be able to exhaust Python's stack.
_TB_MAX_NESTING = 200


def _tb_frame(lib, f):
    return TbFrame(filename=_text(lib.pydbg_tb_frame_filename(f)),
                   line=_opt(lib.pydbg_tb_frame_line(f)),
                   function=_text(lib.pydbg_tb_frame_function(f)),
                   source=_text(lib.pydbg_tb_frame_source(f)),
                   marker=_text(lib.pydbg_tb_frame_marker(f)),
                   repeat=lib.pydbg_tb_frame_repeat(f))


def _tb_exception(lib, e, depth):
    syntax = None
    filename, text = _s(), _s()
    line, column, end_column = ctypes.c_int(), ctypes.c_int(), ctypes.c_int()
    if lib.pydbg_tb_exception_syntax(e, ctypes.byref(filename), ctypes.byref(line),
                                     ctypes.byref(text), ctypes.byref(column),
                                     ctypes.byref(end_column)) == 1:
        syntax = SyntaxLocation(_text(filename.value), _opt(line.value), _text(text.value),
                                _opt(column.value), _opt(end_column.value))
    blocks = []
    if depth < _TB_MAX_NESTING:
        for i in range(lib.pydbg_tb_exception_block_count(e)):
            b = lib.pydbg_tb_exception_block(e, i)
            chain = [_tb_exception(lib, lib.pydbg_tb_block_exception(b, j), depth + 1)
                     for j in range(lib.pydbg_tb_block_exception_count(b))]
            blocks.append(TbBlock(chain, bool(lib.pydbg_tb_block_depth_limited(b))))
    return TbException(
        type=_text(lib.pydbg_tb_exception_type(e)),
        message=_text(lib.pydbg_tb_exception_message(e)),
        relation=lib.pydbg_tb_exception_relation(e),
        has_traceback=bool(lib.pydbg_tb_exception_has_traceback(e)),
        frames=[_tb_frame(lib, lib.pydbg_tb_exception_frame(e, i))
                for i in range(lib.pydbg_tb_exception_frame_count(e))],
        is_group=bool(lib.pydbg_tb_exception_is_group(e)),
        blocks=blocks,
        more_exceptions=lib.pydbg_tb_exception_more_exceptions(e),
        syntax=syntax)


class Traceback(_Handle):
    """One decoded traceback. Its fields are copied into Python objects when it is made;
    the C handle is kept for format() until close()."""

    _free = "pydbg_traceback_free"

    def __init__(self, handle):
        super().__init__(handle)
        lib = load()
        self.kind = lib.pydbg_traceback_kind(handle)
        self.start_line = lib.pydbg_traceback_start_line(handle)
        self.end_line = lib.pydbg_traceback_end_line(handle)
        self.truncated = bool(lib.pydbg_traceback_truncated(handle))
        self.prefix = _text(lib.pydbg_traceback_prefix(handle))
        self.thread_header = _text(lib.pydbg_traceback_thread_header(handle))
        self.thread_id = lib.pydbg_traceback_thread_id(handle)
        self.thread_name = _text(lib.pydbg_traceback_thread_name(handle))
        self.thread_is_current = bool(lib.pydbg_traceback_thread_is_current(handle))
        self.exceptions = [_tb_exception(lib, lib.pydbg_traceback_exception(handle, i), 0)
                           for i in range(lib.pydbg_traceback_exception_count(handle))]

    def format(self, format="text"):
        """The traceback as CPython's text ("text") or as the JSON object of `pydebug
        traceback --format json` ("json"), as a str."""
        code = _TB_FORMATS.get(format)
        if code is None:
            raise ValueError("format must be one of %s" % ", ".join(sorted(_TB_FORMATS)))
        lib = load()
        out, length = _p(), _sz()
        rc = lib.pydbg_traceback_format(ctypes.byref(out), ctypes.byref(length), self._live(),
                                        code)
        if rc != 0:
            raise PydebugError(rc, _text(lib.pydbg_last_error()))
        try:
            return _text(ctypes.string_at(out, length.value))
        finally:
            lib.pydbg_tb_string_free(out)


def _bytes(data):
    return data.encode("utf-8", "surrogateescape") if isinstance(data, str) else bytes(data)


def parse_traceback(text):
    """The first traceback in text (str or bytes), as a Traceback; PydebugError ENOTFOUND
    if there is none."""
    lib = load()
    data = _bytes(text)
    handle = _p()
    rc = lib.pydbg_traceback_parse(ctypes.byref(handle), data, len(data))
    if rc != 0:
        raise PydebugError(rc, _text(lib.pydbg_last_error()))
    return Traceback(handle)


class TracebackParser(_Handle):
    """Finds every traceback in text given in pieces of any size:

        with TracebackParser() as parser:
            for chunk in stream:
                parser.feed(chunk)
                for tb in parser.tracebacks(): ...
            parser.finish()
            for tb in parser.tracebacks(): ...
    """

    _free = "pydbg_tb_parser_free"

    def __init__(self, max_traceback_bytes=0):
        lib = load()
        options = _TbParserOptions(ctypes.sizeof(_TbParserOptions), 0, max_traceback_bytes)
        handle = _p()
        rc = lib.pydbg_tb_parser_new(ctypes.byref(handle), ctypes.byref(options))
        if rc != 0:
            raise PydebugError(rc, _text(lib.pydbg_last_error()))
        super().__init__(handle)

    def _check(self, rc):
        if rc != 0:
            raise PydebugError(rc, _text(load().pydbg_tb_parser_errmsg(self._handle)))

    def feed(self, data):
        """Gives the next piece of the input (str or bytes)."""
        data = _bytes(data)
        self._check(load().pydbg_tb_parser_feed(self._live(), data, len(data)))

    def finish(self):
        """Marks the end of the input: a traceback cut by it is completed (truncated)."""
        self._check(load().pydbg_tb_parser_finish(self._live()))

    def tracebacks(self):
        """Yields the tracebacks complete so far, in input order, each a Traceback."""
        lib = load()
        while True:
            handle = _p()
            self._check(lib.pydbg_tb_parser_next(self._live(), ctypes.byref(handle)))
            if not handle.value:
                return
            yield Traceback(handle)

    @property
    def line_count(self):
        return load().pydbg_tb_parser_line_count(self._live())


def parse_tracebacks(text):
    """Every traceback in text (str or bytes), as a list of Traceback."""
    with TracebackParser() as parser:
        parser.feed(text)
        parser.finish()
        return list(parser.tracebacks())


# ---- memory snapshots (pydebug/snapshot.h) -----------------------------------------------

TypeEntry = collections.namedtuple(
    "TypeEntry", "name tracked_count tracked_bytes reached_count reached_bytes address")
TypeEntry.__doc__ = "One type of the heap census (pydbg_type_field), sizes in bytes."

Mapping = collections.namedtuple(
    "Mapping", "path kind start end rss pss private_dirty swap perms offset")
Mapping.__doc__ = "One mapping (kind a MAPPING_*, perms 1 r, 2 w, 4 x, 8 private)."

PymallocUsage = collections.namedtuple(
    "PymallocUsage", "interpreter_id arenas arena_bytes block_bytes blocks pools free_pools "
                     "arena_size pool_size size_classes")
PymallocUsage.__doc__ = "One pymalloc allocator's arena usage; size_classes a list of SizeClass."

SizeClass = collections.namedtuple("SizeClass", "block_size pools blocks bytes")

DiffRow = collections.namedtuple(
    "DiffRow", "key count_delta size_delta count size old_count old_size")
DiffRow.__doc__ = "One entry of a diff, largest growth first (pydbg_diff_field)."

_DIFF_BY = {"type": 0, "mapping": 1, "arena": 2}


class Snapshot(_Handle):
    """A memory snapshot: taken with Process.snapshot(), or loaded with Snapshot.load() or
    Snapshot.from_bytes(). Immutable; its getters may be used from any thread."""

    _free = "pydbg_snapshot_free"

    @classmethod
    def load(cls, path):
        lib = load()
        handle = _p()
        rc = lib.pydbg_snapshot_load(ctypes.byref(handle), os.fsencode(path))
        if rc != 0:
            raise PydebugError(rc, _text(lib.pydbg_last_error()))
        return cls(handle)

    @classmethod
    def from_bytes(cls, data):
        lib = load()
        data = bytes(data)
        handle = _p()
        rc = lib.pydbg_snapshot_load_memory(ctypes.byref(handle), data, len(data))
        if rc != 0:
            raise PydebugError(rc, _text(lib.pydbg_last_error()))
        return cls(handle)

    def save(self, path):
        lib = load()
        rc = lib.pydbg_snapshot_save(self._live(), os.fsencode(path))
        if rc != 0:
            raise PydebugError(rc, _text(lib.pydbg_last_error()))

    def _get(self, name):
        return getattr(load(), name)(self._live())

    contents = property(lambda self: self._get("pydbg_snapshot_contents"),
                        doc="A combination of SNAPSHOT_HAS_* and SNAPSHOT_WAS_PAUSED.")
    pid = property(lambda self: self._get("pydbg_snapshot_pid"))
    time_ns = property(lambda self: self._get("pydbg_snapshot_time_ns"))
    census_ns = property(lambda self: self._get("pydbg_snapshot_census_ns"))
    python_version = property(lambda self: _text(self._get("pydbg_snapshot_python_version")))
    executable = property(lambda self: _text(self._get("pydbg_snapshot_executable")))
    census_note = property(lambda self: _text(self._get("pydbg_snapshot_census_note")))
    pymalloc_note = property(lambda self: _text(self._get("pydbg_snapshot_pymalloc_note")))

    def types(self):
        """The heap census: a list of TypeEntry (empty without a census)."""
        lib, h = load(), self._live()
        return [TypeEntry(_text(lib.pydbg_snapshot_type_name(h, i)),
                          *(lib.pydbg_snapshot_type_value(h, i, field) for field in range(5)))
                for i in range(lib.pydbg_snapshot_type_count(h))]

    def mappings(self):
        """The mappings, in address order: a list of Mapping."""
        lib, h = load(), self._live()
        return [Mapping(_text(lib.pydbg_snapshot_mapping_path(h, i)),
                        lib.pydbg_snapshot_mapping_kind(h, i),
                        *(lib.pydbg_snapshot_mapping_value(h, i, field) for field in range(8)))
                for i in range(lib.pydbg_snapshot_mapping_count(h))]

    def pymalloc(self):
        """pymalloc's arena usage, one PymallocUsage per allocator (empty if not recorded:
        then pymalloc_note says why)."""
        lib, h = load(), self._live()
        out = []
        for i in range(lib.pydbg_snapshot_pymalloc_count(h)):
            values = [lib.pydbg_snapshot_pymalloc_value(h, i, field) for field in range(10)]
            classes = [SizeClass(*(lib.pydbg_snapshot_pymalloc_class_value(h, i, c, field)
                                   for field in range(4)))
                       for c in range(min(values[9], 1024))]
            out.append(PymallocUsage(*values[:9], size_classes=classes))
        return out

    def diff(self, new, by="type", tracked_only=False):
        """diff(self, new, ...): what changed from this snapshot to a later one."""
        return diff(self, new, by, tracked_only)


def diff(old, new, by="type", tracked_only=False):
    """Compares two Snapshots: a list of DiffRow, largest growth first.

    by is "type" (tp_name; needs a census in both), "mapping" or "arena"; tracked_only
    counts only the objects gc.get_objects() sees.
    """
    code = _DIFF_BY.get(by)
    if code is None:
        raise ValueError("by must be one of %s" % ", ".join(sorted(_DIFF_BY)))
    lib = load()
    options = _DiffOptions(ctypes.sizeof(_DiffOptions), code,
                           DIFF_TRACKED_ONLY if tracked_only else 0)
    handle = _p()
    rc = lib.pydbg_diff_compute(ctypes.byref(handle), old._live(), new._live(),
                                ctypes.byref(options))
    if rc != 0:
        raise PydebugError(rc, _text(lib.pydbg_last_error()))
    try:
        return [DiffRow(_text(lib.pydbg_diff_key(handle, i)),
                        *(lib.pydbg_diff_value(handle, i, field) for field in range(6)))
                for i in range(lib.pydbg_diff_count(handle))]
    finally:
        lib.pydbg_diff_free(handle)


# ---- line tables ------------------------------------------------------------------------

Position = collections.namedtuple("Position", "line end_line column end_column")
Position.__doc__ = """A source position; -1 where CPython has none (end_line and the
columns before 3.11)."""


def linetable_format_for_version(hexversion):
    """The line-table format (an int, as pydbg_linetable_format) of a CPython version given
    as sys.hexversion; PydebugError EVERSION for a version without a known one."""
    rc = load().pydbg_linetable_format_for_version(hexversion)
    if rc < 0:
        raise PydebugError(rc, strerror(rc))
    return rc


def linetable_lookup(fmt, table, first_line, offset):
    """The Position of the instruction at byte offset `offset`, from a raw line table (the
    bytes of co_linetable / co_lnotab) in format `fmt`; PydebugError ENOTFOUND when a 3.11+
    table has no entry for it."""
    table = bytes(table)
    out = [ctypes.c_int(-1) for _ in range(4)]
    rc = load().pydbg_linetable_lookup(*[ctypes.byref(v) for v in out], fmt, table,
                                       len(table), first_line, offset)
    if rc != 0:
        raise PydebugError(rc, strerror(rc))
    return Position(*(v.value for v in out))
