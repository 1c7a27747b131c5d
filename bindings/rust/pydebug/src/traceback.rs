//! Finding, decoding and formatting Python tracebacks in text (`pydebug/traceback.h`).
use std::borrow::Cow;
use std::marker::PhantomData;
use std::os::raw::{c_char, c_int};
use std::ptr::{self, NonNull};

use crate::{sys, text, Error};

/// What kind of text a traceback was decoded from (`pydbg_tb_kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TracebackKind {
    /// An exception traceback (`Traceback (most recent call last):`, or a bare SyntaxError).
    Exception,
    /// One thread block of a `faulthandler` dump or of `pydebug dump` text output.
    Thread,
}

/// How an exception follows the previous one of its chain (`pydbg_tb_relation`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Relation {
    /// The first exception of a chain.
    None,
    /// "The above exception was the direct cause of the following exception:"
    Cause,
    /// "During handling of the above exception, another exception occurred:"
    Context,
}

/// An output format of [`Traceback::format`] (`pydbg_tb_format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TracebackFormat {
    /// CPython's own text, without log prefixes or colours.
    Text,
    /// The JSON object of `pydebug traceback --format json`.
    Json,
}

/// One decoded traceback, owned; freed when dropped. Immutable, hence `Send` and `Sync`;
/// the exceptions and frames borrow from it.
pub struct Traceback {
    handle: NonNull<sys::pydbg_traceback>,
}

// SAFETY: an immutable object whose accessors are thread-safe (traceback.h).
unsafe impl Send for Traceback {}
unsafe impl Sync for Traceback {}

fn optional(value: c_int) -> Option<i32> {
    if value < 0 {
        None
    } else {
        Some(value)
    }
}

impl Traceback {
    /// Decodes the first traceback in `text`; `PYDBG_ENOTFOUND` if it holds none.
    pub fn parse(text: &[u8]) -> Result<Traceback, Error> {
        let mut handle = ptr::null_mut();
        // SAFETY: the bytes are valid for their length (a dangling but non-NULL pointer
        // for an empty slice, which C never reads); valid out-pointer.
        let rc = unsafe {
            sys::pydbg_traceback_parse(&mut handle, text.as_ptr() as *const c_char, text.len())
        };
        match NonNull::new(handle) {
            Some(handle) if rc == sys::PYDBG_OK => Ok(Traceback { handle }),
            _ => Err(Error::new(rc, unsafe { sys::pydbg_last_error() })),
        }
    }

    fn p(&self) -> *const sys::pydbg_traceback {
        self.handle.as_ptr()
    }

    /// What kind of text it came from.
    pub fn kind(&self) -> TracebackKind {
        // SAFETY (all getters below): live handle; thread-safe getters; borrowed strings
        // live as long as the traceback, which the returned lifetimes are tied to.
        match unsafe { sys::pydbg_traceback_kind(self.p()) } {
            sys::PYDBG_TB_KIND_THREAD => TracebackKind::Thread,
            _ => TracebackKind::Exception,
        }
    }

    /// The 1-based input line where it begins.
    pub fn start_line(&self) -> u64 {
        unsafe { sys::pydbg_traceback_start_line(self.p()) }
    }

    /// The 1-based input line of its last line.
    pub fn end_line(&self) -> u64 {
        unsafe { sys::pydbg_traceback_end_line(self.p()) }
    }

    /// Whether it was cut (by the end of the input, a foreign line or the size bound).
    pub fn truncated(&self) -> bool {
        unsafe { sys::pydbg_traceback_truncated(self.p()) != 0 }
    }

    /// The log prefix found on its first line and removed from every line ("" if none).
    pub fn prefix(&self) -> Cow<'_, str> {
        unsafe { text(sys::pydbg_traceback_prefix(self.p())) }.unwrap_or_default()
    }

    /// For a thread block, its header line as printed.
    pub fn thread_header(&self) -> Option<Cow<'_, str>> {
        unsafe { text(sys::pydbg_traceback_thread_header(self.p())) }
    }

    /// For a thread block, the thread id of its header (0 when it names none).
    pub fn thread_id(&self) -> u64 {
        unsafe { sys::pydbg_traceback_thread_id(self.p()) }
    }

    /// For a `pydebug dump` thread block, the thread name of its header.
    pub fn thread_name(&self) -> Option<Cow<'_, str>> {
        unsafe { text(sys::pydbg_traceback_thread_name(self.p())) }
    }

    /// Whether the header is faulthandler's `Current thread 0x…`.
    pub fn thread_is_current(&self) -> bool {
        unsafe { sys::pydbg_traceback_thread_is_current(self.p()) != 0 }
    }

    /// The exceptions of the chain, in printed order (the last one ended the program).
    pub fn exceptions(&self) -> impl Iterator<Item = TbException<'_>> + '_ {
        let count = unsafe { sys::pydbg_traceback_exception_count(self.p()) };
        (0..count).filter_map(move |i| {
            TbException::new(unsafe { sys::pydbg_traceback_exception(self.p(), i) })
        })
    }

    /// Writes the traceback out as CPython's text or as JSON.
    pub fn format(&self, format: TracebackFormat) -> Result<String, Error> {
        let code = match format {
            TracebackFormat::Text => sys::PYDBG_TB_FORMAT_TEXT,
            TracebackFormat::Json => sys::PYDBG_TB_FORMAT_JSON,
        };
        let mut out = ptr::null_mut();
        let mut length = 0usize;
        // SAFETY: live handle; valid out-pointers; the string is copied, then freed with
        // the library's own function.
        let rc = unsafe { sys::pydbg_traceback_format(&mut out, &mut length, self.p(), code) };
        if rc != sys::PYDBG_OK || out.is_null() {
            return Err(Error::new(rc, unsafe { sys::pydbg_last_error() }));
        }
        let bytes = unsafe { std::slice::from_raw_parts(out as *const u8, length) };
        let result = String::from_utf8_lossy(bytes).into_owned();
        unsafe { sys::pydbg_tb_string_free(out) };
        Ok(result)
    }
}

impl Drop for Traceback {
    fn drop(&mut self) {
        // SAFETY: owned; nothing borrowing from it is left (borrow checker).
        unsafe { sys::pydbg_traceback_free(self.handle.as_ptr()) }
    }
}

/// One exception of a chain, borrowed from its [`Traceback`].
#[derive(Clone, Copy)]
pub struct TbException<'a> {
    raw: NonNull<sys::pydbg_tb_exception>,
    _tb: PhantomData<&'a Traceback>,
}

// SAFETY: borrowed from an immutable, Sync traceback; the getters are thread-safe.
unsafe impl Send for TbException<'_> {}
unsafe impl Sync for TbException<'_> {}

/// The location block printed before a SyntaxError's type line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxLocation<'a> {
    /// The file name.
    pub filename: Cow<'a, str>,
    /// The line number.
    pub line: Option<i32>,
    /// The source text as printed, stripped.
    pub text: Option<Cow<'a, str>>,
    /// The 0-based column of the first caret within `text`.
    pub column: Option<i32>,
    /// The column after the last caret.
    pub end_column: Option<i32>,
}

impl<'a> TbException<'a> {
    fn new(p: *const sys::pydbg_tb_exception) -> Option<TbException<'a>> {
        NonNull::new(p as *mut sys::pydbg_tb_exception)
            .map(|raw| TbException { raw, _tb: PhantomData })
    }

    fn p(&self) -> *const sys::pydbg_tb_exception {
        self.raw.as_ptr()
    }

    /// The type as printed ("KeyError"); None for a thread block or a cut traceback.
    pub fn type_name(&self) -> Option<Cow<'a, str>> {
        // SAFETY (all getters below): valid for 'a, thread-safe.
        unsafe { text(sys::pydbg_tb_exception_type(self.p())) }
    }

    /// The message as printed after "Type: " (lines joined with "\n").
    pub fn message(&self) -> Option<Cow<'a, str>> {
        unsafe { text(sys::pydbg_tb_exception_message(self.p())) }
    }

    /// How it follows the previous exception.
    pub fn relation(&self) -> Relation {
        match unsafe { sys::pydbg_tb_exception_relation(self.p()) } {
            sys::PYDBG_TB_RELATION_CAUSE => Relation::Cause,
            sys::PYDBG_TB_RELATION_CONTEXT => Relation::Context,
            _ => Relation::None,
        }
    }

    /// Whether it had its own `Traceback (most recent call last):` header.
    pub fn has_traceback(&self) -> bool {
        unsafe { sys::pydbg_tb_exception_has_traceback(self.p()) != 0 }
    }

    /// Its frames as printed: outermost first (innermost first for thread blocks).
    pub fn frames(&self) -> impl Iterator<Item = TbFrame<'a>> + 'a {
        let exc = *self;
        let count = unsafe { sys::pydbg_tb_exception_frame_count(exc.p()) };
        (0..count).filter_map(move |i| {
            let p = unsafe { sys::pydbg_tb_exception_frame(exc.p(), i) };
            NonNull::new(p as *mut sys::pydbg_tb_frame).map(|raw| TbFrame { raw, _tb: PhantomData })
        })
    }

    /// Whether it is an exception group printed with its sub-exception blocks.
    pub fn is_group(&self) -> bool {
        unsafe { sys::pydbg_tb_exception_is_group(self.p()) != 0 }
    }

    /// The sub-exception blocks of a group, in printed order.
    pub fn blocks(&self) -> impl Iterator<Item = TbBlock<'a>> + 'a {
        let exc = *self;
        let count = unsafe { sys::pydbg_tb_exception_block_count(exc.p()) };
        (0..count).filter_map(move |i| {
            let p = unsafe { sys::pydbg_tb_exception_block(exc.p(), i) };
            NonNull::new(p as *mut sys::pydbg_tb_block).map(|raw| TbBlock { raw, _tb: PhantomData })
        })
    }

    /// N of a group's `... (N more exceptions)` line, else 0.
    pub fn more_exceptions(&self) -> u64 {
        unsafe { sys::pydbg_tb_exception_more_exceptions(self.p()) }
    }

    /// The SyntaxError location block, if one was printed.
    pub fn syntax(&self) -> Option<SyntaxLocation<'a>> {
        let mut filename: *const c_char = ptr::null();
        let mut source: *const c_char = ptr::null();
        let (mut line, mut column, mut end_column) = (-1, -1, -1);
        let has = unsafe {
            sys::pydbg_tb_exception_syntax(
                self.p(),
                &mut filename,
                &mut line,
                &mut source,
                &mut column,
                &mut end_column,
            )
        };
        if has != 1 {
            return None;
        }
        Some(SyntaxLocation {
            filename: unsafe { text(filename) }.unwrap_or_default(),
            line: optional(line),
            text: unsafe { text(source) },
            column: optional(column),
            end_column: optional(end_column),
        })
    }
}

/// One sub-exception block of an exception group: a chain, borrowed from its [`Traceback`].
#[derive(Clone, Copy)]
pub struct TbBlock<'a> {
    raw: NonNull<sys::pydbg_tb_block>,
    _tb: PhantomData<&'a Traceback>,
}

// SAFETY: borrowed from an immutable, Sync traceback; the getters are thread-safe.
unsafe impl Send for TbBlock<'_> {}
unsafe impl Sync for TbBlock<'_> {}

impl<'a> TbBlock<'a> {
    /// The block's chain of exceptions, in printed order.
    pub fn exceptions(&self) -> impl Iterator<Item = TbException<'a>> + 'a {
        let raw = self.raw;
        // SAFETY: valid for 'a, thread-safe.
        let count = unsafe { sys::pydbg_tb_block_exception_count(raw.as_ptr()) };
        (0..count).filter_map(move |i| {
            TbException::new(unsafe { sys::pydbg_tb_block_exception(raw.as_ptr(), i) })
        })
    }

    /// Whether it was printed as `... (max_group_depth is N)` instead of its exceptions.
    pub fn depth_limited(&self) -> bool {
        unsafe { sys::pydbg_tb_block_depth_limited(self.raw.as_ptr()) != 0 }
    }
}

/// One printed frame, borrowed from its [`Traceback`].
#[derive(Clone, Copy)]
pub struct TbFrame<'a> {
    raw: NonNull<sys::pydbg_tb_frame>,
    _tb: PhantomData<&'a Traceback>,
}

// SAFETY: borrowed from an immutable, Sync traceback; the getters are thread-safe.
unsafe impl Send for TbFrame<'_> {}
unsafe impl Sync for TbFrame<'_> {}

impl<'a> TbFrame<'a> {
    fn p(&self) -> *const sys::pydbg_tb_frame {
        self.raw.as_ptr()
    }

    /// The file name as printed ("???" when faulthandler had none).
    pub fn filename(&self) -> Cow<'a, str> {
        // SAFETY (all getters below): valid for 'a, thread-safe.
        unsafe { text(sys::pydbg_tb_frame_filename(self.p())) }.unwrap_or_default()
    }

    /// The line number; None when printed as "None" or "???".
    pub fn line(&self) -> Option<i32> {
        optional(unsafe { sys::pydbg_tb_frame_line(self.p()) })
    }

    /// The function name as printed.
    pub fn function(&self) -> Cow<'a, str> {
        unsafe { text(sys::pydbg_tb_frame_function(self.p())) }.unwrap_or_default()
    }

    /// The source line as printed, stripped.
    pub fn source(&self) -> Option<Cow<'a, str>> {
        unsafe { text(sys::pydbg_tb_frame_source(self.p())) }
    }

    /// The 3.11+ marker line (`~~~^^^`) aligned with [`TbFrame::source`].
    pub fn marker(&self) -> Option<Cow<'a, str>> {
        unsafe { text(sys::pydbg_tb_frame_marker(self.p())) }
    }

    /// N of a `[Previous line repeated N more times]` line after this frame, else 0.
    pub fn repeat(&self) -> u64 {
        unsafe { sys::pydbg_tb_frame_repeat(self.p()) }
    }
}

/// How to parse; see `pydbg_tb_parser_options`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ParserOptions {
    /// Largest text of one traceback in bytes; 0 for the library's default (64 MiB).
    pub max_traceback_bytes: u64,
}

/// Finds every traceback in text given in pieces of any size, in input order. It is a
/// [`std::io::Write`], so `std::io::copy(&mut log, &mut parser)` feeds a whole stream.
pub struct TracebackParser {
    handle: NonNull<sys::pydbg_tb_parser>,
}

// SAFETY: the C parser may be used from any thread, one at a time (&mut self).
unsafe impl Send for TracebackParser {}

impl TracebackParser {
    /// Creates a parser with default options.
    pub fn new() -> Result<TracebackParser, Error> {
        TracebackParser::with_options(ParserOptions::default())
    }

    /// Creates a parser.
    pub fn with_options(options: ParserOptions) -> Result<TracebackParser, Error> {
        let raw = sys::pydbg_tb_parser_options {
            max_traceback_bytes: options.max_traceback_bytes,
            ..Default::default()
        };
        let mut handle = ptr::null_mut();
        // SAFETY: valid out-pointer and options.
        let rc = unsafe { sys::pydbg_tb_parser_new(&mut handle, &raw) };
        match NonNull::new(handle) {
            Some(handle) if rc == sys::PYDBG_OK => Ok(TracebackParser { handle }),
            _ => Err(Error::new(rc, unsafe { sys::pydbg_last_error() })),
        }
    }

    fn check(&self, rc: i32) -> Result<(), Error> {
        if rc == sys::PYDBG_OK {
            Ok(())
        } else {
            // SAFETY: live handle; the message is copied at once.
            Err(Error::new(rc, unsafe { sys::pydbg_tb_parser_errmsg(self.handle.as_ptr()) }))
        }
    }

    /// Gives the parser the next piece of the input; `PYDBG_ESTATE` after [`finish`].
    ///
    /// [`finish`]: TracebackParser::finish
    pub fn feed(&mut self, data: &[u8]) -> Result<(), Error> {
        // SAFETY: live handle used by this thread only; the bytes are valid for their length.
        let rc = unsafe {
            sys::pydbg_tb_parser_feed(
                self.handle.as_ptr(),
                data.as_ptr() as *const c_char,
                data.len(),
            )
        };
        self.check(rc)
    }

    /// Marks the end of the input: a traceback cut by it is completed (and truncated).
    pub fn finish(&mut self) -> Result<(), Error> {
        // SAFETY: live handle used by this thread only.
        let rc = unsafe { sys::pydbg_tb_parser_finish(self.handle.as_ptr()) };
        self.check(rc)
    }

    /// The next complete traceback, owned by the caller; None when none is ready yet.
    pub fn next_traceback(&mut self) -> Result<Option<Traceback>, Error> {
        let mut out = ptr::null_mut();
        // SAFETY: live handle used by this thread only; valid out-pointer.
        let rc = unsafe { sys::pydbg_tb_parser_next(self.handle.as_ptr(), &mut out) };
        self.check(rc)?;
        Ok(NonNull::new(out).map(|handle| Traceback { handle }))
    }

    /// Every traceback complete so far.
    pub fn drain(&mut self) -> Result<Vec<Traceback>, Error> {
        let mut out = Vec::new();
        while let Some(tb) = self.next_traceback()? {
            out.push(tb);
        }
        Ok(out)
    }

    /// The number of input lines given so far.
    pub fn line_count(&self) -> u64 {
        // SAFETY: live handle, not shared between threads (!Sync).
        unsafe { sys::pydbg_tb_parser_line_count(self.handle.as_ptr()) }
    }
}

impl std::io::Write for TracebackParser {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.feed(buf).map_err(|e| std::io::Error::new(std::io::ErrorKind::Other, e))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for TracebackParser {
    fn drop(&mut self) {
        // SAFETY: owned; tracebacks already taken are independent of it.
        unsafe { sys::pydbg_tb_parser_free(self.handle.as_ptr()) }
    }
}

/// Decodes every traceback in `text`.
pub fn parse_all(text: &[u8]) -> Result<Vec<Traceback>, Error> {
    let mut parser = TracebackParser::new()?;
    parser.feed(text)?;
    parser.finish()?;
    parser.drain()
}

/// A source position; -1 where CPython has none (`end_line` and the columns before 3.11).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    /// The line, -1 if the instruction has none.
    pub line: i32,
    /// The last line (PEP 657).
    pub end_line: i32,
    /// The 0-based UTF-8 start column.
    pub column: i32,
    /// The 0-based UTF-8 end column.
    pub end_column: i32,
}

fn code_error(code: i32) -> Error {
    Error { code, message: crate::strerror(code) }
}

/// The line-table format (as `pydbg_linetable_format`) of a CPython version given as
/// `sys.hexversion`; `EVERSION` for a version without a known one.
pub fn linetable_format_for_version(hexversion: u32) -> Result<i32, Error> {
    // SAFETY: a pure function of its argument.
    let rc = unsafe { sys::pydbg_linetable_format_for_version(hexversion) };
    if rc < 0 {
        Err(code_error(rc))
    } else {
        Ok(rc)
    }
}

/// The position of the instruction at byte offset `offset`, from a raw line table (the bytes
/// of `co_linetable` / `co_lnotab`) in `format`; `ENOTFOUND` when a 3.11+ table has no entry
/// for it.
pub fn linetable_lookup(
    format: i32,
    table: &[u8],
    first_line: i32,
    offset: i32,
) -> Result<Position, Error> {
    let mut p = Position { line: -1, end_line: -1, column: -1, end_column: -1 };
    // SAFETY: valid out-pointers; the table is read within its length and not kept.
    let rc = unsafe {
        sys::pydbg_linetable_lookup(
            &mut p.line,
            &mut p.end_line,
            &mut p.column,
            &mut p.end_column,
            format,
            table.as_ptr(),
            table.len(),
            first_line,
            offset,
        )
    };
    if rc == sys::PYDBG_OK {
        Ok(p)
    } else {
        Err(code_error(rc))
    }
}
