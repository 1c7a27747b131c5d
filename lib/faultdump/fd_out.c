/* Output of a dump: a fixed buffer flushed with write(2). No stdio and no
 * formatting from libc (snprintf is not async-signal-safe). */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "faultdump/fd_internal.h"
#include "pydebug/errors.h"

/* A write that keeps failing with EINTR (a signal storm) must not spin forever. */
#define MAX_WRITE_RETRIES 64

static void write_all(pydbg__fd_ctx *ctx, const char *data, size_t length)
{
    int retries = 0;
    while (length > 0 && !ctx->write_failed) {
        ssize_t n = write(ctx->fd, data, length);
        if (n < 0) {
            if (errno == EINTR && ++retries < MAX_WRITE_RETRIES)
                continue;
            ctx->write_failed = 1;
            return;
        }
        if (n == 0 && ++retries >= MAX_WRITE_RETRIES) {
            ctx->write_failed = 1;
            return;
        }
        data += n;
        length -= (size_t)n;
    }
}

void pydbg__fd_begin(pydbg__fd_ctx *ctx, int fd)
{
    ctx->fd = fd;
    ctx->out_length = 0;
    ctx->write_failed = 0;
}

int pydbg__fd_flush(pydbg__fd_ctx *ctx)
{
    if (ctx->out_length > 0)
        write_all(ctx, ctx->out, ctx->out_length);
    ctx->out_length = 0;
    return ctx->write_failed ? PYDBG_EIO : PYDBG_OK;
}

void pydbg__fd_write(pydbg__fd_ctx *ctx, const char *text, size_t length)
{
    while (length > 0) {
        size_t room = sizeof ctx->out - ctx->out_length;
        size_t n = length < room ? length : room;
        memcpy(ctx->out + ctx->out_length, text, n);
        ctx->out_length += n;
        text += n;
        length -= n;
        if (ctx->out_length == sizeof ctx->out)
            pydbg__fd_flush(ctx);
    }
}

void pydbg__fd_puts(pydbg__fd_ctx *ctx, const char *text)
{
    pydbg__fd_write(ctx, text, strlen(text));
}

void pydbg__fd_decimal(pydbg__fd_ctx *ctx, uint64_t value)
{
    char digits[24];
    size_t at = sizeof digits;
    do {
        digits[--at] = (char)('0' + value % 10);
        value /= 10;
    } while (value && at > 0);
    pydbg__fd_write(ctx, digits + at, sizeof digits - at);
}

void pydbg__fd_hex(pydbg__fd_ctx *ctx, uint64_t value, int width)
{
    static const char hexdigits[] = "0123456789abcdef";
    char digits[16];
    size_t at = sizeof digits;
    if (width > 16)
        width = 16;
    do {
        digits[--at] = hexdigits[value & 15];
        value >>= 4;
    } while (at > 0 && ((int)(sizeof digits - at) < width || value));
    pydbg__fd_write(ctx, digits + at, sizeof digits - at);
}
