package pydebug

/*
#include <stdlib.h>
#include <pydebug.h>
*/
import "C"

import (
	"fmt"
	"runtime"
	"sync"
	"unsafe"
)

// TracebackKind says what kind of text a traceback was decoded from (pydbg_tb_kind).
type TracebackKind int

// The values of pydbg_tb_kind.
const (
	KindException TracebackKind = 0 // "Traceback (most recent call last):", or a bare SyntaxError
	KindThread    TracebackKind = 1 // a thread block of faulthandler or `pydebug dump`
)

// Relation says how an exception follows the previous one of its chain (pydbg_tb_relation).
type Relation int

// The values of pydbg_tb_relation.
const (
	RelationNone    Relation = 0 // the first exception of a chain
	RelationCause   Relation = 1 // "The above exception was the direct cause ..."
	RelationContext Relation = 2 // "During handling of the above exception ..."
)

// TracebackFormat is an output format of Traceback.Format (pydbg_tb_format).
type TracebackFormat int

// The values of pydbg_tb_format.
const (
	FormatText TracebackFormat = 0 // CPython's own text
	FormatJSON TracebackFormat = 1 // the object of `pydebug traceback --format json`
)

// TracebackFrame is one printed frame. Line is -1 when printed as "None" or "???".
type TracebackFrame struct {
	Filename  string
	Line      int
	Function  string
	Source    string // the source line as printed, stripped; "" when none (HasSource)
	HasSource bool
	Marker    string // the 3.11+ ~~~^^^ line under the source, "" when none
	Repeat    uint64 // N of "[Previous line repeated N more times]"
}

// SyntaxLocation is the location block printed before a SyntaxError's type line.
type SyntaxLocation struct {
	Filename  string
	Line      int // -1 if none
	Text      string
	Column    int // 0-based column of the first caret in Text, -1 if none
	EndColumn int // the column after the last caret, -1 if none
}

// ExceptionBlock is one sub-exception block of an exception group: a chain.
type ExceptionBlock struct {
	Exceptions   []TracebackException
	DepthLimited bool // printed as "... (max_group_depth is N)"
}

// TracebackException is one exception of a traceback's chain, in printed order.
type TracebackException struct {
	Type           string // as printed; "" for a thread block or a cut traceback (HasType)
	HasType        bool
	Message        string
	Relation       Relation
	HasTraceback   bool
	Frames         []TracebackFrame // outermost first; innermost first for thread blocks
	IsGroup        bool
	Blocks         []ExceptionBlock
	MoreExceptions uint64
	Syntax         *SyntaxLocation // nil unless a SyntaxError location block was printed
}

// Traceback is one decoded traceback. Its fields are copied from the library when it is
// made; the C handle is kept for Format until Close (or the finalizer).
type Traceback struct {
	Kind            TracebackKind
	StartLine       uint64 // 1-based input line where it begins
	EndLine         uint64
	Truncated       bool
	Prefix          string // the log prefix removed from every line, "" if none
	ThreadHeader    string // thread blocks: the header line as printed
	ThreadID        uint64
	ThreadName      string
	ThreadIsCurrent bool
	Exceptions      []TracebackException

	mu     sync.Mutex
	handle *C.pydbg_traceback
}

// Exception groups nest; the parser bounds them, and so does the copy, so that a hostile
// log cannot exhaust the goroutine's stack.
const maxGroupNesting = 200

func copyTbFrame(f *C.pydbg_tb_frame) TracebackFrame {
	out := TracebackFrame{
		Filename: C.GoString(C.pydbg_tb_frame_filename(f)),
		Line:     int(C.pydbg_tb_frame_line(f)),
		Function: C.GoString(C.pydbg_tb_frame_function(f)),
		Repeat:   uint64(C.pydbg_tb_frame_repeat(f)),
	}
	out.Source, out.HasSource = goString(C.pydbg_tb_frame_source(f))
	out.Marker, _ = goString(C.pydbg_tb_frame_marker(f))
	return out
}

func copyTbException(e *C.pydbg_tb_exception, depth int) TracebackException {
	out := TracebackException{
		Relation:       Relation(C.pydbg_tb_exception_relation(e)),
		HasTraceback:   C.pydbg_tb_exception_has_traceback(e) != 0,
		IsGroup:        C.pydbg_tb_exception_is_group(e) != 0,
		MoreExceptions: uint64(C.pydbg_tb_exception_more_exceptions(e)),
	}
	out.Type, out.HasType = goString(C.pydbg_tb_exception_type(e))
	out.Message, _ = goString(C.pydbg_tb_exception_message(e))
	n := int(C.pydbg_tb_exception_frame_count(e))
	out.Frames = make([]TracebackFrame, 0, n)
	for i := 0; i < n; i++ {
		if f := C.pydbg_tb_exception_frame(e, C.size_t(i)); f != nil {
			out.Frames = append(out.Frames, copyTbFrame(f))
		}
	}
	if depth < maxGroupNesting {
		blocks := int(C.pydbg_tb_exception_block_count(e))
		for i := 0; i < blocks; i++ {
			b := C.pydbg_tb_exception_block(e, C.size_t(i))
			if b == nil {
				continue
			}
			block := ExceptionBlock{DepthLimited: C.pydbg_tb_block_depth_limited(b) != 0}
			chain := int(C.pydbg_tb_block_exception_count(b))
			for j := 0; j < chain; j++ {
				if sub := C.pydbg_tb_block_exception(b, C.size_t(j)); sub != nil {
					block.Exceptions = append(block.Exceptions, copyTbException(sub, depth+1))
				}
			}
			out.Blocks = append(out.Blocks, block)
		}
	}
	var filename, text *C.char
	var line, column, endColumn C.int
	if C.pydbg_tb_exception_syntax(e, &filename, &line, &text, &column, &endColumn) == 1 {
		out.Syntax = &SyntaxLocation{Filename: C.GoString(filename), Line: int(line),
			Text: C.GoString(text), Column: int(column), EndColumn: int(endColumn)}
	}
	return out
}

func newTraceback(handle *C.pydbg_traceback) *Traceback {
	tb := &Traceback{
		Kind:            TracebackKind(C.pydbg_traceback_kind(handle)),
		StartLine:       uint64(C.pydbg_traceback_start_line(handle)),
		EndLine:         uint64(C.pydbg_traceback_end_line(handle)),
		Truncated:       C.pydbg_traceback_truncated(handle) != 0,
		ThreadID:        uint64(C.pydbg_traceback_thread_id(handle)),
		ThreadIsCurrent: C.pydbg_traceback_thread_is_current(handle) != 0,
		handle:          handle,
	}
	tb.Prefix, _ = goString(C.pydbg_traceback_prefix(handle))
	tb.ThreadHeader, _ = goString(C.pydbg_traceback_thread_header(handle))
	tb.ThreadName, _ = goString(C.pydbg_traceback_thread_name(handle))
	n := int(C.pydbg_traceback_exception_count(handle))
	for i := 0; i < n; i++ {
		if e := C.pydbg_traceback_exception(handle, C.size_t(i)); e != nil {
			tb.Exceptions = append(tb.Exceptions, copyTbException(e, 0))
		}
	}
	runtime.SetFinalizer(tb, (*Traceback).Close)
	return tb
}

// cBytes points C at the bytes of b, which hold no Go pointers and so may be passed.
func cBytes(b []byte) *C.char {
	if len(b) == 0 {
		return nil
	}
	return (*C.char)(unsafe.Pointer(&b[0]))
}

// ParseTraceback decodes the first traceback in text; ENOTFOUND if there is none.
func ParseTraceback(text []byte) (*Traceback, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var handle *C.pydbg_traceback
	// "" has no traceback, but NULL with length 0 is what C expects of an empty buffer.
	empty := [1]byte{}
	data := cBytes(text)
	if data == nil {
		data = (*C.char)(unsafe.Pointer(&empty[0]))
	}
	rc := C.pydbg_traceback_parse(&handle, data, C.size_t(len(text)))
	if rc != C.PYDBG_OK || handle == nil {
		return nil, &Error{Code: Code(rc), Message: C.GoString(C.pydbg_last_error())}
	}
	return newTraceback(handle), nil
}

// Close frees the C traceback; its copied fields stay usable. Closing twice is harmless.
func (tb *Traceback) Close() {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	C.pydbg_traceback_free(tb.handle)
	tb.handle = nil
	runtime.SetFinalizer(tb, nil)
}

// Format writes the traceback out as CPython's text or as JSON.
func (tb *Traceback) Format(format TracebackFormat) (string, error) {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	if tb.handle == nil {
		return "", &Error{Code: ESTATE, Message: "the traceback is closed"}
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var out *C.char
	var length C.size_t
	rc := C.pydbg_traceback_format(&out, &length, tb.handle, C.int(format))
	if rc != C.PYDBG_OK {
		return "", &Error{Code: Code(rc), Message: C.GoString(C.pydbg_last_error())}
	}
	defer C.pydbg_tb_string_free(out)
	return C.GoStringN(out, C.int(length)), nil
}

// TracebackParser finds every traceback in text given in pieces of any size. It is an
// io.Writer: io.Copy(parser, log) feeds a whole stream. Its methods may be called from
// several goroutines (they are serialised).
type TracebackParser struct {
	mu     sync.Mutex
	handle *C.pydbg_tb_parser
}

// NewTracebackParser creates a parser; maxTracebackBytes bounds the text of one traceback
// (0 for the library's default, 64 MiB).
func NewTracebackParser(maxTracebackBytes uint64) (*TracebackParser, error) {
	opts := C.pydbg_tb_parser_options{
		struct_size:         C.uint32_t(unsafe.Sizeof(C.pydbg_tb_parser_options{})),
		max_traceback_bytes: C.uint64_t(maxTracebackBytes),
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var handle *C.pydbg_tb_parser
	if rc := C.pydbg_tb_parser_new(&handle, &opts); rc != C.PYDBG_OK || handle == nil {
		return nil, &Error{Code: Code(rc), Message: C.GoString(C.pydbg_last_error())}
	}
	p := &TracebackParser{handle: handle}
	runtime.SetFinalizer(p, (*TracebackParser).Close)
	return p, nil
}

// Close frees the parser and the tracebacks it holds that Next has not returned.
func (p *TracebackParser) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	C.pydbg_tb_parser_free(p.handle)
	p.handle = nil
	runtime.SetFinalizer(p, nil)
}

// check must be called with p.mu held, right after the call that returned rc.
func (p *TracebackParser) check(rc C.int) error {
	if rc == C.PYDBG_OK {
		return nil
	}
	return &Error{Code: Code(rc), Message: C.GoString(C.pydbg_tb_parser_errmsg(p.handle))}
}

func (p *TracebackParser) live() error {
	if p.handle == nil {
		return &Error{Code: ESTATE, Message: "the parser is closed"}
	}
	return nil
}

// Write gives the parser the next piece of the input; ESTATE after Finish.
func (p *TracebackParser) Write(data []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.live(); err != nil {
		return 0, err
	}
	if err := p.check(C.pydbg_tb_parser_feed(p.handle, cBytes(data), C.size_t(len(data)))); err != nil {
		return 0, err
	}
	return len(data), nil
}

// Finish marks the end of the input: a traceback cut by it is completed (and truncated).
func (p *TracebackParser) Finish() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.live(); err != nil {
		return err
	}
	return p.check(C.pydbg_tb_parser_finish(p.handle))
}

// Next returns the next complete traceback in input order, or nil when none is ready yet
// (write more, or Finish).
func (p *TracebackParser) Next() (*Traceback, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.live(); err != nil {
		return nil, err
	}
	var handle *C.pydbg_traceback
	if err := p.check(C.pydbg_tb_parser_next(p.handle, &handle)); err != nil {
		return nil, err
	}
	if handle == nil {
		return nil, nil
	}
	return newTraceback(handle), nil
}

// LineCount is the number of input lines given so far.
func (p *TracebackParser) LineCount() uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.handle == nil {
		return 0
	}
	return uint64(C.pydbg_tb_parser_line_count(p.handle))
}

// ParseTracebacks decodes every traceback in text.
func ParseTracebacks(text []byte) ([]*Traceback, error) {
	p, err := NewTracebackParser(0)
	if err != nil {
		return nil, err
	}
	defer p.Close()
	if _, err := p.Write(text); err != nil {
		return nil, err
	}
	if err := p.Finish(); err != nil {
		return nil, err
	}
	var out []*Traceback
	for {
		tb, err := p.Next()
		if err != nil || tb == nil {
			return out, err
		}
		out = append(out, tb)
	}
}

func (k TracebackKind) String() string {
	switch k {
	case KindException:
		return "exception"
	case KindThread:
		return "thread"
	}
	return fmt.Sprintf("TracebackKind(%d)", int(k))
}

// Position is a source position; -1 where CPython has none (EndLine and the columns before
// 3.11).
type Position struct {
	Line, EndLine, Column, EndColumn int
}

// LinetableFormatForVersion returns the line-table format (as pydbg_linetable_format) of a
// CPython version given as sys.hexversion; EVERSION for a version without a known one.
func LinetableFormatForVersion(hexversion uint32) (int, error) {
	rc := C.pydbg_linetable_format_for_version(C.uint32_t(hexversion))
	if rc < 0 {
		return 0, &Error{Code: Code(rc), Message: C.GoString(C.pydbg_strerror(rc))}
	}
	return int(rc), nil
}

// LinetableLookup returns the position of the instruction at byte offset offset, from a
// raw line table (the bytes of co_linetable / co_lnotab) in the given format; ENOTFOUND
// when a 3.11+ table has no entry for it.
func LinetableLookup(format int, table []byte, firstLine, offset int) (Position, error) {
	var line, endLine, column, endColumn C.int
	var data *C.uint8_t
	if len(table) > 0 {
		data = (*C.uint8_t)(C.CBytes(table))
		defer C.free(unsafe.Pointer(data))
	}
	rc := C.pydbg_linetable_lookup(&line, &endLine, &column, &endColumn, C.int(format), data,
		C.size_t(len(table)), C.int(firstLine), C.int(offset))
	if rc != C.PYDBG_OK {
		return Position{-1, -1, -1, -1}, &Error{Code: Code(rc), Message: C.GoString(C.pydbg_strerror(rc))}
	}
	return Position{int(line), int(endLine), int(column), int(endColumn)}, nil
}
