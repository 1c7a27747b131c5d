/* An LD_PRELOAD shim for the async-signal-safety test.
 *
 * It interposes malloc and friends: each call takes the shim's own lock
 * around glibc's allocator, and
 * - a malloc of the magic size 0x5EED5 writes to NULL while holding the lock,
 *   so the crash handler runs while "the malloc lock" is held: a handler that
 *   allocated would deadlock here;
 * - any call made on an alternate signal stack (that is, from inside a signal
 *   handler) writes a message and exits with status 97, so an allocation in
 *   the dump is reported instead of hanging.
 * Nothing of libpydebug is linked: the shim only observes. */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <unistd.h>

extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t count, size_t size);
extern void *__libc_realloc(void *pointer, size_t size);
extern void __libc_free(void *pointer);

#define MAGIC_SIZE 0x5EED5

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static void refuse_in_handler(void)
{
    stack_t ss;
    if (sigaltstack(NULL, &ss) == 0 && (ss.ss_flags & SS_ONSTACK)) {
        static const char message[] = "malloc_shim: allocator called inside a signal handler\n";
        (void)!write(2, message, sizeof message - 1);
        _exit(97);
    }
}

void *malloc(size_t size)
{
    void *p;
    refuse_in_handler();
    pthread_mutex_lock(&lock);
    if (size == MAGIC_SIZE)
        *(volatile int *)0 = 1;
    p = __libc_malloc(size);
    pthread_mutex_unlock(&lock);
    return p;
}

void *calloc(size_t count, size_t size)
{
    void *p;
    refuse_in_handler();
    pthread_mutex_lock(&lock);
    p = __libc_calloc(count, size);
    pthread_mutex_unlock(&lock);
    return p;
}

void *realloc(void *pointer, size_t size)
{
    void *p;
    refuse_in_handler();
    pthread_mutex_lock(&lock);
    p = __libc_realloc(pointer, size);
    pthread_mutex_unlock(&lock);
    return p;
}

void free(void *pointer)
{
    if (!pointer)
        return;
    refuse_in_handler();
    pthread_mutex_lock(&lock);
    __libc_free(pointer);
    pthread_mutex_unlock(&lock);
}
