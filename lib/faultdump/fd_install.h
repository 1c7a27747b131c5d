/* Internal entry points of fd_install.c for the LD_PRELOAD constructor, which
 * writes to a path opened at dump time rather than to a descriptor. */
#ifndef PYDBG_FAULTDUMP_FD_INSTALL_H
#define PYDBG_FAULTDUMP_FD_INSTALL_H

#include <stddef.h>
#include <stdint.h>

/* As pydbg_faultdump_install(); a non-empty `path` is opened (append) at each dump. */
int pydbg__fd_install(uint32_t flags, int fd, const char *path, size_t altstack_size);

/* As pydbg_faultdump_register(); a non-empty `path` is opened at each dump. */
int pydbg__fd_register(int signum, int fd, const char *path, uint32_t flags);

/* True if a CPython interpreter is mapped in this process (locates it once). */
int pydbg__fd_python_present(void);

#endif
