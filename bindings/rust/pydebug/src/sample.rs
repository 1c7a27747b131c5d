//! Sampling every thread's stack, fast and repeatedly (`pydebug/sample.h`).
use std::borrow::Cow;
use std::marker::PhantomData;
use std::os::raw::c_char;
use std::ptr::{self, NonNull};

use crate::{sys, text, Error, Process};

/// How to sample; see `pydbg_sampler_options`. The flags are `sys::PYDBG_SAMPLER_…`.
#[derive(Debug, Clone, Copy, Default)]
pub struct SamplerOptions {
    /// Read each thread's scheduler state from `/proc` with every sample.
    pub thread_state: bool,
    /// Keep only the thread that holds the GIL (implies `gil`).
    pub gil_only: bool,
    /// Keep only threads running on a CPU (implies `thread_state`).
    pub running_only: bool,
    /// Pause the target during each sample (consistent but far slower).
    pub pause: bool,
    /// Read which thread holds the GIL with every sample (`sys::PYDBG_SAMPLER_GIL`);
    /// without it [`SampleThread::holds_gil`] is None.
    pub gil: bool,
    /// Most frames kept per thread; 0 for the library's default.
    pub max_depth: u32,
}

impl SamplerOptions {
    fn raw(&self) -> sys::pydbg_sampler_options {
        let mut raw = sys::pydbg_sampler_options::default();
        for (on, flag) in [
            (self.thread_state, sys::PYDBG_SAMPLER_THREAD_STATE),
            (self.gil_only, sys::PYDBG_SAMPLER_GIL_ONLY),
            (self.running_only, sys::PYDBG_SAMPLER_RUNNING_ONLY),
            (self.pause, sys::PYDBG_SAMPLER_PAUSE),
            (self.gil, sys::PYDBG_SAMPLER_GIL),
        ] {
            if on {
                raw.flags |= flag;
            }
        }
        raw.max_depth = self.max_depth;
        raw
    }
}

/// A sampled thread's scheduler state (`pydbg_thread_state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThreadState {
    /// Not read (no `thread_state` option) or unreadable.
    Unknown,
    /// On a CPU or runnable.
    Running,
    /// Sleeping or blocked in the kernel.
    Idle,
}

/// A sampler of one process. It borrows the process mutably for its whole life (C: the
/// process handle must not be used by another thread while the sampler samples, and must
/// outlive it). `Send`, not `Sync`: one thread at a time.
///
/// The borrows are checked at compile time: a process cannot be dropped (closed) while a
/// sampler of it lives,
///
/// ```compile_fail,E0505
/// let mut process = pydebug::Process::attach(1).unwrap();
/// let sampler = process.sampler(pydebug::SamplerOptions::default()).unwrap();
/// drop(process);
/// drop(sampler);
/// ```
///
/// and a sample cannot be kept past the next one (C: valid until the next sample):
///
/// ```compile_fail,E0499
/// let mut process = pydebug::Process::attach(1).unwrap();
/// let mut sampler = process.sampler(pydebug::SamplerOptions::default()).unwrap();
/// let first = sampler.sample().unwrap();
/// let second = sampler.sample().unwrap();
/// assert_eq!(first.thread_count(), second.thread_count());
/// ```
///
/// while taking one after the other is fine:
///
/// ```no_run
/// let mut process = pydebug::Process::attach(1).unwrap();
/// let mut sampler = process.sampler(pydebug::SamplerOptions::default()).unwrap();
/// let first = sampler.sample().unwrap().thread_count();
/// let second = sampler.sample().unwrap().thread_count();
/// assert_eq!(first, second);
/// drop(sampler);
/// drop(process);
/// ```
pub struct Sampler<'p> {
    handle: NonNull<sys::pydbg_sampler>,
    _process: PhantomData<&'p mut Process>,
}

// SAFETY: the C sampler may be used from any thread, one at a time; the process it
// borrows is Send and borrowed exclusively.
unsafe impl Send for Sampler<'_> {}

impl Process {
    /// Creates a sampler of this process.
    pub fn sampler(&mut self, options: SamplerOptions) -> Result<Sampler<'_>, Error> {
        let raw = options.raw();
        let mut handle = ptr::null_mut();
        // SAFETY: live process handle, borrowed exclusively for the sampler's life; valid
        // out-pointer and options. On failure the reason is in this thread's last error.
        let rc = unsafe { sys::pydbg_sampler_new(&mut handle, self.handle.as_ptr(), &raw) };
        match NonNull::new(handle) {
            Some(handle) if rc == sys::PYDBG_OK => Ok(Sampler { handle, _process: PhantomData }),
            _ => Err(Error::new(rc, unsafe { sys::pydbg_last_error() })),
        }
    }
}

/// The names of a code key, borrowed from the sampler (C: valid until it is freed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeInfo<'a> {
    /// `co_name`.
    pub function: Cow<'a, str>,
    /// `co_qualname` (3.11+).
    pub qualname: Option<Cow<'a, str>>,
    /// `co_filename`.
    pub filename: Cow<'a, str>,
    /// `co_firstlineno`.
    pub first_line: i32,
}

impl<'p> Sampler<'p> {
    fn p(&self) -> *const sys::pydbg_sampler {
        self.handle.as_ptr()
    }

    /// Takes one sample of every thread. The sample borrows the sampler until it is
    /// dropped (C: valid until the next sample), so only one exists at a time.
    pub fn sample(&mut self) -> Result<Sample<'_>, Error> {
        let mut out = ptr::null();
        // SAFETY: live handle used by this thread only (&mut); valid out-pointer.
        let rc = unsafe { sys::pydbg_sampler_sample(self.handle.as_ptr(), &mut out) };
        if rc != sys::PYDBG_OK {
            return Err(Error::new(rc, unsafe { sys::pydbg_sampler_errmsg(self.p()) }));
        }
        let this: &Self = self;
        match NonNull::new(out as *mut sys::pydbg_sample) {
            Some(raw) => Ok(Sample { raw, sampler: this }),
            None => Err(Error { code: sys::PYDBG_ECORRUPT, message: "no sample".into() }),
        }
    }

    /// The names of a code key given by a sample of this sampler; None for a key it
    /// never gave. A key names one code object for the sampler's whole life.
    pub fn code_info(&self, code: u64) -> Option<CodeInfo<'_>> {
        let mut function: *const c_char = ptr::null();
        let mut qualname: *const c_char = ptr::null();
        let mut filename: *const c_char = ptr::null();
        let mut first_line = 0;
        // SAFETY: live handle, not shared between threads (!Sync); valid out-pointers. The
        // strings live until the sampler is freed, which the borrow of self outlasts.
        let rc = unsafe {
            sys::pydbg_sampler_code_info(
                self.p(),
                code,
                &mut function,
                &mut qualname,
                &mut filename,
                &mut first_line,
            )
        };
        if rc != sys::PYDBG_OK {
            return None;
        }
        unsafe {
            Some(CodeInfo {
                function: text(function).unwrap_or(Cow::Borrowed("?")),
                qualname: text(qualname),
                filename: text(filename).unwrap_or(Cow::Borrowed("?")),
                first_line,
            })
        }
    }

    /// Samples taken so far.
    pub fn sample_count(&self) -> u64 {
        // SAFETY (the counters): live handle, not shared between threads.
        unsafe { sys::pydbg_sampler_sample_count(self.p()) }
    }

    /// Thread stacks found torn (changed while read) and dropped so far.
    pub fn torn_count(&self) -> u64 {
        unsafe { sys::pydbg_sampler_torn_count(self.p()) }
    }

    /// Thread stacks sampled so far, torn ones included.
    pub fn thread_sample_count(&self) -> u64 {
        unsafe { sys::pydbg_sampler_thread_sample_count(self.p()) }
    }

    /// Memory-reading system calls made so far.
    pub fn read_calls(&self) -> u64 {
        unsafe { sys::pydbg_sampler_read_calls(self.p()) }
    }
}

impl Drop for Sampler<'_> {
    fn drop(&mut self) {
        // SAFETY: owned; no Sample borrows it any more (borrow checker).
        unsafe { sys::pydbg_sampler_free(self.handle.as_ptr()) }
    }
}

/// One sample: every thread's stack at one moment, borrowed from its [`Sampler`].
pub struct Sample<'s> {
    raw: NonNull<sys::pydbg_sample>,
    sampler: &'s Sampler<'s>,
}

impl<'s> Sample<'s> {
    fn p(&self) -> *const sys::pydbg_sample {
        self.raw.as_ptr()
    }

    /// The number of threads in the sample (after the sampler's filters).
    pub fn thread_count(&self) -> usize {
        // SAFETY: valid until the next sample, which the borrow of the sampler prevents.
        unsafe { sys::pydbg_sample_thread_count(self.p()) }
    }

    /// Thread `index`, or None if out of range.
    pub fn thread(&self, index: usize) -> Option<SampleThread<'_>> {
        if index < self.thread_count() {
            Some(SampleThread { sample: self, index })
        } else {
            None
        }
    }

    /// Every thread of the sample.
    pub fn threads(&self) -> impl Iterator<Item = SampleThread<'_>> + '_ {
        (0..self.thread_count()).map(move |index| SampleThread { sample: self, index })
    }

    /// The names of a code key: [`Sampler::code_info`], reachable while the sample
    /// borrows the sampler.
    pub fn code_info(&self, code: u64) -> Option<CodeInfo<'s>> {
        self.sampler.code_info(code)
    }
}

/// One thread of a [`Sample`].
#[derive(Clone, Copy)]
pub struct SampleThread<'a> {
    sample: &'a Sample<'a>,
    index: usize,
}

impl<'a> SampleThread<'a> {
    fn p(&self) -> *const sys::pydbg_sample {
        self.sample.p()
    }

    /// `threading.get_ident()` as that thread sees it.
    pub fn ident(&self) -> u64 {
        // SAFETY (all getters below): the sample is valid for 'a, the index in range, the
        // getters thread-safe.
        unsafe { sys::pydbg_sample_thread_ident(self.p(), self.index) }
    }

    /// The `threading.Thread` name, if the thread has one.
    pub fn name(&self) -> Option<Cow<'a, str>> {
        unsafe { text(sys::pydbg_sample_thread_name(self.p(), self.index)) }
    }

    /// The Linux thread ID, where known.
    pub fn native_id(&self) -> Option<i64> {
        let id = unsafe { sys::pydbg_sample_thread_native_id(self.p(), self.index) };
        if id < 0 {
            None
        } else {
            Some(id)
        }
    }

    /// Whether the thread held the GIL; None where unknown or without the `gil` option.
    pub fn holds_gil(&self) -> Option<bool> {
        match unsafe { sys::pydbg_sample_thread_holds_gil(self.p(), self.index) } {
            0 => Some(false),
            1 => Some(true),
            _ => None,
        }
    }

    /// The scheduler state (with the `thread_state` option).
    pub fn state(&self) -> ThreadState {
        match unsafe { sys::pydbg_sample_thread_state(self.p(), self.index) } {
            sys::PYDBG_THREAD_STATE_RUNNING => ThreadState::Running,
            sys::PYDBG_THREAD_STATE_IDLE => ThreadState::Idle,
            _ => ThreadState::Unknown,
        }
    }

    /// Why the thread's stack is missing from this sample: `PYDBG_ECORRUPT` when it
    /// changed while it was read (then it has no frames).
    pub fn error(&self) -> Option<Error> {
        match unsafe { sys::pydbg_sample_thread_error(self.p(), self.index) } {
            sys::PYDBG_OK => None,
            code => Some(Error { code, message: String::new() }),
        }
    }

    /// Whether the stack was cut by the depth bound.
    pub fn truncated(&self) -> bool {
        unsafe { sys::pydbg_sample_thread_truncated(self.p(), self.index) != 0 }
    }

    /// The number of frames.
    pub fn frame_count(&self) -> usize {
        unsafe { sys::pydbg_sample_frame_count(self.p(), self.index) }
    }

    /// Every frame, innermost first.
    pub fn frames(&self) -> impl Iterator<Item = SampleFrame> + 'a {
        let (sample, thread) = (self.sample, self.index);
        (0..self.frame_count()).map(move |frame| unsafe {
            let line = sys::pydbg_sample_frame_line(sample.p(), thread, frame);
            SampleFrame {
                code: sys::pydbg_sample_frame_code(sample.p(), thread, frame),
                line: if line < 0 { None } else { Some(line) },
            }
        })
    }
}

/// One frame of a sample: a code key (names: [`Sampler::code_info`]) and the line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SampleFrame {
    /// The code key.
    pub code: u64,
    /// The line being executed, where known.
    pub line: Option<i32>,
}
