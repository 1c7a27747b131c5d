//! Raw declarations of the libpydebug C API (`#include <pydebug.h>`), written by hand from
//! the public headers, which remain the reference for every function's contract: what it
//! returns, who owns what ("valid until …"), and its thread safety.
//!
//! Everything here is `unsafe` to call. The `pydebug` crate wraps it safely.
//!
//! Kept in the headers' order, one section per header, so that a new header or function
//! is added where a reader expects it. Handles are opaque: only options structures have a
//! layout, and it only ever grows at the end (guarded by `struct_size`).
#![allow(non_camel_case_types)]

use std::marker::{PhantomData, PhantomPinned};
use std::mem::size_of;

// std::os::raw rather than core::ffi: the latter needs Rust 1.64, Debian 12 has 1.63.
pub use std::os::raw::{c_char, c_int, c_uint, c_void};

macro_rules! opaque {
    ($($(#[$doc:meta])* $name:ident;)*) => {$(
        $(#[$doc])*
        #[repr(C)]
        pub struct $name {
            _data: [u8; 0],
            // Not Send, Sync or Unpin: the C library decides what may cross threads.
            _marker: PhantomData<(*mut c_void, PhantomPinned)>,
        }
    )*};
}

// ---- pydebug/version.h ----

pub const PYDBG_VERSION_MAJOR: c_uint = 1;
pub const PYDBG_VERSION_MINOR: c_uint = 0;
pub const PYDBG_VERSION_RELEASE: c_uint = 0;
/// MAJOR*10000 + MINOR*100 + RELEASE of the headers these declarations were written from.
pub const PYDBG_VERSION_NUMBER: c_uint =
    PYDBG_VERSION_MAJOR * 10000 + PYDBG_VERSION_MINOR * 100 + PYDBG_VERSION_RELEASE;

// ---- pydebug/errors.h (PYDBG_ERROR_LIST: never renumbered, only added to) ----

pub const PYDBG_OK: c_int = 0;
pub const PYDBG_EINVAL: c_int = -1;
pub const PYDBG_ENOMEM: c_int = -2;
pub const PYDBG_ENOPROC: c_int = -3;
pub const PYDBG_EPERM: c_int = -4;
pub const PYDBG_ENOTPYTHON: c_int = -5;
pub const PYDBG_EVERSION: c_int = -6;
pub const PYDBG_EREAD: c_int = -7;
pub const PYDBG_ECORRUPT: c_int = -8;
pub const PYDBG_EEXITED: c_int = -9;
pub const PYDBG_EIO: c_int = -10;
pub const PYDBG_EFORMAT: c_int = -11;
pub const PYDBG_ELIMIT: c_int = -12;
pub const PYDBG_ENOTFOUND: c_int = -13;
pub const PYDBG_ENOTSUP: c_int = -14;
pub const PYDBG_ESTATE: c_int = -15;

/// Every error code with its name, in header order: for bindings' own tables and tests.
pub const PYDBG_ERRORS: &[(c_int, &str)] = &[
    (PYDBG_OK, "OK"),
    (PYDBG_EINVAL, "EINVAL"),
    (PYDBG_ENOMEM, "ENOMEM"),
    (PYDBG_ENOPROC, "ENOPROC"),
    (PYDBG_EPERM, "EPERM"),
    (PYDBG_ENOTPYTHON, "ENOTPYTHON"),
    (PYDBG_EVERSION, "EVERSION"),
    (PYDBG_EREAD, "EREAD"),
    (PYDBG_ECORRUPT, "ECORRUPT"),
    (PYDBG_EEXITED, "EEXITED"),
    (PYDBG_EIO, "EIO"),
    (PYDBG_EFORMAT, "EFORMAT"),
    (PYDBG_ELIMIT, "ELIMIT"),
    (PYDBG_ENOTFOUND, "ENOTFOUND"),
    (PYDBG_ENOTSUP, "ENOTSUP"),
    (PYDBG_ESTATE, "ESTATE"),
];

// ---- pydebug/process.h ----

opaque! {
    /// An attached target process.
    pydbg_process;
}

pub const PYDBG_ATTACH_PAUSED: u32 = 1 << 0;
pub const PYDBG_ATTACH_PROC_MEM: u32 = 1 << 1;

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct pydbg_attach_options {
    pub struct_size: u32,
    pub flags: u32,
}

impl Default for pydbg_attach_options {
    /// The equivalent of `PYDBG_ATTACH_OPTIONS_INIT`.
    fn default() -> Self {
        pydbg_attach_options { struct_size: size_of::<Self>() as u32, flags: 0 }
    }
}

// ---- pydebug/frames.h ----

opaque! {
    /// The result of one capture.
    pydbg_stacks;
    /// One thread of a capture, borrowed from its `pydbg_stacks`.
    pydbg_thread;
    /// One frame of a thread, borrowed from its `pydbg_stacks`.
    pydbg_frame;
}

pub const PYDBG_CAPTURE_PAUSE: u32 = 1 << 0;
pub const PYDBG_CAPTURE_NO_THREAD_NAMES: u32 = 1 << 1;
pub const PYDBG_DEFAULT_MAX_DEPTH: u32 = 1_000_000;

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct pydbg_capture_options {
    pub struct_size: u32,
    pub flags: u32,
    pub max_depth: u32,
}

impl Default for pydbg_capture_options {
    /// The equivalent of `PYDBG_CAPTURE_OPTIONS_INIT`.
    fn default() -> Self {
        pydbg_capture_options { struct_size: size_of::<Self>() as u32, flags: 0, max_depth: 0 }
    }
}

// ---- pydebug/sample.h ----

opaque! {
    /// A sampler of one process.
    pydbg_sampler;
    /// One sample, borrowed from its sampler until its next sample.
    pydbg_sample;
}

pub const PYDBG_SAMPLER_THREAD_STATE: u32 = 1 << 0;
pub const PYDBG_SAMPLER_GIL_ONLY: u32 = 1 << 1;
pub const PYDBG_SAMPLER_RUNNING_ONLY: u32 = 1 << 2;
pub const PYDBG_SAMPLER_PAUSE: u32 = 1 << 3;
/// Read the GIL holder with every sample; without it `pydbg_sample_thread_holds_gil()`
/// returns -1. Implied by `PYDBG_SAMPLER_GIL_ONLY`.
pub const PYDBG_SAMPLER_GIL: u32 = 1 << 4;

pub const PYDBG_THREAD_STATE_UNKNOWN: c_int = 0;
pub const PYDBG_THREAD_STATE_RUNNING: c_int = 1;
pub const PYDBG_THREAD_STATE_IDLE: c_int = 2;

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct pydbg_sampler_options {
    pub struct_size: u32,
    pub flags: u32,
    pub max_depth: u32,
}

impl Default for pydbg_sampler_options {
    /// The equivalent of `PYDBG_SAMPLER_OPTIONS_INIT`.
    fn default() -> Self {
        pydbg_sampler_options { struct_size: size_of::<Self>() as u32, flags: 0, max_depth: 0 }
    }
}

// ---- pydebug/traceback.h ----

opaque! {
    /// A streaming traceback finder and decoder.
    pydbg_tb_parser;
    /// One decoded traceback, owned by the caller.
    pydbg_traceback;
    /// One exception of a traceback's chain, borrowed from its traceback.
    pydbg_tb_exception;
    /// One sub-exception block of an exception group, borrowed from its traceback.
    pydbg_tb_block;
    /// One frame line of a traceback, borrowed from its traceback.
    pydbg_tb_frame;
}

pub const PYDBG_TB_KIND_EXCEPTION: c_int = 0;
pub const PYDBG_TB_KIND_THREAD: c_int = 1;
pub const PYDBG_TB_RELATION_NONE: c_int = 0;
pub const PYDBG_TB_RELATION_CAUSE: c_int = 1;
pub const PYDBG_TB_RELATION_CONTEXT: c_int = 2;
pub const PYDBG_TB_FORMAT_TEXT: c_int = 0;
pub const PYDBG_TB_FORMAT_JSON: c_int = 1;
pub const PYDBG_TB_DEFAULT_MAX_BYTES: u64 = 64 * 1024 * 1024;

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct pydbg_tb_parser_options {
    pub struct_size: u32,
    pub flags: u32,
    pub max_traceback_bytes: u64,
}

impl Default for pydbg_tb_parser_options {
    /// The equivalent of `PYDBG_TB_PARSER_OPTIONS_INIT`.
    fn default() -> Self {
        pydbg_tb_parser_options {
            struct_size: size_of::<Self>() as u32,
            flags: 0,
            max_traceback_bytes: 0,
        }
    }
}

// ---- pydebug/snapshot.h ----

opaque! {
    /// A memory snapshot, taken from a process or loaded from a file.
    pydbg_snapshot;
    /// The difference between two snapshots.
    pydbg_diff;
}

pub const PYDBG_SNAPSHOT_PAUSE: u32 = 1 << 0;
pub const PYDBG_SNAPSHOT_NO_CENSUS: u32 = 1 << 1;
pub const PYDBG_SNAPSHOT_NO_REFERENTS: u32 = 1 << 2;

pub const PYDBG_SNAPSHOT_HAS_MAPPINGS: u32 = 1 << 0;
pub const PYDBG_SNAPSHOT_HAS_CENSUS: u32 = 1 << 1;
pub const PYDBG_SNAPSHOT_HAS_REFERENTS: u32 = 1 << 2;
pub const PYDBG_SNAPSHOT_WAS_PAUSED: u32 = 1 << 3;
pub const PYDBG_SNAPSHOT_HAS_PYMALLOC: u32 = 1 << 4;

/// `pydbg_type_field`: a C enum, passed as int.
pub type pydbg_type_field = c_int;
pub const PYDBG_TYPE_TRACKED_COUNT: pydbg_type_field = 0;
pub const PYDBG_TYPE_TRACKED_BYTES: pydbg_type_field = 1;
pub const PYDBG_TYPE_REACHED_COUNT: pydbg_type_field = 2;
pub const PYDBG_TYPE_REACHED_BYTES: pydbg_type_field = 3;
pub const PYDBG_TYPE_ADDRESS: pydbg_type_field = 4;

pub const PYDBG_MAPPING_ANON: c_int = 0;
pub const PYDBG_MAPPING_HEAP: c_int = 1;
pub const PYDBG_MAPPING_STACK: c_int = 2;
pub const PYDBG_MAPPING_FILE: c_int = 3;
pub const PYDBG_MAPPING_SPECIAL: c_int = 4;

/// `pydbg_mapping_field`.
pub type pydbg_mapping_field = c_int;
pub const PYDBG_MAPPING_START: pydbg_mapping_field = 0;
pub const PYDBG_MAPPING_END: pydbg_mapping_field = 1;
pub const PYDBG_MAPPING_RSS: pydbg_mapping_field = 2;
pub const PYDBG_MAPPING_PSS: pydbg_mapping_field = 3;
pub const PYDBG_MAPPING_PRIVATE_DIRTY: pydbg_mapping_field = 4;
pub const PYDBG_MAPPING_SWAP: pydbg_mapping_field = 5;
pub const PYDBG_MAPPING_PERMS: pydbg_mapping_field = 6;
pub const PYDBG_MAPPING_OFFSET: pydbg_mapping_field = 7;

/// `pydbg_pymalloc_field`.
pub type pydbg_pymalloc_field = c_int;
pub const PYDBG_PYMALLOC_INTERPRETER_ID: pydbg_pymalloc_field = 0;
pub const PYDBG_PYMALLOC_ARENAS: pydbg_pymalloc_field = 1;
pub const PYDBG_PYMALLOC_ARENA_BYTES: pydbg_pymalloc_field = 2;
pub const PYDBG_PYMALLOC_BLOCK_BYTES: pydbg_pymalloc_field = 3;
pub const PYDBG_PYMALLOC_BLOCKS: pydbg_pymalloc_field = 4;
pub const PYDBG_PYMALLOC_POOLS: pydbg_pymalloc_field = 5;
pub const PYDBG_PYMALLOC_FREE_POOLS: pydbg_pymalloc_field = 6;
pub const PYDBG_PYMALLOC_ARENA_SIZE: pydbg_pymalloc_field = 7;
pub const PYDBG_PYMALLOC_POOL_SIZE: pydbg_pymalloc_field = 8;
pub const PYDBG_PYMALLOC_SIZE_CLASSES: pydbg_pymalloc_field = 9;

/// `pydbg_size_class_field`.
pub type pydbg_size_class_field = c_int;
pub const PYDBG_SIZE_CLASS_BLOCK_SIZE: pydbg_size_class_field = 0;
pub const PYDBG_SIZE_CLASS_POOLS: pydbg_size_class_field = 1;
pub const PYDBG_SIZE_CLASS_BLOCKS: pydbg_size_class_field = 2;
pub const PYDBG_SIZE_CLASS_BYTES: pydbg_size_class_field = 3;

pub const PYDBG_DIFF_BY_TYPE: u32 = 0;
pub const PYDBG_DIFF_BY_MAPPING: u32 = 1;
pub const PYDBG_DIFF_BY_ARENA: u32 = 2;
pub const PYDBG_DIFF_TRACKED_ONLY: u32 = 1 << 0;

/// `pydbg_diff_field`.
pub type pydbg_diff_field = c_int;
pub const PYDBG_DIFF_COUNT_DELTA: pydbg_diff_field = 0;
pub const PYDBG_DIFF_SIZE_DELTA: pydbg_diff_field = 1;
pub const PYDBG_DIFF_COUNT: pydbg_diff_field = 2;
pub const PYDBG_DIFF_SIZE: pydbg_diff_field = 3;
pub const PYDBG_DIFF_OLD_COUNT: pydbg_diff_field = 4;
pub const PYDBG_DIFF_OLD_SIZE: pydbg_diff_field = 5;

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct pydbg_snapshot_options {
    pub struct_size: u32,
    pub flags: u32,
}

impl Default for pydbg_snapshot_options {
    /// The equivalent of `PYDBG_SNAPSHOT_OPTIONS_INIT`: paused, full census.
    fn default() -> Self {
        pydbg_snapshot_options {
            struct_size: size_of::<Self>() as u32,
            flags: PYDBG_SNAPSHOT_PAUSE,
        }
    }
}

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct pydbg_diff_options {
    pub struct_size: u32,
    pub by: u32,
    pub flags: u32,
}

impl Default for pydbg_diff_options {
    /// The equivalent of `PYDBG_DIFF_OPTIONS_INIT`.
    fn default() -> Self {
        pydbg_diff_options {
            struct_size: size_of::<Self>() as u32,
            by: PYDBG_DIFF_BY_TYPE,
            flags: 0,
        }
    }
}

extern "C" {
    // version.h
    pub fn pydbg_version_number() -> c_uint;
    pub fn pydbg_version_string() -> *const c_char;

    // errors.h
    pub fn pydbg_strerror(code: c_int) -> *const c_char;
    pub fn pydbg_last_error() -> *const c_char;

    // process.h
    pub fn pydbg_process_attach(
        out: *mut *mut pydbg_process,
        pid: c_int,
        options: *const pydbg_attach_options,
    ) -> c_int;
    pub fn pydbg_process_open_core(
        out: *mut *mut pydbg_process,
        core_path: *const c_char,
        executable_path: *const c_char,
        options: *const pydbg_attach_options,
    ) -> c_int;
    pub fn pydbg_process_close(process: *mut pydbg_process);
    pub fn pydbg_process_pause(process: *mut pydbg_process) -> c_int;
    pub fn pydbg_process_resume(process: *mut pydbg_process) -> c_int;
    pub fn pydbg_process_pid(process: *const pydbg_process) -> c_int;
    pub fn pydbg_process_python_version(process: *const pydbg_process) -> *const c_char;
    pub fn pydbg_process_python_hexversion(process: *const pydbg_process) -> u32;
    pub fn pydbg_process_interpreter_path(process: *const pydbg_process) -> *const c_char;
    pub fn pydbg_process_errmsg(process: *const pydbg_process) -> *const c_char;

    // frames.h
    pub fn pydbg_stacks_capture(
        out: *mut *mut pydbg_stacks,
        process: *mut pydbg_process,
        options: *const pydbg_capture_options,
    ) -> c_int;
    pub fn pydbg_stacks_free(stacks: *mut pydbg_stacks);
    pub fn pydbg_stacks_thread_count(stacks: *const pydbg_stacks) -> usize;
    pub fn pydbg_stacks_thread(stacks: *const pydbg_stacks, index: usize) -> *const pydbg_thread;
    pub fn pydbg_thread_interpreter_id(thread: *const pydbg_thread) -> i64;
    pub fn pydbg_thread_ident(thread: *const pydbg_thread) -> u64;
    pub fn pydbg_thread_native_id(thread: *const pydbg_thread) -> i64;
    pub fn pydbg_thread_name(thread: *const pydbg_thread) -> *const c_char;
    pub fn pydbg_thread_is_main(thread: *const pydbg_thread) -> c_int;
    pub fn pydbg_thread_holds_gil(thread: *const pydbg_thread) -> c_int;
    pub fn pydbg_thread_frame_count(thread: *const pydbg_thread) -> usize;
    pub fn pydbg_thread_frame(thread: *const pydbg_thread, index: usize) -> *const pydbg_frame;
    pub fn pydbg_thread_truncated(thread: *const pydbg_thread) -> c_int;
    pub fn pydbg_thread_error(thread: *const pydbg_thread) -> c_int;
    pub fn pydbg_thread_errmsg(thread: *const pydbg_thread) -> *const c_char;
    pub fn pydbg_frame_function(frame: *const pydbg_frame) -> *const c_char;
    pub fn pydbg_frame_qualname(frame: *const pydbg_frame) -> *const c_char;
    pub fn pydbg_frame_filename(frame: *const pydbg_frame) -> *const c_char;
    pub fn pydbg_frame_line(frame: *const pydbg_frame) -> c_int;
    pub fn pydbg_frame_end_line(frame: *const pydbg_frame) -> c_int;
    pub fn pydbg_frame_column(frame: *const pydbg_frame) -> c_int;
    pub fn pydbg_frame_end_column(frame: *const pydbg_frame) -> c_int;
    pub fn pydbg_frame_instruction_offset(frame: *const pydbg_frame) -> c_int;
    pub fn pydbg_frame_code_address(frame: *const pydbg_frame) -> u64;

    // sample.h
    pub fn pydbg_sampler_new(
        out: *mut *mut pydbg_sampler,
        process: *mut pydbg_process,
        options: *const pydbg_sampler_options,
    ) -> c_int;
    pub fn pydbg_sampler_free(sampler: *mut pydbg_sampler);
    pub fn pydbg_sampler_sample(
        sampler: *mut pydbg_sampler,
        out: *mut *const pydbg_sample,
    ) -> c_int;
    pub fn pydbg_sampler_code_info(
        sampler: *const pydbg_sampler,
        code_key: u64,
        function: *mut *const c_char,
        qualname: *mut *const c_char,
        filename: *mut *const c_char,
        first_line: *mut c_int,
    ) -> c_int;
    pub fn pydbg_sampler_sample_count(sampler: *const pydbg_sampler) -> u64;
    pub fn pydbg_sampler_torn_count(sampler: *const pydbg_sampler) -> u64;
    pub fn pydbg_sampler_thread_sample_count(sampler: *const pydbg_sampler) -> u64;
    pub fn pydbg_sampler_read_calls(sampler: *const pydbg_sampler) -> u64;
    pub fn pydbg_sampler_errmsg(sampler: *const pydbg_sampler) -> *const c_char;
    pub fn pydbg_sample_thread_count(sample: *const pydbg_sample) -> usize;
    pub fn pydbg_sample_thread_ident(sample: *const pydbg_sample, thread: usize) -> u64;
    pub fn pydbg_sample_thread_name(sample: *const pydbg_sample, thread: usize) -> *const c_char;
    pub fn pydbg_sample_thread_native_id(sample: *const pydbg_sample, thread: usize) -> i64;
    pub fn pydbg_sample_thread_holds_gil(sample: *const pydbg_sample, thread: usize) -> c_int;
    pub fn pydbg_sample_thread_state(sample: *const pydbg_sample, thread: usize) -> c_int;
    pub fn pydbg_sample_thread_error(sample: *const pydbg_sample, thread: usize) -> c_int;
    pub fn pydbg_sample_thread_truncated(sample: *const pydbg_sample, thread: usize) -> c_int;
    pub fn pydbg_sample_frame_count(sample: *const pydbg_sample, thread: usize) -> usize;
    pub fn pydbg_sample_frame_code(sample: *const pydbg_sample, thread: usize, frame: usize)
        -> u64;
    pub fn pydbg_sample_frame_line(
        sample: *const pydbg_sample,
        thread: usize,
        frame: usize,
    ) -> c_int;

    // traceback.h
    pub fn pydbg_tb_parser_new(
        out: *mut *mut pydbg_tb_parser,
        options: *const pydbg_tb_parser_options,
    ) -> c_int;
    pub fn pydbg_tb_parser_free(parser: *mut pydbg_tb_parser);
    pub fn pydbg_tb_parser_feed(
        parser: *mut pydbg_tb_parser,
        data: *const c_char,
        length: usize,
    ) -> c_int;
    pub fn pydbg_tb_parser_finish(parser: *mut pydbg_tb_parser) -> c_int;
    pub fn pydbg_tb_parser_next(
        parser: *mut pydbg_tb_parser,
        out: *mut *mut pydbg_traceback,
    ) -> c_int;
    pub fn pydbg_tb_parser_line_count(parser: *const pydbg_tb_parser) -> u64;
    pub fn pydbg_tb_parser_errmsg(parser: *const pydbg_tb_parser) -> *const c_char;
    pub fn pydbg_traceback_parse(
        out: *mut *mut pydbg_traceback,
        text: *const c_char,
        length: usize,
    ) -> c_int;
    pub fn pydbg_traceback_free(tb: *mut pydbg_traceback);
    pub fn pydbg_traceback_kind(tb: *const pydbg_traceback) -> c_int;
    pub fn pydbg_traceback_start_line(tb: *const pydbg_traceback) -> u64;
    pub fn pydbg_traceback_end_line(tb: *const pydbg_traceback) -> u64;
    pub fn pydbg_traceback_truncated(tb: *const pydbg_traceback) -> c_int;
    pub fn pydbg_traceback_prefix(tb: *const pydbg_traceback) -> *const c_char;
    pub fn pydbg_traceback_thread_header(tb: *const pydbg_traceback) -> *const c_char;
    pub fn pydbg_traceback_thread_id(tb: *const pydbg_traceback) -> u64;
    pub fn pydbg_traceback_thread_name(tb: *const pydbg_traceback) -> *const c_char;
    pub fn pydbg_traceback_thread_is_current(tb: *const pydbg_traceback) -> c_int;
    pub fn pydbg_traceback_exception_count(tb: *const pydbg_traceback) -> usize;
    pub fn pydbg_traceback_exception(
        tb: *const pydbg_traceback,
        index: usize,
    ) -> *const pydbg_tb_exception;
    pub fn pydbg_tb_exception_type(exc: *const pydbg_tb_exception) -> *const c_char;
    pub fn pydbg_tb_exception_message(exc: *const pydbg_tb_exception) -> *const c_char;
    pub fn pydbg_tb_exception_relation(exc: *const pydbg_tb_exception) -> c_int;
    pub fn pydbg_tb_exception_has_traceback(exc: *const pydbg_tb_exception) -> c_int;
    pub fn pydbg_tb_exception_frame_count(exc: *const pydbg_tb_exception) -> usize;
    pub fn pydbg_tb_exception_frame(
        exc: *const pydbg_tb_exception,
        index: usize,
    ) -> *const pydbg_tb_frame;
    pub fn pydbg_tb_exception_is_group(exc: *const pydbg_tb_exception) -> c_int;
    pub fn pydbg_tb_exception_block_count(exc: *const pydbg_tb_exception) -> usize;
    pub fn pydbg_tb_exception_block(
        exc: *const pydbg_tb_exception,
        index: usize,
    ) -> *const pydbg_tb_block;
    pub fn pydbg_tb_exception_more_exceptions(exc: *const pydbg_tb_exception) -> u64;
    pub fn pydbg_tb_exception_syntax(
        exc: *const pydbg_tb_exception,
        filename: *mut *const c_char,
        line: *mut c_int,
        text: *mut *const c_char,
        column: *mut c_int,
        end_column: *mut c_int,
    ) -> c_int;
    pub fn pydbg_tb_block_exception_count(block: *const pydbg_tb_block) -> usize;
    pub fn pydbg_tb_block_exception(
        block: *const pydbg_tb_block,
        index: usize,
    ) -> *const pydbg_tb_exception;
    pub fn pydbg_tb_block_depth_limited(block: *const pydbg_tb_block) -> c_int;
    pub fn pydbg_tb_frame_filename(frame: *const pydbg_tb_frame) -> *const c_char;
    pub fn pydbg_tb_frame_line(frame: *const pydbg_tb_frame) -> c_int;
    pub fn pydbg_tb_frame_function(frame: *const pydbg_tb_frame) -> *const c_char;
    pub fn pydbg_tb_frame_source(frame: *const pydbg_tb_frame) -> *const c_char;
    pub fn pydbg_tb_frame_marker(frame: *const pydbg_tb_frame) -> *const c_char;
    pub fn pydbg_tb_frame_repeat(frame: *const pydbg_tb_frame) -> u64;
    pub fn pydbg_traceback_format(
        out: *mut *mut c_char,
        out_length: *mut usize,
        tb: *const pydbg_traceback,
        format: c_int,
    ) -> c_int;
    pub fn pydbg_traceback_format_into(
        buffer: *mut c_char,
        size: usize,
        needed: *mut usize,
        tb: *const pydbg_traceback,
        format: c_int,
    ) -> c_int;
    pub fn pydbg_tb_string_free(string: *mut c_char);
    pub fn pydbg_linetable_format_for_version(python_hexversion: u32) -> c_int;
    pub fn pydbg_linetable_lookup(
        line: *mut c_int,
        end_line: *mut c_int,
        column: *mut c_int,
        end_column: *mut c_int,
        format: c_int,
        table: *const u8,
        length: usize,
        first_line: c_int,
        offset: c_int,
    ) -> c_int;

    // snapshot.h
    pub fn pydbg_snapshot_take(
        out: *mut *mut pydbg_snapshot,
        process: *mut pydbg_process,
        options: *const pydbg_snapshot_options,
    ) -> c_int;
    pub fn pydbg_snapshot_save(snapshot: *const pydbg_snapshot, path: *const c_char) -> c_int;
    pub fn pydbg_snapshot_load(out: *mut *mut pydbg_snapshot, path: *const c_char) -> c_int;
    pub fn pydbg_snapshot_load_memory(
        out: *mut *mut pydbg_snapshot,
        data: *const c_void,
        size: usize,
    ) -> c_int;
    pub fn pydbg_snapshot_free(snapshot: *mut pydbg_snapshot);
    pub fn pydbg_snapshot_contents(snapshot: *const pydbg_snapshot) -> u32;
    pub fn pydbg_snapshot_pid(snapshot: *const pydbg_snapshot) -> c_int;
    pub fn pydbg_snapshot_time_ns(snapshot: *const pydbg_snapshot) -> i64;
    pub fn pydbg_snapshot_census_ns(snapshot: *const pydbg_snapshot) -> i64;
    pub fn pydbg_snapshot_python_version(snapshot: *const pydbg_snapshot) -> *const c_char;
    pub fn pydbg_snapshot_executable(snapshot: *const pydbg_snapshot) -> *const c_char;
    pub fn pydbg_snapshot_census_note(snapshot: *const pydbg_snapshot) -> *const c_char;
    pub fn pydbg_snapshot_type_count(snapshot: *const pydbg_snapshot) -> usize;
    pub fn pydbg_snapshot_type_name(snapshot: *const pydbg_snapshot, index: usize)
        -> *const c_char;
    pub fn pydbg_snapshot_type_value(
        snapshot: *const pydbg_snapshot,
        index: usize,
        field: pydbg_type_field,
    ) -> u64;
    pub fn pydbg_snapshot_mapping_count(snapshot: *const pydbg_snapshot) -> usize;
    pub fn pydbg_snapshot_mapping_path(
        snapshot: *const pydbg_snapshot,
        index: usize,
    ) -> *const c_char;
    pub fn pydbg_snapshot_mapping_kind(snapshot: *const pydbg_snapshot, index: usize) -> c_int;
    pub fn pydbg_snapshot_mapping_value(
        snapshot: *const pydbg_snapshot,
        index: usize,
        field: pydbg_mapping_field,
    ) -> u64;
    pub fn pydbg_snapshot_pymalloc_note(snapshot: *const pydbg_snapshot) -> *const c_char;
    pub fn pydbg_snapshot_pymalloc_count(snapshot: *const pydbg_snapshot) -> usize;
    pub fn pydbg_snapshot_pymalloc_value(
        snapshot: *const pydbg_snapshot,
        index: usize,
        field: pydbg_pymalloc_field,
    ) -> u64;
    pub fn pydbg_snapshot_pymalloc_class_value(
        snapshot: *const pydbg_snapshot,
        index: usize,
        size_class: usize,
        field: pydbg_size_class_field,
    ) -> u64;
    pub fn pydbg_diff_compute(
        out: *mut *mut pydbg_diff,
        old_snapshot: *const pydbg_snapshot,
        new_snapshot: *const pydbg_snapshot,
        options: *const pydbg_diff_options,
    ) -> c_int;
    pub fn pydbg_diff_free(diff: *mut pydbg_diff);
    pub fn pydbg_diff_count(diff: *const pydbg_diff) -> usize;
    pub fn pydbg_diff_key(diff: *const pydbg_diff, index: usize) -> *const c_char;
    pub fn pydbg_diff_value(diff: *const pydbg_diff, index: usize, field: pydbg_diff_field) -> i64;
}
