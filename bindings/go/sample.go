package pydebug

/*
#include <stdlib.h>
#include <pydebug.h>
*/
import "C"

import (
	"runtime"
	"sync"
	"unsafe"
)

// SamplerFlags are the flags of SamplerOptions (pydbg_sampler_flags).
type SamplerFlags uint32

// The values of pydbg_sampler_flags (pydebug/sample.h).
const (
	// SamplerThreadState reads each thread's scheduler state with every sample.
	SamplerThreadState SamplerFlags = 1 << 0
	// SamplerGILOnly keeps only the thread that holds the GIL (implies SamplerGIL).
	SamplerGILOnly SamplerFlags = 1 << 1
	// SamplerRunningOnly keeps only threads running on a CPU (implies SamplerThreadState).
	SamplerRunningOnly SamplerFlags = 1 << 2
	// SamplerPause pauses the target during each sample.
	SamplerPause SamplerFlags = 1 << 3
	// SamplerGIL reads which thread holds the GIL with every sample; without it
	// SampleThread.HoldsGIL is -1. Written as a number rather than C.PYDBG_SAMPLER_GIL so
	// that the package also builds against headers from before the flag.
	SamplerGIL SamplerFlags = 1 << 4
)

// ThreadState is a sampled thread's scheduler state (pydbg_thread_state).
type ThreadState int

// The values of pydbg_thread_state.
const (
	ThreadStateUnknown ThreadState = 0 // not read (no SamplerThreadState) or unreadable
	ThreadStateRunning ThreadState = 1 // on a CPU or runnable
	ThreadStateIdle    ThreadState = 2 // sleeping or blocked in the kernel
)

// SamplerOptions are the options of NewSampler; nil means the defaults.
type SamplerOptions struct {
	Flags    SamplerFlags
	MaxDepth uint32 // most frames kept per thread; 0 for the library's default
}

// SampleFrame is one frame of a sample: a code key (names: Sampler.CodeInfo) and the
// line being executed, -1 where unknown.
type SampleFrame struct {
	Code uint64
	Line int
}

// SampleThread is one thread of a sample, its frames innermost first.
type SampleThread struct {
	Ident     uint64 // threading.get_ident() in that thread
	NativeID  int64  // Linux TID, -1 where unknown
	Name      string // threading.Thread name, "" if none
	HasName   bool
	HoldsGIL  int // 1, 0, or -1 where unknown (always -1 without SamplerGIL)
	State     ThreadState
	Err       error // ECORRUPT when the stack was torn while read (then Frames is empty)
	Truncated bool
	Frames    []SampleFrame
}

// CodeInfo are the names of a code key.
type CodeInfo struct {
	Function  string
	Qualname  string // "" before CPython 3.11
	Filename  string
	FirstLine int
}

// SamplerStats are a sampler's counters.
type SamplerStats struct {
	Samples       uint64 // samples taken
	Torn          uint64 // thread stacks found torn and dropped
	ThreadSamples uint64 // thread stacks sampled, torn ones included
	ReadCalls     uint64 // memory-reading system calls made
}

// Sampler samples every thread's stack of a Process, fast and repeatedly. Its methods may
// be called from several goroutines (they are serialised). A C sampler borrows its
// process handle: Process.Close keeps the handle open until its last Sampler is closed.
type Sampler struct {
	mu     sync.Mutex
	p      *Process
	handle *C.pydbg_sampler
	names  map[uint64]CodeInfo
}

// NewSampler creates a sampler of the process. Close it when done (a finalizer closes it
// if it is dropped, but not at a predictable time).
func (p *Process) NewSampler(options *SamplerOptions) (*Sampler, error) {
	opts := C.pydbg_sampler_options{struct_size: C.uint32_t(unsafe.Sizeof(C.pydbg_sampler_options{}))}
	if options != nil {
		opts.flags = C.uint32_t(options.Flags)
		opts.max_depth = C.uint32_t(options.MaxDepth)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.live(); err != nil {
		return nil, err
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var handle *C.pydbg_sampler
	rc := C.pydbg_sampler_new(&handle, p.handle, &opts)
	if rc != C.PYDBG_OK || handle == nil {
		return nil, &Error{Code: Code(rc), Message: C.GoString(C.pydbg_last_error())}
	}
	p.samplers++
	s := &Sampler{p: p, handle: handle, names: map[uint64]CodeInfo{}}
	runtime.SetFinalizer(s, (*Sampler).Close)
	return s, nil
}

// Close frees the sampler. Closing twice is harmless.
func (s *Sampler) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.handle == nil {
		return
	}
	s.p.mu.Lock()
	defer s.p.mu.Unlock()
	C.pydbg_sampler_free(s.handle)
	s.handle = nil
	s.names = nil
	runtime.SetFinalizer(s, nil)
	s.p.samplerClosed()
}

func (s *Sampler) live() error {
	if s.handle == nil {
		return &Error{Code: ESTATE, Message: "the sampler is closed"}
	}
	return nil
}

// Sample takes one sample of every thread, copied into Go values.
func (s *Sampler) Sample() ([]SampleThread, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.live(); err != nil {
		return nil, err
	}
	// The sampler reads through the process handle, which no one else may use meanwhile.
	s.p.mu.Lock()
	defer s.p.mu.Unlock()
	var sample *C.pydbg_sample
	if rc := C.pydbg_sampler_sample(s.handle, &sample); rc != C.PYDBG_OK {
		return nil, &Error{Code: Code(rc), Message: C.GoString(C.pydbg_sampler_errmsg(s.handle))}
	}
	count := int(C.pydbg_sample_thread_count(sample))
	threads := make([]SampleThread, count)
	for i := range threads {
		t := C.size_t(i)
		th := &threads[i]
		th.Ident = uint64(C.pydbg_sample_thread_ident(sample, t))
		th.NativeID = int64(C.pydbg_sample_thread_native_id(sample, t))
		th.Name, th.HasName = goString(C.pydbg_sample_thread_name(sample, t))
		th.HoldsGIL = int(C.pydbg_sample_thread_holds_gil(sample, t))
		th.State = ThreadState(C.pydbg_sample_thread_state(sample, t))
		if rc := C.pydbg_sample_thread_error(sample, t); rc != C.PYDBG_OK {
			th.Err = &Error{Code: Code(rc), Message: "the stack changed while it was read"}
		}
		th.Truncated = C.pydbg_sample_thread_truncated(sample, t) != 0
		frames := int(C.pydbg_sample_frame_count(sample, t))
		th.Frames = make([]SampleFrame, frames)
		for j := range th.Frames {
			th.Frames[j] = SampleFrame{
				Code: uint64(C.pydbg_sample_frame_code(sample, t, C.size_t(j))),
				Line: int(C.pydbg_sample_frame_line(sample, t, C.size_t(j))),
			}
		}
	}
	return threads, nil
}

// CodeInfo gives the names of a code key from a sample of this sampler (ENOTFOUND for a
// key it never gave). Results are cached: a key names one code object for the sampler's
// life.
func (s *Sampler) CodeInfo(code uint64) (CodeInfo, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.live(); err != nil {
		return CodeInfo{}, err
	}
	if info, ok := s.names[code]; ok {
		return info, nil
	}
	var function, qualname, filename *C.char
	var firstLine C.int
	rc := C.pydbg_sampler_code_info(s.handle, C.uint64_t(code), &function, &qualname, &filename,
		&firstLine)
	if rc != C.PYDBG_OK {
		return CodeInfo{}, &Error{Code: Code(rc), Message: "no such code key in this sampler"}
	}
	info := CodeInfo{Function: C.GoString(function), Filename: C.GoString(filename),
		FirstLine: int(firstLine)}
	info.Qualname, _ = goString(qualname)
	s.names[code] = info
	return info, nil
}

// Stats returns the sampler's counters (zero once closed).
func (s *Sampler) Stats() SamplerStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.handle == nil {
		return SamplerStats{}
	}
	return SamplerStats{
		Samples:       uint64(C.pydbg_sampler_sample_count(s.handle)),
		Torn:          uint64(C.pydbg_sampler_torn_count(s.handle)),
		ThreadSamples: uint64(C.pydbg_sampler_thread_sample_count(s.handle)),
		ReadCalls:     uint64(C.pydbg_sampler_read_calls(s.handle)),
	}
}
