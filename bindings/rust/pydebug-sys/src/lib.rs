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
}
