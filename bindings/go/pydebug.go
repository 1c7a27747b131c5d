// Package pydebug binds libpydebug: attach to a running CPython process and read every
// thread's Python stack, from the outside, without changing the process.
//
//	p, err := pydebug.Attach(pid, nil)
//	if err != nil { ... }
//	defer p.Close()
//	threads, err := p.Stacks(nil)
//	for _, t := range threads {
//		fmt.Println(t.Ident, t.Name)
//		for _, f := range t.Frames {
//			fmt.Printf("  %s (%s:%d)\n", f.Function, f.Filename, f.Line)
//		}
//	}
//
// The C library is found with pkg-config (`#cgo pkg-config: pydebug`): set PKG_CONFIG_PATH
// for a private prefix, and LD_LIBRARY_PATH (or an rpath) to run.
//
// How the C rules map to Go:
//   - Stacks copies the whole capture into Go values and frees the C result before it
//     returns: no C pointer escapes, nothing needs freeing, and the values may be shared by
//     any number of goroutines.
//   - A C process handle is used by one thread at a time; a Process serialises its calls
//     with a mutex, so it may be shared by goroutines. Close it when done.
//   - The reason of a failed attach is in a thread-local C variable; goroutines move between
//     OS threads, so Attach locks its goroutine to its thread between the call and the read.
//   - Failures are *Error values; errors.Is(err, pydebug.ENOPROC) tests the code.
package pydebug

/*
#cgo pkg-config: pydebug
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

// Code is a libpydebug error code (negative; 0 is success). It is an error itself, so that
// errors.Is(err, pydebug.ENOPROC) works on any *Error.
type Code int

// The codes of pydebug/errors.h (PYDBG_ERROR_LIST): never renumbered, only added to.
const (
	OK         Code = 0
	EINVAL     Code = -1
	ENOMEM     Code = -2
	ENOPROC    Code = -3
	EPERM      Code = -4
	ENOTPYTHON Code = -5
	EVERSION   Code = -6
	EREAD      Code = -7
	ECORRUPT   Code = -8
	EEXITED    Code = -9
	EIO        Code = -10
	EFORMAT    Code = -11
	ELIMIT     Code = -12
	ENOTFOUND  Code = -13
	ENOTSUP    Code = -14
	ESTATE     Code = -15
)

var codeNames = map[Code]string{
	OK: "OK", EINVAL: "EINVAL", ENOMEM: "ENOMEM", ENOPROC: "ENOPROC", EPERM: "EPERM",
	ENOTPYTHON: "ENOTPYTHON", EVERSION: "EVERSION", EREAD: "EREAD", ECORRUPT: "ECORRUPT",
	EEXITED: "EEXITED", EIO: "EIO", EFORMAT: "EFORMAT", ELIMIT: "ELIMIT",
	ENOTFOUND: "ENOTFOUND", ENOTSUP: "ENOTSUP", ESTATE: "ESTATE",
}

// Name is the code's name without its prefix ("ENOPROC"), "E?" for a code not known here.
func (c Code) Name() string {
	if n, ok := codeNames[c]; ok {
		return n
	}
	return "E?"
}

// Error returns the library's short description of the code.
func (c Code) Error() string { return StrError(int(c)) }

// Error is a libpydebug failure: its code and the detailed message.
type Error struct {
	Code    Code
	Message string
}

func (e *Error) Error() string {
	if e.Message == "" {
		return e.Code.Error()
	}
	return e.Code.Error() + ": " + e.Message
}

// Is reports whether target is this error's Code.
func (e *Error) Is(target error) bool {
	c, ok := target.(Code)
	return ok && c == e.Code
}

// Version is the loaded library's version string, such as "1.0.0".
func Version() string { return C.GoString(C.pydbg_version_string()) }

// VersionNumber is the loaded library's version as MAJOR*10000 + MINOR*100 + RELEASE.
func VersionNumber() uint { return uint(C.pydbg_version_number()) }

// StrError is the library's short, static description of an error code.
func StrError(code int) string { return C.GoString(C.pydbg_strerror(C.int(code))) }

// AttachOptions are the options of Attach; nil means the defaults.
type AttachOptions struct {
	Paused  bool // keep the target paused for the whole life of the handle
	ProcMem bool // read memory through /proc/PID/mem only
}

// Process is an attached process. Its methods may be called from several goroutines.
type Process struct {
	mu     sync.Mutex
	handle *C.pydbg_process
	// Samplers borrow the C handle: Close hands it to pending while any is open, and the
	// last one to close frees it.
	samplers int
	pending  *C.pydbg_process
}

// Attach attaches to the live process pid.
func Attach(pid int, options *AttachOptions) (*Process, error) {
	opts := C.pydbg_attach_options{struct_size: C.uint32_t(unsafe.Sizeof(C.pydbg_attach_options{}))}
	if options != nil {
		if options.Paused {
			opts.flags |= C.PYDBG_ATTACH_PAUSED
		}
		if options.ProcMem {
			opts.flags |= C.PYDBG_ATTACH_PROC_MEM
		}
	}
	// pydbg_last_error() is per OS thread: read it on the thread that failed.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var handle *C.pydbg_process
	rc := C.pydbg_process_attach(&handle, C.int(pid), &opts)
	if rc != C.PYDBG_OK || handle == nil {
		return nil, &Error{Code: Code(rc), Message: C.GoString(C.pydbg_last_error())}
	}
	p := &Process{handle: handle}
	runtime.SetFinalizer(p, (*Process).Close)
	return p, nil
}

// OpenCore opens a core file of a Python process: its stacks as the core recorded them
// (no pausing, no sampling). executablePath is where the process's main executable is
// now when it is not at the path the core records, or "" for that path.
func OpenCore(corePath, executablePath string) (*Process, error) {
	core := C.CString(corePath)
	defer C.free(unsafe.Pointer(core))
	var executable *C.char
	if executablePath != "" {
		executable = C.CString(executablePath)
		defer C.free(unsafe.Pointer(executable))
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var handle *C.pydbg_process
	rc := C.pydbg_process_open_core(&handle, core, executable, nil)
	if rc != C.PYDBG_OK || handle == nil {
		return nil, &Error{Code: Code(rc), Message: C.GoString(C.pydbg_last_error())}
	}
	p := &Process{handle: handle}
	runtime.SetFinalizer(p, (*Process).Close)
	return p, nil
}

// Close detaches; the target is resumed if this handle paused it. Closing twice is harmless.
// Samplers of the process keep the C handle open until they are closed themselves; the
// Process is unusable from now on.
func (p *Process) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.samplers > 0 && p.handle != nil {
		p.pending = p.handle
	} else {
		C.pydbg_process_close(p.handle) // NULL is a no-op
	}
	p.handle = nil
	runtime.SetFinalizer(p, nil)
}

// samplerClosed must be called with p.mu held, when a sampler of p has been freed.
func (p *Process) samplerClosed() {
	p.samplers--
	if p.samplers == 0 && p.pending != nil {
		C.pydbg_process_close(p.pending)
		p.pending = nil
	}
}

// live must be called with p.mu held.
func (p *Process) live() error {
	if p.handle == nil {
		return &Error{Code: ESTATE, Message: "the process is closed"}
	}
	return nil
}

// check must be called with p.mu held, right after the call that returned rc.
func (p *Process) check(rc C.int) error {
	if rc == C.PYDBG_OK {
		return nil
	}
	return &Error{Code: Code(rc), Message: C.GoString(C.pydbg_process_errmsg(p.handle))}
}

// PID is the target's process ID.
func (p *Process) PID() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.handle == nil {
		return -1
	}
	return int(C.pydbg_process_pid(p.handle))
}

// PythonVersion is the target's CPython version, such as "3.11.7".
func (p *Process) PythonVersion() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.handle == nil {
		return ""
	}
	return C.GoString(C.pydbg_process_python_version(p.handle))
}

// InterpreterPath is the path of the ELF file that holds the interpreter.
func (p *Process) InterpreterPath() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.handle == nil {
		return ""
	}
	return C.GoString(C.pydbg_process_interpreter_path(p.handle))
}

// Pause stops every thread of the target; each Pause needs a Resume.
func (p *Process) Pause() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.live(); err != nil {
		return err
	}
	return p.check(C.pydbg_process_pause(p.handle))
}

// Resume undoes one Pause.
func (p *Process) Resume() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.live(); err != nil {
		return err
	}
	return p.check(C.pydbg_process_resume(p.handle))
}

// CaptureOptions are the options of Stacks; nil means the defaults.
type CaptureOptions struct {
	Pause         bool   // pause the target during the capture, for a consistent view
	NoThreadNames bool   // do not look up threading.Thread names
	MaxDepth      uint32 // most frames kept per thread; 0 for the library's default
}

// Frame is one Python frame. Optional positions are -1 where unknown (as in C).
type Frame struct {
	Function          string
	Qualname          string // "" before CPython 3.11
	Filename          string
	Line              int
	EndLine           int
	Column            int
	EndColumn         int
	InstructionOffset int
	CodeAddress       uint64
}

// Thread is one thread and its frames, innermost first.
type Thread struct {
	InterpreterID int64
	Ident         uint64 // threading.get_ident() in that thread
	NativeID      int64  // Linux TID, -1 where unknown
	Name          string // threading.Thread name, "" if none
	HasName       bool
	IsMain        bool
	HoldsGIL      int // 1, 0, or -1 where unknown
	Truncated     bool
	Err           error // why the walk stopped part-way, nil if it did not
	Frames        []Frame
}

func goString(s *C.char) (string, bool) {
	if s == nil {
		return "", false
	}
	return C.GoString(s), true
}

// Stacks captures every thread's Python stack, copied into Go values.
func (p *Process) Stacks(options *CaptureOptions) ([]Thread, error) {
	opts := C.pydbg_capture_options{
		struct_size: C.uint32_t(unsafe.Sizeof(C.pydbg_capture_options{}))}
	if options != nil {
		if options.Pause {
			opts.flags |= C.PYDBG_CAPTURE_PAUSE
		}
		if options.NoThreadNames {
			opts.flags |= C.PYDBG_CAPTURE_NO_THREAD_NAMES
		}
		opts.max_depth = C.uint32_t(options.MaxDepth)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.live(); err != nil {
		return nil, err
	}
	var stacks *C.pydbg_stacks
	if err := p.check(C.pydbg_stacks_capture(&stacks, p.handle, &opts)); err != nil {
		return nil, err
	}
	defer C.pydbg_stacks_free(stacks)

	count := int(C.pydbg_stacks_thread_count(stacks))
	threads := make([]Thread, 0, count)
	for i := 0; i < count; i++ {
		t := C.pydbg_stacks_thread(stacks, C.size_t(i))
		if t == nil {
			return nil, fmt.Errorf("pydebug: thread %d of %d missing", i, count)
		}
		th := Thread{
			InterpreterID: int64(C.pydbg_thread_interpreter_id(t)),
			Ident:         uint64(C.pydbg_thread_ident(t)),
			NativeID:      int64(C.pydbg_thread_native_id(t)),
			IsMain:        C.pydbg_thread_is_main(t) == 1,
			HoldsGIL:      int(C.pydbg_thread_holds_gil(t)),
			Truncated:     C.pydbg_thread_truncated(t) != 0,
		}
		th.Name, th.HasName = goString(C.pydbg_thread_name(t))
		if rc := C.pydbg_thread_error(t); rc != C.PYDBG_OK {
			th.Err = &Error{Code: Code(rc), Message: C.GoString(C.pydbg_thread_errmsg(t))}
		}
		frames := int(C.pydbg_thread_frame_count(t))
		th.Frames = make([]Frame, 0, frames)
		for j := 0; j < frames; j++ {
			f := C.pydbg_thread_frame(t, C.size_t(j))
			if f == nil {
				break
			}
			qualname, _ := goString(C.pydbg_frame_qualname(f))
			th.Frames = append(th.Frames, Frame{
				Function:          C.GoString(C.pydbg_frame_function(f)),
				Qualname:          qualname,
				Filename:          C.GoString(C.pydbg_frame_filename(f)),
				Line:              int(C.pydbg_frame_line(f)),
				EndLine:           int(C.pydbg_frame_end_line(f)),
				Column:            int(C.pydbg_frame_column(f)),
				EndColumn:         int(C.pydbg_frame_end_column(f)),
				InstructionOffset: int(C.pydbg_frame_instruction_offset(f)),
				CodeAddress:       uint64(C.pydbg_frame_code_address(f)),
			})
		}
		threads = append(threads, th)
	}
	return threads, nil
}
