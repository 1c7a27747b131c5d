//! A safe wrapper of libpydebug: attach to a running CPython process and read every
//! thread's Python stack, from the outside, without changing the process.
//!
//! ```no_run
//! let mut process = pydebug::Process::attach(1234)?;
//! let stacks = process.capture()?;
//! for thread in stacks.threads() {
//!     println!("thread {} ({})", thread.ident(), thread.name().unwrap_or("unnamed".into()));
//!     for frame in thread.frames() {
//!         println!("  {} ({}:{})", frame.function(), frame.filename(), frame.line().unwrap_or(-1));
//!     }
//! }
//! # Ok::<(), pydebug::Error>(())
//! ```
//!
//! The C library's rules become types:
//! - ownership: [`Process`] and [`Stacks`] free their handle when dropped; a [`Thread`] or
//!   [`Frame`] borrows from its `Stacks` (C: "valid until pydbg_stacks_free()"), so the
//!   borrow checker keeps every pointer valid;
//! - threads: a `Process` may move between threads but is used by one at a time (C: "not
//!   thread-safe for the same handle"), hence `Send` and not `Sync`, and the calls that are
//!   not thread-safe take `&mut self`; a `Stacks` is immutable, hence `Send` and `Sync`;
//! - errors: every failure is an [`Error`] with the library's code and detailed message.
//!
//! Beyond one-off captures:
//! - [`Sampler`] (`pydebug/sample.h`): `process.sampler(options)` borrows the process
//!   mutably for its life, and each [`Sample`] borrows its sampler until it is dropped (C: a
//!   sample is valid until the next one), so neither can outlive what it reads;
//! - [`Traceback`] and [`TracebackParser`] (`pydebug/traceback.h`): decode tracebacks
//!   from text, walk their exceptions and frames, format them back as text or JSON;
//! - [`Snapshot`] (`pydebug/snapshot.h`): `process.snapshot(options)`, save, load, and
//!   [`Snapshot::diff`] into plain [`DiffRow`] values.
//!
//! ```no_run
//! let mut process = pydebug::Process::attach(1234)?;
//! let mut sampler = process.sampler(pydebug::SamplerOptions::default())?;
//! for _ in 0..100 {
//!     let sample = sampler.sample()?;
//!     for thread in sample.threads() {
//!         for frame in thread.frames() {
//!             let names = sample.code_info(frame.code).expect("a key of this sampler");
//!             println!("{} {}:{:?}", thread.ident(), names.function, frame.line);
//!         }
//!     }
//! }
//! # Ok::<(), pydebug::Error>(())
//! ```
use std::borrow::Cow;
use std::ffi::CStr;
use std::fmt;
use std::marker::PhantomData;
use std::os::raw::c_char;
use std::ptr::{self, NonNull};

pub use pydebug_sys as sys;

pub mod sample;
pub mod snapshot;
pub mod traceback;

pub use sample::{
    CodeInfo, Sample, SampleFrame, SampleThread, Sampler, SamplerOptions, ThreadState,
};
pub use snapshot::{
    DiffBy, DiffOptions, DiffRow, Mapping, PymallocUsage, SizeClass, Snapshot, SnapshotOptions,
    TypeEntry,
};
pub use traceback::{
    linetable_format_for_version, linetable_lookup, ParserOptions, Position, Relation,
    SyntaxLocation, TbBlock, TbException, TbFrame, Traceback, TracebackFormat, TracebackKind,
    TracebackParser,
};

/// Borrows a C string owned by the library; names from the target may not be UTF-8.
///
/// # Safety
/// `p` must be NULL or a NUL-terminated string that outlives `'a`.
unsafe fn text<'a>(p: *const c_char) -> Option<Cow<'a, str>> {
    if p.is_null() {
        None
    } else {
        Some(CStr::from_ptr(p).to_string_lossy())
    }
}

fn non_negative(value: i64) -> Option<i64> {
    if value < 0 {
        None
    } else {
        Some(value)
    }
}

/// The loaded library's version string, such as "1.0.0".
pub fn version() -> String {
    // SAFETY: a static string.
    unsafe { text(sys::pydbg_version_string()) }.unwrap_or_default().into_owned()
}

/// The loaded library's version as MAJOR*10000 + MINOR*100 + RELEASE.
pub fn version_number() -> u32 {
    // SAFETY: no arguments, no state.
    unsafe { sys::pydbg_version_number() }
}

/// The library's short, static description of an error code.
pub fn strerror(code: i32) -> String {
    // SAFETY: any code is accepted; the result is static.
    unsafe { text(sys::pydbg_strerror(code)) }.unwrap_or_default().into_owned()
}

/// A libpydebug failure: the code (`sys::PYDBG_E…`, negative) and the detailed message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    code: i32,
    message: String,
}

impl Error {
    fn new(code: i32, message: *const c_char) -> Error {
        // SAFETY: the library's message strings live until the next call on the handle or
        // thread; it is copied at once.
        let message = unsafe { text(message) }.unwrap_or_default().into_owned();
        Error { code, message }
    }

    /// The negative error code, one of `sys::PYDBG_E…`.
    pub fn code(&self) -> i32 {
        self.code
    }

    /// The code's name without its prefix ("ENOPROC"), or "E?" for a code this crate does
    /// not know yet.
    pub fn name(&self) -> &'static str {
        sys::PYDBG_ERRORS.iter().find(|(c, _)| *c == self.code).map_or("E?", |(_, n)| n)
    }

    /// The detailed message ("process 4242 exited while reading thread list").
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.message.is_empty() {
            write!(f, "{}", strerror(self.code))
        } else {
            write!(f, "{}: {}", strerror(self.code), self.message)
        }
    }
}

impl std::error::Error for Error {}

/// An attached process; detached (and resumed, if this handle paused it) when dropped.
pub struct Process {
    handle: NonNull<sys::pydbg_process>,
}

// SAFETY: the C handle may be used from any thread, one thread at a time (&mut self).
unsafe impl Send for Process {}

/// How to attach; see `pydbg_attach_options`.
#[derive(Debug, Clone, Copy, Default)]
pub struct AttachOptions {
    /// Keep the target paused for the whole life of the handle.
    pub paused: bool,
    /// Read memory through /proc/PID/mem only.
    pub proc_mem: bool,
}

/// How to capture; see `pydbg_capture_options`.
#[derive(Debug, Clone, Copy, Default)]
pub struct CaptureOptions {
    /// Pause the target during this capture, for a consistent view.
    pub pause: bool,
    /// Do not look up `threading.Thread` names.
    pub no_thread_names: bool,
    /// Most frames kept per thread; 0 for the library's default (far above real stacks).
    pub max_depth: u32,
}

impl Process {
    /// Attaches to the live process `pid` with default options.
    pub fn attach(pid: i32) -> Result<Process, Error> {
        Process::attach_with(pid, AttachOptions::default())
    }

    /// Attaches to the live process `pid`.
    pub fn attach_with(pid: i32, options: AttachOptions) -> Result<Process, Error> {
        let mut raw = sys::pydbg_attach_options::default();
        if options.paused {
            raw.flags |= sys::PYDBG_ATTACH_PAUSED;
        }
        if options.proc_mem {
            raw.flags |= sys::PYDBG_ATTACH_PROC_MEM;
        }
        let mut handle = ptr::null_mut();
        // SAFETY: valid out-pointer and options; on failure no handle exists and the reason
        // is in this thread's last error.
        let rc = unsafe { sys::pydbg_process_attach(&mut handle, pid, &raw) };
        match NonNull::new(handle) {
            Some(handle) if rc == sys::PYDBG_OK => Ok(Process { handle }),
            _ => Err(Error::new(rc, unsafe { sys::pydbg_last_error() })),
        }
    }

    /// Opens a core file of a Python process: its stacks as the core recorded them (no
    /// pausing, no sampling). `executable` is where the process's main executable is now
    /// when it is not at the path the core records.
    pub fn open_core<P: AsRef<std::path::Path>>(
        core: P,
        executable: Option<&std::path::Path>,
    ) -> Result<Process, Error> {
        let core = snapshot::path_cstring(core.as_ref())?;
        let executable = executable.map(snapshot::path_cstring).transpose()?;
        let mut handle = ptr::null_mut();
        // SAFETY: NUL-terminated paths (or NULL) that outlive the call; valid out-pointer;
        // on failure no handle exists and the reason is in this thread's last error.
        let rc = unsafe {
            sys::pydbg_process_open_core(
                &mut handle,
                core.as_ptr(),
                executable.as_ref().map_or(ptr::null(), |e| e.as_ptr()),
                ptr::null(),
            )
        };
        match NonNull::new(handle) {
            Some(handle) if rc == sys::PYDBG_OK => Ok(Process { handle }),
            _ => Err(Error::new(rc, unsafe { sys::pydbg_last_error() })),
        }
    }

    fn check(&self, rc: i32) -> Result<(), Error> {
        if rc == sys::PYDBG_OK {
            Ok(())
        } else {
            // SAFETY: the handle is live; the message is copied before the next call.
            Err(Error::new(rc, unsafe { sys::pydbg_process_errmsg(self.handle.as_ptr()) }))
        }
    }

    /// The target's process ID.
    pub fn pid(&self) -> i32 {
        // SAFETY: live handle; a thread-safe getter.
        unsafe { sys::pydbg_process_pid(self.handle.as_ptr()) }
    }

    /// The target's CPython version, such as "3.11.7".
    pub fn python_version(&self) -> String {
        // SAFETY: the string lives as long as the handle; copied.
        unsafe { text(sys::pydbg_process_python_version(self.handle.as_ptr())) }
            .unwrap_or_default()
            .into_owned()
    }

    /// The target's CPython version as `PY_VERSION_HEX`.
    pub fn python_hexversion(&self) -> u32 {
        // SAFETY: live handle.
        unsafe { sys::pydbg_process_python_hexversion(self.handle.as_ptr()) }
    }

    /// The path of the ELF file that holds the interpreter, as the target sees it.
    pub fn interpreter_path(&self) -> String {
        // SAFETY: the string lives as long as the handle; copied.
        unsafe { text(sys::pydbg_process_interpreter_path(self.handle.as_ptr())) }
            .unwrap_or_default()
            .into_owned()
    }

    /// Stops every thread of the target; calls nest, each needs a [`Process::resume`].
    pub fn pause(&mut self) -> Result<(), Error> {
        // SAFETY: live handle, used by this thread only (&mut).
        self.check(unsafe { sys::pydbg_process_pause(self.handle.as_ptr()) })
    }

    /// Undoes one [`Process::pause`].
    pub fn resume(&mut self) -> Result<(), Error> {
        // SAFETY: live handle, used by this thread only (&mut).
        self.check(unsafe { sys::pydbg_process_resume(self.handle.as_ptr()) })
    }

    /// Captures every thread's Python stack with default options.
    pub fn capture(&mut self) -> Result<Stacks, Error> {
        self.capture_with(CaptureOptions::default())
    }

    /// Captures every thread's Python stack.
    pub fn capture_with(&mut self, options: CaptureOptions) -> Result<Stacks, Error> {
        let mut raw = sys::pydbg_capture_options::default();
        if options.pause {
            raw.flags |= sys::PYDBG_CAPTURE_PAUSE;
        }
        if options.no_thread_names {
            raw.flags |= sys::PYDBG_CAPTURE_NO_THREAD_NAMES;
        }
        raw.max_depth = options.max_depth;
        let mut stacks = ptr::null_mut();
        // SAFETY: live handle used by this thread only; valid out-pointer and options.
        let rc = unsafe { sys::pydbg_stacks_capture(&mut stacks, self.handle.as_ptr(), &raw) };
        self.check(rc)?;
        match NonNull::new(stacks) {
            Some(handle) => Ok(Stacks { handle }),
            None => Err(Error { code: sys::PYDBG_ECORRUPT, message: "no result".into() }),
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        // SAFETY: the handle is owned and not used after this.
        unsafe { sys::pydbg_process_close(self.handle.as_ptr()) }
    }
}

/// One capture: every thread and its frames. Immutable; freed when dropped.
pub struct Stacks {
    handle: NonNull<sys::pydbg_stacks>,
}

// SAFETY: a capture is immutable and its getters are thread-safe (frames.h).
unsafe impl Send for Stacks {}
unsafe impl Sync for Stacks {}

impl Stacks {
    /// The number of threads, over all interpreters.
    pub fn thread_count(&self) -> usize {
        // SAFETY: live handle.
        unsafe { sys::pydbg_stacks_thread_count(self.handle.as_ptr()) }
    }

    /// Thread `index`, or None if out of range.
    pub fn thread(&self, index: usize) -> Option<Thread<'_>> {
        // SAFETY: live handle; the pointer is valid as long as `self`, which the lifetime
        // of Thread ties it to.
        let p = unsafe { sys::pydbg_stacks_thread(self.handle.as_ptr(), index) };
        NonNull::new(p as *mut sys::pydbg_thread).map(|raw| Thread { raw, _stacks: PhantomData })
    }

    /// Every thread, in the library's order.
    pub fn threads(&self) -> impl Iterator<Item = Thread<'_>> + '_ {
        (0..self.thread_count()).filter_map(move |i| self.thread(i))
    }
}

impl Drop for Stacks {
    fn drop(&mut self) {
        // SAFETY: owned; every Thread/Frame borrowing from it is gone (borrow checker).
        unsafe { sys::pydbg_stacks_free(self.handle.as_ptr()) }
    }
}

/// One thread of a capture, borrowed from its [`Stacks`].
#[derive(Clone, Copy)]
pub struct Thread<'a> {
    raw: NonNull<sys::pydbg_thread>,
    _stacks: PhantomData<&'a Stacks>,
}

impl<'a> Thread<'a> {
    fn p(&self) -> *const sys::pydbg_thread {
        self.raw.as_ptr()
    }

    /// `threading.get_ident()` as that thread sees it.
    pub fn ident(&self) -> u64 {
        // SAFETY (all getters below): the pointer is valid for 'a, the getters thread-safe.
        unsafe { sys::pydbg_thread_ident(self.p()) }
    }

    /// The Linux thread ID, where known.
    pub fn native_id(&self) -> Option<i64> {
        non_negative(unsafe { sys::pydbg_thread_native_id(self.p()) })
    }

    /// The ID of the interpreter the thread belongs to (0 for the main one).
    pub fn interpreter_id(&self) -> i64 {
        unsafe { sys::pydbg_thread_interpreter_id(self.p()) }
    }

    /// The `threading.Thread` name, if the thread has one.
    pub fn name(&self) -> Option<Cow<'a, str>> {
        unsafe { text(sys::pydbg_thread_name(self.p())) }
    }

    /// Whether this is its interpreter's main thread.
    pub fn is_main(&self) -> bool {
        unsafe { sys::pydbg_thread_is_main(self.p()) == 1 }
    }

    /// Whether the thread held the GIL when read; None where unknown.
    pub fn holds_gil(&self) -> Option<bool> {
        match unsafe { sys::pydbg_thread_holds_gil(self.p()) } {
            0 => Some(false),
            1 => Some(true),
            _ => None,
        }
    }

    /// Whether the stack was cut by the depth bound.
    pub fn truncated(&self) -> bool {
        unsafe { sys::pydbg_thread_truncated(self.p()) != 0 }
    }

    /// The error that stopped the walk of this thread part-way, if any.
    pub fn error(&self) -> Option<Error> {
        let code = unsafe { sys::pydbg_thread_error(self.p()) };
        if code == sys::PYDBG_OK {
            None
        } else {
            Some(Error::new(code, unsafe { sys::pydbg_thread_errmsg(self.p()) }))
        }
    }

    /// The number of frames kept.
    pub fn frame_count(&self) -> usize {
        unsafe { sys::pydbg_thread_frame_count(self.p()) }
    }

    /// Frame `index`, 0 being the innermost.
    pub fn frame(&self, index: usize) -> Option<Frame<'a>> {
        let p = unsafe { sys::pydbg_thread_frame(self.p(), index) };
        NonNull::new(p as *mut sys::pydbg_frame).map(|raw| Frame { raw, _stacks: PhantomData })
    }

    /// Every frame, innermost first.
    pub fn frames(&self) -> impl Iterator<Item = Frame<'a>> + 'a {
        let thread = *self;
        (0..self.frame_count()).filter_map(move |i| thread.frame(i))
    }
}

// SAFETY: borrowed from an immutable, Sync capture; the getters are thread-safe.
unsafe impl Send for Thread<'_> {}
unsafe impl Sync for Thread<'_> {}

/// One frame of a thread, borrowed from its [`Stacks`].
#[derive(Clone, Copy)]
pub struct Frame<'a> {
    raw: NonNull<sys::pydbg_frame>,
    _stacks: PhantomData<&'a Stacks>,
}

impl<'a> Frame<'a> {
    fn p(&self) -> *const sys::pydbg_frame {
        self.raw.as_ptr()
    }

    /// The function name (`co_name`).
    pub fn function(&self) -> Cow<'a, str> {
        // SAFETY (all getters below): the pointer is valid for 'a, the getters thread-safe.
        unsafe { text(sys::pydbg_frame_function(self.p())) }.unwrap_or(Cow::Borrowed("?"))
    }

    /// The qualified name (`co_qualname`, CPython 3.11+).
    pub fn qualname(&self) -> Option<Cow<'a, str>> {
        unsafe { text(sys::pydbg_frame_qualname(self.p())) }
    }

    /// The file name (`co_filename`).
    pub fn filename(&self) -> Cow<'a, str> {
        unsafe { text(sys::pydbg_frame_filename(self.p())) }.unwrap_or(Cow::Borrowed("?"))
    }

    /// The line being executed (1-based), where known.
    pub fn line(&self) -> Option<i32> {
        non_negative(unsafe { sys::pydbg_frame_line(self.p()) }.into()).map(|v| v as i32)
    }

    /// The last line of the executing expression (PEP 657, 3.11+).
    pub fn end_line(&self) -> Option<i32> {
        non_negative(unsafe { sys::pydbg_frame_end_line(self.p()) }.into()).map(|v| v as i32)
    }

    /// The 0-based UTF-8 byte column where the expression starts (PEP 657, 3.11+).
    pub fn column(&self) -> Option<i32> {
        non_negative(unsafe { sys::pydbg_frame_column(self.p()) }.into()).map(|v| v as i32)
    }

    /// The 0-based UTF-8 byte column where the expression ends (PEP 657, 3.11+).
    pub fn end_column(&self) -> Option<i32> {
        non_negative(unsafe { sys::pydbg_frame_end_column(self.p()) }.into()).map(|v| v as i32)
    }

    /// The byte offset of the current instruction in the code object's bytecode.
    pub fn instruction_offset(&self) -> Option<i32> {
        non_negative(unsafe { sys::pydbg_frame_instruction_offset(self.p()) }.into())
            .map(|v| v as i32)
    }

    /// The remote address of the code object: an identity for caches.
    pub fn code_address(&self) -> u64 {
        unsafe { sys::pydbg_frame_code_address(self.p()) }
    }
}

// SAFETY: borrowed from an immutable, Sync capture; the getters are thread-safe.
unsafe impl Send for Frame<'_> {}
unsafe impl Sync for Frame<'_> {}
