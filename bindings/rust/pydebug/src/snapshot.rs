//! Memory snapshots of a live Python process, saved, loaded and diffed
//! (`pydebug/snapshot.h`).
use std::borrow::Cow;
use std::ffi::CString;
use std::os::raw::c_void;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::ptr::{self, NonNull};

use crate::{sys, text, Error, Process};

/// How to take a snapshot; see `pydbg_snapshot_options`. The default pauses the target
/// and takes a full census.
#[derive(Debug, Clone, Copy, Default)]
pub struct SnapshotOptions {
    /// Let the target run: a best-effort census, retried when the heap changes.
    pub no_pause: bool,
    /// Record the mappings only.
    pub no_census: bool,
    /// Count tracked objects only.
    pub no_referents: bool,
}

/// What a diff groups by (`pydbg_diff_by`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DiffBy {
    /// `tp_name`; counts are objects, sizes bytes.
    #[default]
    Type,
    /// Mapping path, or `[heap]`, `[anon]`, `[stack]`; counts are mappings, sizes resident bytes.
    Mapping,
    /// pymalloc arenas and size classes.
    Arena,
}

/// How to diff; see `pydbg_diff_options`.
#[derive(Debug, Clone, Copy, Default)]
pub struct DiffOptions {
    /// What to group by.
    pub by: DiffBy,
    /// By type: count only the objects `gc.get_objects()` sees.
    pub tracked_only: bool,
}

/// A memory snapshot; freed when dropped. Immutable, hence `Send` and `Sync`.
pub struct Snapshot {
    handle: NonNull<sys::pydbg_snapshot>,
}

// SAFETY: an immutable object whose getters are thread-safe (snapshot.h).
unsafe impl Send for Snapshot {}
unsafe impl Sync for Snapshot {}

/// One type of the heap census (`pydbg_type_field`); sizes in bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypeEntry<'a> {
    /// `tp_name`.
    pub name: Cow<'a, str>,
    /// Objects of the type on the GC lists.
    pub tracked_count: u64,
    /// Their size.
    pub tracked_bytes: u64,
    /// Untracked objects of the type reached from them.
    pub reached_count: u64,
    /// Their size.
    pub reached_bytes: u64,
    /// The address of the type object in the target.
    pub address: u64,
}

/// One mapping of the target (`pydbg_mapping_field`); sizes in bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapping<'a> {
    /// A file path, `[heap]`, `[stack]`, or "" (anonymous).
    pub path: Cow<'a, str>,
    /// `sys::PYDBG_MAPPING_ANON` … `PYDBG_MAPPING_SPECIAL`.
    pub kind: i32,
    pub start: u64,
    pub end: u64,
    pub rss: u64,
    pub pss: u64,
    pub private_dirty: u64,
    pub swap: u64,
    /// 1 read, 2 write, 4 execute, 8 private.
    pub perms: u64,
    pub offset: u64,
}

/// One pymalloc size class's usage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SizeClass {
    pub block_size: u64,
    pub pools: u64,
    pub blocks: u64,
    pub bytes: u64,
}

/// One pymalloc allocator's arena usage (as `sys._debugmallocstats()`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PymallocUsage {
    /// The interpreter ID (3.12+), or 2^64-1 for the one allocator of 3.6 - 3.11.
    pub interpreter_id: u64,
    pub arenas: u64,
    pub arena_bytes: u64,
    pub block_bytes: u64,
    pub blocks: u64,
    pub pools: u64,
    pub free_pools: u64,
    pub arena_size: u64,
    pub pool_size: u64,
    pub size_classes: Vec<SizeClass>,
}

/// One entry of a diff (`pydbg_diff_field`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiffRow {
    /// A type name or a mapping key.
    pub key: String,
    pub count_delta: i64,
    pub size_delta: i64,
    pub count: i64,
    pub size: i64,
    pub old_count: i64,
    pub old_size: i64,
}

// pymalloc has 32 or 64 size classes; a file may say anything.
const MAX_SIZE_CLASSES: u64 = 1024;

pub(crate) fn path_cstring(path: &Path) -> Result<CString, Error> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| Error { code: sys::PYDBG_EINVAL, message: "a path with a NUL byte".into() })
}

impl Snapshot {
    fn from_raw(rc: i32, handle: *mut sys::pydbg_snapshot) -> Result<Snapshot, Error> {
        match NonNull::new(handle) {
            Some(handle) if rc == sys::PYDBG_OK => Ok(Snapshot { handle }),
            // SAFETY: the reason of a failure is in this thread's last error.
            _ => Err(Error::new(rc, unsafe { sys::pydbg_last_error() })),
        }
    }

    /// Loads a snapshot file written by [`Snapshot::save`].
    pub fn load<P: AsRef<Path>>(path: P) -> Result<Snapshot, Error> {
        let path = path_cstring(path.as_ref())?;
        let mut handle = ptr::null_mut();
        // SAFETY: a NUL-terminated path; valid out-pointer.
        let rc = unsafe { sys::pydbg_snapshot_load(&mut handle, path.as_ptr()) };
        Snapshot::from_raw(rc, handle)
    }

    /// Loads a snapshot from the bytes of a snapshot file.
    pub fn from_bytes(data: &[u8]) -> Result<Snapshot, Error> {
        let mut handle = ptr::null_mut();
        // SAFETY: the bytes are valid for their length and not kept.
        let rc = unsafe {
            sys::pydbg_snapshot_load_memory(&mut handle, data.as_ptr() as *const c_void, data.len())
        };
        Snapshot::from_raw(rc, handle)
    }

    fn p(&self) -> *const sys::pydbg_snapshot {
        self.handle.as_ptr()
    }

    /// Writes the snapshot to a file (replaced atomically).
    pub fn save<P: AsRef<Path>>(&self, path: P) -> Result<(), Error> {
        let path = path_cstring(path.as_ref())?;
        // SAFETY: live handle (only read); a NUL-terminated path.
        let rc = unsafe { sys::pydbg_snapshot_save(self.p(), path.as_ptr()) };
        if rc == sys::PYDBG_OK {
            Ok(())
        } else {
            Err(Error::new(rc, unsafe { sys::pydbg_last_error() }))
        }
    }

    /// What it contains: `sys::PYDBG_SNAPSHOT_HAS_…` and `PYDBG_SNAPSHOT_WAS_PAUSED`.
    pub fn contents(&self) -> u32 {
        // SAFETY (all getters below): live handle, thread-safe getters; borrowed strings
        // live as long as the snapshot, which the returned lifetimes are tied to.
        unsafe { sys::pydbg_snapshot_contents(self.p()) }
    }

    /// The target's process ID.
    pub fn pid(&self) -> i32 {
        unsafe { sys::pydbg_snapshot_pid(self.p()) }
    }

    /// When it was taken, in nanoseconds since the Unix epoch.
    pub fn time_ns(&self) -> i64 {
        unsafe { sys::pydbg_snapshot_time_ns(self.p()) }
    }

    /// How long the census took, in nanoseconds.
    pub fn census_ns(&self) -> i64 {
        unsafe { sys::pydbg_snapshot_census_ns(self.p()) }
    }

    /// The target's CPython version, such as "3.11.7".
    pub fn python_version(&self) -> Cow<'_, str> {
        unsafe { text(sys::pydbg_snapshot_python_version(self.p())) }.unwrap_or_default()
    }

    /// The target's executable.
    pub fn executable(&self) -> Cow<'_, str> {
        unsafe { text(sys::pydbg_snapshot_executable(self.p())) }.unwrap_or_default()
    }

    /// What the census covers, or why there is none.
    pub fn census_note(&self) -> Cow<'_, str> {
        unsafe { text(sys::pydbg_snapshot_census_note(self.p())) }.unwrap_or_default()
    }

    /// What the pymalloc usage covers, or why there is none.
    pub fn pymalloc_note(&self) -> Cow<'_, str> {
        unsafe { text(sys::pydbg_snapshot_pymalloc_note(self.p())) }.unwrap_or_default()
    }

    /// The heap census, one entry per type object (none without a census).
    pub fn types(&self) -> impl Iterator<Item = TypeEntry<'_>> + '_ {
        let count = unsafe { sys::pydbg_snapshot_type_count(self.p()) };
        (0..count).map(move |i| {
            let v = |field| unsafe { sys::pydbg_snapshot_type_value(self.p(), i, field) };
            TypeEntry {
                name: unsafe { text(sys::pydbg_snapshot_type_name(self.p(), i)) }
                    .unwrap_or_default(),
                tracked_count: v(sys::PYDBG_TYPE_TRACKED_COUNT),
                tracked_bytes: v(sys::PYDBG_TYPE_TRACKED_BYTES),
                reached_count: v(sys::PYDBG_TYPE_REACHED_COUNT),
                reached_bytes: v(sys::PYDBG_TYPE_REACHED_BYTES),
                address: v(sys::PYDBG_TYPE_ADDRESS),
            }
        })
    }

    /// The mappings, in address order.
    pub fn mappings(&self) -> impl Iterator<Item = Mapping<'_>> + '_ {
        let count = unsafe { sys::pydbg_snapshot_mapping_count(self.p()) };
        (0..count).map(move |i| {
            let v = |field| unsafe { sys::pydbg_snapshot_mapping_value(self.p(), i, field) };
            Mapping {
                path: unsafe { text(sys::pydbg_snapshot_mapping_path(self.p(), i)) }
                    .unwrap_or_default(),
                kind: unsafe { sys::pydbg_snapshot_mapping_kind(self.p(), i) },
                start: v(sys::PYDBG_MAPPING_START),
                end: v(sys::PYDBG_MAPPING_END),
                rss: v(sys::PYDBG_MAPPING_RSS),
                pss: v(sys::PYDBG_MAPPING_PSS),
                private_dirty: v(sys::PYDBG_MAPPING_PRIVATE_DIRTY),
                swap: v(sys::PYDBG_MAPPING_SWAP),
                perms: v(sys::PYDBG_MAPPING_PERMS),
                offset: v(sys::PYDBG_MAPPING_OFFSET),
            }
        })
    }

    /// pymalloc's arena usage, one entry per allocator (none if not recorded:
    /// [`Snapshot::pymalloc_note`] says why).
    pub fn pymalloc(&self) -> Vec<PymallocUsage> {
        let count = unsafe { sys::pydbg_snapshot_pymalloc_count(self.p()) };
        (0..count)
            .map(|i| {
                let v = |field| unsafe { sys::pydbg_snapshot_pymalloc_value(self.p(), i, field) };
                let classes = v(sys::PYDBG_PYMALLOC_SIZE_CLASSES).min(MAX_SIZE_CLASSES) as usize;
                let size_classes = (0..classes)
                    .map(|c| {
                        let cv = |field| unsafe {
                            sys::pydbg_snapshot_pymalloc_class_value(self.p(), i, c, field)
                        };
                        SizeClass {
                            block_size: cv(sys::PYDBG_SIZE_CLASS_BLOCK_SIZE),
                            pools: cv(sys::PYDBG_SIZE_CLASS_POOLS),
                            blocks: cv(sys::PYDBG_SIZE_CLASS_BLOCKS),
                            bytes: cv(sys::PYDBG_SIZE_CLASS_BYTES),
                        }
                    })
                    .collect();
                PymallocUsage {
                    interpreter_id: v(sys::PYDBG_PYMALLOC_INTERPRETER_ID),
                    arenas: v(sys::PYDBG_PYMALLOC_ARENAS),
                    arena_bytes: v(sys::PYDBG_PYMALLOC_ARENA_BYTES),
                    block_bytes: v(sys::PYDBG_PYMALLOC_BLOCK_BYTES),
                    blocks: v(sys::PYDBG_PYMALLOC_BLOCKS),
                    pools: v(sys::PYDBG_PYMALLOC_POOLS),
                    free_pools: v(sys::PYDBG_PYMALLOC_FREE_POOLS),
                    arena_size: v(sys::PYDBG_PYMALLOC_ARENA_SIZE),
                    pool_size: v(sys::PYDBG_PYMALLOC_POOL_SIZE),
                    size_classes,
                }
            })
            .collect()
    }

    /// Compares this snapshot with a later one: every key of either, largest growth
    /// first, copied out (the C diff is freed before this returns).
    pub fn diff(&self, newer: &Snapshot, options: DiffOptions) -> Result<Vec<DiffRow>, Error> {
        let by = match options.by {
            DiffBy::Type => sys::PYDBG_DIFF_BY_TYPE,
            DiffBy::Mapping => sys::PYDBG_DIFF_BY_MAPPING,
            DiffBy::Arena => sys::PYDBG_DIFF_BY_ARENA,
        };
        let mut raw = sys::pydbg_diff_options { by, ..Default::default() };
        if options.tracked_only {
            raw.flags |= sys::PYDBG_DIFF_TRACKED_ONLY;
        }
        let mut diff = ptr::null_mut();
        // SAFETY: live handles, only read; valid out-pointer and options.
        let rc = unsafe { sys::pydbg_diff_compute(&mut diff, self.p(), newer.p(), &raw) };
        if rc != sys::PYDBG_OK || diff.is_null() {
            return Err(Error::new(rc, unsafe { sys::pydbg_last_error() }));
        }
        let count = unsafe { sys::pydbg_diff_count(diff) };
        let rows = (0..count)
            .map(|i| {
                // SAFETY: a live diff and an index in range; the key is copied.
                let v = |field| unsafe { sys::pydbg_diff_value(diff, i, field) };
                DiffRow {
                    key: unsafe { text(sys::pydbg_diff_key(diff, i)) }
                        .unwrap_or_default()
                        .into_owned(),
                    count_delta: v(sys::PYDBG_DIFF_COUNT_DELTA),
                    size_delta: v(sys::PYDBG_DIFF_SIZE_DELTA),
                    count: v(sys::PYDBG_DIFF_COUNT),
                    size: v(sys::PYDBG_DIFF_SIZE),
                    old_count: v(sys::PYDBG_DIFF_OLD_COUNT),
                    old_size: v(sys::PYDBG_DIFF_OLD_SIZE),
                }
            })
            .collect();
        // SAFETY: owned, and nothing borrows from it any more.
        unsafe { sys::pydbg_diff_free(diff) };
        Ok(rows)
    }
}

impl Drop for Snapshot {
    fn drop(&mut self) {
        // SAFETY: owned; nothing borrowing from it is left (borrow checker).
        unsafe { sys::pydbg_snapshot_free(self.handle.as_ptr()) }
    }
}

impl Process {
    /// Records the target's mappings and a census of its heap by type.
    pub fn snapshot(&mut self, options: SnapshotOptions) -> Result<Snapshot, Error> {
        let mut raw = sys::pydbg_snapshot_options::default();
        if options.no_pause {
            raw.flags &= !sys::PYDBG_SNAPSHOT_PAUSE;
        }
        if options.no_census {
            raw.flags |= sys::PYDBG_SNAPSHOT_NO_CENSUS;
        }
        if options.no_referents {
            raw.flags |= sys::PYDBG_SNAPSHOT_NO_REFERENTS;
        }
        let mut handle = ptr::null_mut();
        // SAFETY: live handle used by this thread only (&mut); valid out-pointer, options.
        let rc = unsafe { sys::pydbg_snapshot_take(&mut handle, self.handle.as_ptr(), &raw) };
        Snapshot::from_raw(rc, handle)
    }
}
