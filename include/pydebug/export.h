/**
 * @file pydebug/export.h
 * @brief Symbol export and compiler attribute macros.
 *
 * Internal plumbing for the public headers; nothing here is called directly.
 */
#ifndef PYDEBUG_EXPORT_H
#define PYDEBUG_EXPORT_H

/**
 * @def PYDBG_API
 * @brief Marks a function as part of the public, exported ABI.
 *
 * The library is built with `-fvisibility=hidden`; only declarations carrying
 * this macro are visible to users, and each of them is listed in the linker
 * version script with the version node that introduced it.
 */
#if defined(PYDEBUG_BUILDING_LIBRARY) && defined(__GNUC__)
#define PYDBG_API __attribute__((visibility("default")))
#else
#define PYDBG_API
#endif

/**
 * @def PYDBG_BEGIN_DECLS
 * @brief Opens a block of C declarations (`extern "C" {` in C++, a no-op in C).
 *
 * @def PYDBG_END_DECLS
 * @brief Closes a block of C declarations (a no-op in C).
 */
#ifdef __cplusplus
#define PYDBG_BEGIN_DECLS extern "C" {
#define PYDBG_END_DECLS }
#else
#define PYDBG_BEGIN_DECLS
#define PYDBG_END_DECLS
#endif

#endif /* PYDEBUG_EXPORT_H */
