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

// The values of pydbg_snapshot_contents (Snapshot.Contents).
const (
	SnapshotHasMappings  uint32 = 1 << 0 // the OS mappings were recorded
	SnapshotHasCensus    uint32 = 1 << 1 // the tracked objects were counted
	SnapshotHasReferents uint32 = 1 << 2 // untracked objects reached were counted
	SnapshotWasPaused    uint32 = 1 << 3 // the target was paused: the census is exact
	SnapshotHasPymalloc  uint32 = 1 << 4 // pymalloc's arena usage was recorded
)

// MappingKind classifies a mapping (pydbg_mapping_kind).
type MappingKind int

// The values of pydbg_mapping_kind.
const (
	MappingAnon    MappingKind = 0
	MappingHeap    MappingKind = 1
	MappingStack   MappingKind = 2
	MappingFile    MappingKind = 3
	MappingSpecial MappingKind = 4
)

// DiffBy is what a diff groups by (pydbg_diff_by).
type DiffBy int

// The values of pydbg_diff_by.
const (
	DiffByType    DiffBy = 0 // tp_name; counts are objects, sizes bytes
	DiffByMapping DiffBy = 1 // mapping path or [heap], [anon], [stack]; resident bytes
	DiffByArena   DiffBy = 2 // pymalloc arenas and size classes
)

// SnapshotOptions are the options of Process.Snapshot; nil means the defaults (paused,
// full census).
type SnapshotOptions struct {
	NoPause     bool // let the target run: a best-effort census, retried when it changes
	NoCensus    bool // the mappings only
	NoReferents bool // count tracked objects only
}

// DiffOptions are the options of Diff; nil means by type, tracked and reached objects.
type DiffOptions struct {
	By          DiffBy
	TrackedOnly bool // by type: only what gc.get_objects() sees
}

// TypeEntry is one type of a heap census; sizes are in bytes.
type TypeEntry struct {
	Name         string
	TrackedCount uint64
	TrackedBytes uint64
	ReachedCount uint64
	ReachedBytes uint64
	Address      uint64 // of the type object in the target
}

// Mapping is one mapping of the target; sizes are in bytes.
type Mapping struct {
	Path         string // a file, [heap], [stack], or "" (anonymous)
	Kind         MappingKind
	Start, End   uint64
	RSS, PSS     uint64
	PrivateDirty uint64
	Swap         uint64
	Perms        uint64 // 1 read, 2 write, 4 execute, 8 private
	Offset       uint64
}

// SizeClass is one pymalloc size class's usage.
type SizeClass struct {
	BlockSize, Pools, Blocks, Bytes uint64
}

// PymallocUsage is one pymalloc allocator's arena usage (as sys._debugmallocstats()).
type PymallocUsage struct {
	InterpreterID uint64 // 2^64-1 for the one allocator of 3.6 - 3.11
	Arenas        uint64
	ArenaBytes    uint64
	BlockBytes    uint64
	Blocks        uint64
	Pools         uint64
	FreePools     uint64
	ArenaSize     uint64
	PoolSize      uint64
	SizeClasses   []SizeClass
}

// DiffRow is one entry of a diff.
type DiffRow struct {
	Key        string
	CountDelta int64
	SizeDelta  int64
	Count      int64
	Size       int64
	OldCount   int64
	OldSize    int64
}

// Snapshot is a memory snapshot of a process. It is immutable: its methods may be called
// from any number of goroutines, except Close. A finalizer frees it if it is dropped.
type Snapshot struct {
	mu     sync.RWMutex
	handle *C.pydbg_snapshot
}

func newSnapshot(handle *C.pydbg_snapshot) *Snapshot {
	s := &Snapshot{handle: handle}
	runtime.SetFinalizer(s, (*Snapshot).Close)
	return s
}

func lastError(rc C.int) error {
	return &Error{Code: Code(rc), Message: C.GoString(C.pydbg_last_error())}
}

// Snapshot records the target's mappings and a census of its heap by type.
func (p *Process) Snapshot(options *SnapshotOptions) (*Snapshot, error) {
	opts := C.pydbg_snapshot_options{
		struct_size: C.uint32_t(unsafe.Sizeof(C.pydbg_snapshot_options{})),
		flags:       C.PYDBG_SNAPSHOT_PAUSE,
	}
	if options != nil {
		if options.NoPause {
			opts.flags = 0
		}
		if options.NoCensus {
			opts.flags |= C.PYDBG_SNAPSHOT_NO_CENSUS
		}
		if options.NoReferents {
			opts.flags |= C.PYDBG_SNAPSHOT_NO_REFERENTS
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.live(); err != nil {
		return nil, err
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var handle *C.pydbg_snapshot
	if rc := C.pydbg_snapshot_take(&handle, p.handle, &opts); rc != C.PYDBG_OK || handle == nil {
		return nil, lastError(rc)
	}
	return newSnapshot(handle), nil
}

// LoadSnapshot reads a snapshot file written by Snapshot.Save.
func LoadSnapshot(path string) (*Snapshot, error) {
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var handle *C.pydbg_snapshot
	if rc := C.pydbg_snapshot_load(&handle, cpath); rc != C.PYDBG_OK || handle == nil {
		return nil, lastError(rc)
	}
	return newSnapshot(handle), nil
}

// LoadSnapshotBytes reads a snapshot from the bytes of a snapshot file.
func LoadSnapshotBytes(data []byte) (*Snapshot, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var handle *C.pydbg_snapshot
	rc := C.pydbg_snapshot_load_memory(&handle, unsafe.Pointer(cBytes(data)), C.size_t(len(data)))
	if rc != C.PYDBG_OK || handle == nil {
		return nil, lastError(rc)
	}
	return newSnapshot(handle), nil
}

// Close frees the snapshot. Closing twice is harmless.
func (s *Snapshot) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	C.pydbg_snapshot_free(s.handle)
	s.handle = nil
	runtime.SetFinalizer(s, nil)
}

// read runs f with the handle under the read lock, or fails with ESTATE once closed.
func (s *Snapshot) read(f func(h *C.pydbg_snapshot)) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.handle == nil {
		return &Error{Code: ESTATE, Message: "the snapshot is closed"}
	}
	f(s.handle)
	return nil
}

// Save writes the snapshot to a file (replaced atomically).
func (s *Snapshot) Save(path string) error {
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	var err error
	if e := s.read(func(h *C.pydbg_snapshot) {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if rc := C.pydbg_snapshot_save(h, cpath); rc != C.PYDBG_OK {
			err = lastError(rc)
		}
	}); e != nil {
		return e
	}
	return err
}

// SnapshotInfo is what a snapshot says about itself.
type SnapshotInfo struct {
	Contents      uint32 // SnapshotHas... and SnapshotWasPaused
	PID           int
	TimeNs        int64 // when it was taken, since the Unix epoch
	CensusNs      int64 // how long the census took
	PythonVersion string
	Executable    string
	CensusNote    string // what the census covers, or why there is none
	PymallocNote  string
}

// Info returns what the snapshot says about itself.
func (s *Snapshot) Info() (SnapshotInfo, error) {
	var info SnapshotInfo
	err := s.read(func(h *C.pydbg_snapshot) {
		info = SnapshotInfo{
			Contents:      uint32(C.pydbg_snapshot_contents(h)),
			PID:           int(C.pydbg_snapshot_pid(h)),
			TimeNs:        int64(C.pydbg_snapshot_time_ns(h)),
			CensusNs:      int64(C.pydbg_snapshot_census_ns(h)),
			PythonVersion: C.GoString(C.pydbg_snapshot_python_version(h)),
			Executable:    C.GoString(C.pydbg_snapshot_executable(h)),
			CensusNote:    C.GoString(C.pydbg_snapshot_census_note(h)),
			PymallocNote:  C.GoString(C.pydbg_snapshot_pymalloc_note(h)),
		}
	})
	return info, err
}

// Types returns the heap census, one entry per type object (none without a census).
func (s *Snapshot) Types() ([]TypeEntry, error) {
	var out []TypeEntry
	err := s.read(func(h *C.pydbg_snapshot) {
		n := int(C.pydbg_snapshot_type_count(h))
		out = make([]TypeEntry, n)
		for i := range out {
			v := func(f C.pydbg_type_field) uint64 {
				return uint64(C.pydbg_snapshot_type_value(h, C.size_t(i), f))
			}
			name, _ := goString(C.pydbg_snapshot_type_name(h, C.size_t(i)))
			out[i] = TypeEntry{Name: name, TrackedCount: v(C.PYDBG_TYPE_TRACKED_COUNT),
				TrackedBytes: v(C.PYDBG_TYPE_TRACKED_BYTES), ReachedCount: v(C.PYDBG_TYPE_REACHED_COUNT),
				ReachedBytes: v(C.PYDBG_TYPE_REACHED_BYTES), Address: v(C.PYDBG_TYPE_ADDRESS)}
		}
	})
	return out, err
}

// Mappings returns the mappings, in address order.
func (s *Snapshot) Mappings() ([]Mapping, error) {
	var out []Mapping
	err := s.read(func(h *C.pydbg_snapshot) {
		n := int(C.pydbg_snapshot_mapping_count(h))
		out = make([]Mapping, n)
		for i := range out {
			v := func(f C.pydbg_mapping_field) uint64 {
				return uint64(C.pydbg_snapshot_mapping_value(h, C.size_t(i), f))
			}
			path, _ := goString(C.pydbg_snapshot_mapping_path(h, C.size_t(i)))
			out[i] = Mapping{Path: path, Kind: MappingKind(C.pydbg_snapshot_mapping_kind(h, C.size_t(i))),
				Start: v(C.PYDBG_MAPPING_START), End: v(C.PYDBG_MAPPING_END),
				RSS: v(C.PYDBG_MAPPING_RSS), PSS: v(C.PYDBG_MAPPING_PSS),
				PrivateDirty: v(C.PYDBG_MAPPING_PRIVATE_DIRTY), Swap: v(C.PYDBG_MAPPING_SWAP),
				Perms: v(C.PYDBG_MAPPING_PERMS), Offset: v(C.PYDBG_MAPPING_OFFSET)}
		}
	})
	return out, err
}

// maxSizeClasses bounds a size class count read from a file: pymalloc has 32 or 64.
const maxSizeClasses = 1024

// Pymalloc returns pymalloc's arena usage, one entry per allocator (none if not recorded:
// Info().PymallocNote says why).
func (s *Snapshot) Pymalloc() ([]PymallocUsage, error) {
	var out []PymallocUsage
	err := s.read(func(h *C.pydbg_snapshot) {
		n := int(C.pydbg_snapshot_pymalloc_count(h))
		out = make([]PymallocUsage, n)
		for i := range out {
			idx := C.size_t(i)
			v := func(f C.pydbg_pymalloc_field) uint64 {
				return uint64(C.pydbg_snapshot_pymalloc_value(h, idx, f))
			}
			u := PymallocUsage{InterpreterID: v(C.PYDBG_PYMALLOC_INTERPRETER_ID),
				Arenas: v(C.PYDBG_PYMALLOC_ARENAS), ArenaBytes: v(C.PYDBG_PYMALLOC_ARENA_BYTES),
				BlockBytes: v(C.PYDBG_PYMALLOC_BLOCK_BYTES), Blocks: v(C.PYDBG_PYMALLOC_BLOCKS),
				Pools: v(C.PYDBG_PYMALLOC_POOLS), FreePools: v(C.PYDBG_PYMALLOC_FREE_POOLS),
				ArenaSize: v(C.PYDBG_PYMALLOC_ARENA_SIZE), PoolSize: v(C.PYDBG_PYMALLOC_POOL_SIZE)}
			classes := v(C.PYDBG_PYMALLOC_SIZE_CLASSES)
			if classes > maxSizeClasses {
				classes = maxSizeClasses
			}
			for c := C.size_t(0); c < C.size_t(classes); c++ {
				cv := func(f C.pydbg_size_class_field) uint64 {
					return uint64(C.pydbg_snapshot_pymalloc_class_value(h, idx, c, f))
				}
				u.SizeClasses = append(u.SizeClasses, SizeClass{BlockSize: cv(C.PYDBG_SIZE_CLASS_BLOCK_SIZE),
					Pools: cv(C.PYDBG_SIZE_CLASS_POOLS), Blocks: cv(C.PYDBG_SIZE_CLASS_BLOCKS),
					Bytes: cv(C.PYDBG_SIZE_CLASS_BYTES)})
			}
			out[i] = u
		}
	})
	return out, err
}

// Diff compares two snapshots: every key of either, largest growth first, copied into Go
// values (the C diff is freed before Diff returns).
func Diff(older, newer *Snapshot, options *DiffOptions) ([]DiffRow, error) {
	opts := C.pydbg_diff_options{struct_size: C.uint32_t(unsafe.Sizeof(C.pydbg_diff_options{}))}
	if options != nil {
		opts.by = C.uint32_t(options.By)
		if options.TrackedOnly {
			opts.flags |= C.PYDBG_DIFF_TRACKED_ONLY
		}
	}
	var rows []DiffRow
	var err error
	compute := func(oh, nh *C.pydbg_snapshot) {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		var diff *C.pydbg_diff
		if rc := C.pydbg_diff_compute(&diff, oh, nh, &opts); rc != C.PYDBG_OK || diff == nil {
			err = lastError(rc)
			return
		}
		defer C.pydbg_diff_free(diff)
		n := int(C.pydbg_diff_count(diff))
		rows = make([]DiffRow, n)
		for i := range rows {
			v := func(f C.pydbg_diff_field) int64 {
				return int64(C.pydbg_diff_value(diff, C.size_t(i), f))
			}
			key, _ := goString(C.pydbg_diff_key(diff, C.size_t(i)))
			rows[i] = DiffRow{Key: key, CountDelta: v(C.PYDBG_DIFF_COUNT_DELTA),
				SizeDelta: v(C.PYDBG_DIFF_SIZE_DELTA), Count: v(C.PYDBG_DIFF_COUNT),
				Size: v(C.PYDBG_DIFF_SIZE), OldCount: v(C.PYDBG_DIFF_OLD_COUNT),
				OldSize: v(C.PYDBG_DIFF_OLD_SIZE)}
		}
	}
	var e error
	if older == newer {
		// One read lock: a second one on the same RWMutex can deadlock behind a writer.
		e = older.read(func(h *C.pydbg_snapshot) { compute(h, h) })
	} else {
		e = older.read(func(oh *C.pydbg_snapshot) {
			e2 := newer.read(func(nh *C.pydbg_snapshot) { compute(oh, nh) })
			if e2 != nil {
				err = e2
			}
		})
	}
	if e != nil {
		return nil, e
	}
	return rows, err
}
