/**
 * @file pydebug.h
 * @brief libpydebug: look inside running CPython programs.
 *
 * The umbrella header: include this one. It pulls in one header per concept:
 * - pydebug/version.h   — library version, at compile time and run time;
 * - pydebug/errors.h    — error codes and messages;
 * - pydebug/process.h   — attaching to a process that hosts CPython;
 * - pydebug/frames.h    — capturing every thread's Python stack;
 * - pydebug/faultdump.h — faulthandler-style crash and on-demand dumps of the
 *                          current process (async-signal-safe, LD_PRELOAD);
 * - pydebug/snapshot.h  — memory snapshots of a live process (mappings and a
 *                          heap census by type), saved to files and diffed;
 * - pydebug/traceback.h — finding, decoding and formatting tracebacks in text,
 *                          and the line-table decoders.
 *
 * Conventions, everywhere in the API:
 * - names start with `pydbg_` (functions, types) or `PYDBG_` (macros);
 * - handles are opaque; every function that creates one has a matching
 *   `_close`/`_free`, and freeing NULL is a no-op;
 * - outputs come first; the return value is #PYDBG_OK (0) or a negative
 *   ::pydbg_error code; details are in the handle's message or pydbg_last_error();
 * - pointers returned by getters are borrowed and documented "valid until …";
 * - options structs begin with `struct_size`, are initialised with their
 *   `_INIT` macro, and only ever grow at the end;
 * - thread safety is stated on every function. The library has no global
 *   state other than the thread-local last error message.
 */
#ifndef PYDEBUG_H
#define PYDEBUG_H

#include "pydebug/version.h"
#include "pydebug/errors.h"
#include "pydebug/process.h"
#include "pydebug/frames.h"
#include "pydebug/sample.h"
#include "pydebug/faultdump.h"
#include "pydebug/traceback.h"
#include "pydebug/snapshot.h"

#endif /* PYDEBUG_H */
