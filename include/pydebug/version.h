/**
 * @file pydebug/version.h
 * @brief Compile-time and run-time version of libpydebug.
 */
#ifndef PYDEBUG_VERSION_H
#define PYDEBUG_VERSION_H

#include "export.h"

PYDBG_BEGIN_DECLS

/** @brief Major version: changes only on an incompatible ABI break (with the SONAME). */
#define PYDBG_VERSION_MAJOR 1
/** @brief Minor version: new API, backwards compatible. */
#define PYDBG_VERSION_MINOR 0
/** @brief Release (patch) version: fixes only. */
#define PYDBG_VERSION_RELEASE 0
/** @brief The version as one comparable number: MAJOR*10000 + MINOR*100 + RELEASE. */
#define PYDBG_VERSION_NUMBER \
    (PYDBG_VERSION_MAJOR * 10000 + PYDBG_VERSION_MINOR * 100 + PYDBG_VERSION_RELEASE)

/** @cond INTERNAL */
#define PYDBG_STRINGIFY_(x) #x
#define PYDBG_STRINGIFY(x) PYDBG_STRINGIFY_(x)
/** @endcond */

/** @brief The version as a string, "MAJOR.MINOR.RELEASE". */
#define PYDBG_VERSION_STRING                                                          \
    PYDBG_STRINGIFY(PYDBG_VERSION_MAJOR) "." PYDBG_STRINGIFY(PYDBG_VERSION_MINOR) "." \
        PYDBG_STRINGIFY(PYDBG_VERSION_RELEASE)

/**
 * @brief Returns the version number of the library actually loaded.
 *
 * Compare with #PYDBG_VERSION_NUMBER to detect a header/library mismatch.
 * @note Thread-safe and async-signal-safe.
 */
PYDBG_API unsigned pydbg_version_number(void);

/**
 * @brief Returns the version string of the library actually loaded ("1.0.0").
 * @return a static string.
 * @note Thread-safe and async-signal-safe.
 */
PYDBG_API const char *pydbg_version_string(void);

PYDBG_END_DECLS

#endif /* PYDEBUG_VERSION_H */
