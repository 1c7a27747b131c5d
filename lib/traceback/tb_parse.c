/* Finding and decoding tracebacks in text.
 *
 * Two levels. The scanner looks for the few byte strings every traceback
 * start contains ("(most recent call " of all headers, `  File "` of a bare
 * SyntaxError) with memmem, so noise costs about what grep costs; lines are
 * counted with a vector loop. At a candidate, a recursive-descent parser reads
 * the traceback line by line. It is restartable: when it runs into the end of
 * the data fed so far it gives up, and is run again from the same start once
 * the pending text has doubled (or at finish), which keeps streaming linear.
 *
 * Every line goes through the same cleaning: CR and ANSI escapes removed, the
 * log prefix seen on the traceback's first line removed (the same bytes, or the
 * same shape with other digits, such as a later timestamp), then, inside
 * exception groups, the `| ` margins of each nesting level. */
#include "traceback/tb_model.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "util/error.h"

/* Bytes of already scanned text kept before the scan position, to look back
 * from a header at a chain's leading exception that printed no traceback. */
#define HISTORY_BYTES 16384
/* Lines a look-back may cover, and most lines of one exception's message in it. */
#define LOOKBACK_LINES 64
/* Exception groups nested deeper than this are not followed (CPython prints 10). */
#define MAX_GROUP_DEPTH 64

enum { NEEDLE_HEADER, NEEDLE_FILE, NEEDLE_COUNT };
static const char *const needles[NEEDLE_COUNT] = {"(most recent call ", "  File \""};
static const size_t needle_lengths[NEEDLE_COUNT] = {18, 8};

#define NO_HIT SIZE_MAX

struct pydbg_tb_parser {
    pydbg__error err;
    uint64_t max_bytes;
    int finished;
    pydbg__buffer buf;
    size_t scan;  /* the search goes on from here */
    size_t floor; /* nothing before this may be part of a new traceback */
    size_t counted_pos;
    uint64_t counted_lines; /* newlines in all input before buf + counted_pos */
    /* the candidate that ran into the end of the data, and how much it saw */
    int pending;
    size_t pending_start;
    size_t pending_seen;
    /* per needle: the next hit (or NO_HIT) for a search that began at hit_from
     * and covered the buffer up to hit_to */
    size_t hit[NEEDLE_COUNT], hit_from[NEEDLE_COUNT], hit_to[NEEDLE_COUNT];
    /* decoded tracebacks not yet taken */
    pydbg_traceback **queue;
    size_t queue_head, queue_count, queue_capacity;
};

/* ---- small helpers ------------------------------------------------------------------- */

static size_t count_newlines(const char *data, size_t length)
{
    size_t count = 0, i = 0;
#if defined(__SSE2__)
    const __m128i nl = _mm_set1_epi8('\n');
    for (; i + 16 <= length; i += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(data + i));
        count += (size_t)__builtin_popcount((unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, nl)));
    }
#endif
    for (; i < length; i++)
        count += data[i] == '\n';
    return count;
}

static int starts_with(const char *s, size_t n, const char *lit)
{
    size_t k = strlen(lit);
    return n >= k && memcmp(s, lit, k) == 0;
}

static int equals(const char *s, size_t n, const char *lit)
{
    return n == strlen(lit) && memcmp(s, lit, n) == 0;
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int is_hex(char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static const char *find_in(const char *s, size_t n, const char *lit)
{
    return memmem(s, n, lit, strlen(lit));
}

/* Parses an unsigned decimal; 1 on success. Saturates instead of overflowing. */
static int parse_u64(const char *s, size_t n, uint64_t *out)
{
    uint64_t v = 0;
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (!is_digit(s[i]))
            return 0;
        v = v > (UINT64_MAX - 9) / 10 ? UINT64_MAX : v * 10 + (uint64_t)(s[i] - '0');
    }
    *out = v;
    return 1;
}

/* ---- the model, built in the traceback's arena ---------------------------------------- */

/* An array grown inside an arena: a grown copy leaves the old one behind,
 * at most doubling the memory of the array. */
static int arena_push(pydbg__arena *arena, void ***items, size_t *count, size_t *capacity,
                      void *item)
{
    if (*count == *capacity) {
        size_t cap = *capacity ? *capacity * 2 : 4;
        void **grown;
        if (cap > SIZE_MAX / sizeof(void *))
            return PYDBG_ENOMEM;
        grown = pydbg__arena_alloc(arena, cap * sizeof(void *));
        if (!grown)
            return PYDBG_ENOMEM;
        if (*count)
            memcpy(grown, *items, *count * sizeof(void *));
        *items = grown;
        *capacity = cap;
    }
    (*items)[(*count)++] = item;
    return PYDBG_OK;
}

typedef struct line_list {
    pydbg__tb_lines *lines;
    size_t capacity;
} line_list;

/* ---- the line reader ------------------------------------------------------------------- */

enum { MODE_PREFIXED, MODE_UNPREFIXED };

typedef struct ctx {
    const char *data;
    size_t length;
    int eof;       /* the data ends here for good (finish, or the size bound) */
    int need_more; /* some read ran into the end of data that is not final */
    int oom;
    const char *prefix;
    size_t prefix_length;
    size_t prefix_trimmed; /* without trailing blanks: what a prefixed blank line may be */
    int mode;
    pydbg__arena scratch; /* cleaned copies of lines with escapes */
    pydbg_traceback *tb;
    size_t capacities[1]; /* of the traceback's exception list, for thread blocks */
} ctx;

typedef struct line {
    const char *s;
    size_t n;
    size_t next; /* offset of the following line */
} line;

/* Removes ANSI escape sequences (CSI ... final byte, and two-byte ESC x). */
static size_t strip_ansi(char *s, size_t n)
{
    size_t w = 0;
    for (size_t r = 0; r < n;) {
        if (s[r] != '\x1b') {
            s[w++] = s[r++];
            continue;
        }
        r++;
        if (r < n && s[r] == '[') {
            r++;
            while (r < n && !((unsigned char)s[r] >= 0x40 && (unsigned char)s[r] <= 0x7e))
                r++;
            if (r < n)
                r++;
        } else if (r < n) {
            r++;
        }
    }
    return w;
}

/* Reads the raw (cleaned, not de-prefixed) line at `pos`. 0 at the end of data. */
static int read_raw(ctx *c, size_t pos, line *out)
{
    const char *nl;
    size_t end, next;
    if (pos >= c->length) {
        if (!c->eof)
            c->need_more = 1;
        return 0;
    }
    nl = memchr(c->data + pos, '\n', c->length - pos);
    if (nl) {
        end = (size_t)(nl - c->data);
        next = end + 1;
    } else if (c->eof) {
        end = next = c->length;
    } else {
        c->need_more = 1;
        return 0;
    }
    out->s = c->data + pos;
    out->n = end - pos;
    out->next = next;
    if (out->n && out->s[out->n - 1] == '\r')
        out->n--;
    if (memchr(out->s, '\x1b', out->n)) {
        char *copy = pydbg__arena_strndup(&c->scratch, out->s, out->n);
        if (!copy) {
            c->oom = 1;
            return 0;
        }
        out->n = strip_ansi(copy, out->n);
        out->s = copy;
    }
    return 1;
}

/* Matches `prefix` at the start of `s`, where any run of digits in the prefix
 * matches any run of digits (a later timestamp). Returns the length matched or
 * SIZE_MAX. */
static size_t shape_match(const char *prefix, size_t pn, const char *s, size_t n)
{
    size_t i = 0, j = 0;
    while (i < pn) {
        if (is_digit(prefix[i])) {
            if (j >= n || !is_digit(s[j]))
                return SIZE_MAX;
            while (i < pn && is_digit(prefix[i]))
                i++;
            while (j < n && is_digit(s[j]))
                j++;
        } else {
            if (j >= n || s[j] != prefix[i])
                return SIZE_MAX;
            i++;
            j++;
        }
    }
    return j;
}

/* Removes the log prefix from a raw line. 0 if the line does not carry it. */
static int strip_log_prefix(const ctx *c, line *l)
{
    size_t m;
    if (c->prefix_length == 0)
        return 1;
    if (c->mode == MODE_UNPREFIXED) {
        /* only the first line carried it */
        if (l->n >= c->prefix_length && memcmp(l->s, c->prefix, c->prefix_length) == 0) {
            l->s += c->prefix_length;
            l->n -= c->prefix_length;
        }
        return 1;
    }
    if (l->n >= c->prefix_length && memcmp(l->s, c->prefix, c->prefix_length) == 0) {
        m = c->prefix_length;
    } else if (l->n <= c->prefix_length && l->n >= c->prefix_trimmed &&
               memcmp(l->s, c->prefix, l->n) == 0) {
        m = l->n; /* a blank line whose trailing blanks were trimmed */
    } else {
        m = shape_match(c->prefix, c->prefix_length, l->s, l->n);
        if (m == SIZE_MAX) {
            m = shape_match(c->prefix, c->prefix_trimmed, l->s, l->n);
            if (m != l->n)
                return 0;
        }
    }
    l->s += m;
    l->n -= m;
    return 1;
}

/* Removes the exception-group margin of nesting level `margin`: 2*margin
 * spaces and "| " (or a lone "|" on a blank line). */
static int strip_margin(line *l, int margin)
{
    size_t indent = (size_t)margin * 2;
    if (margin == 0)
        return 1;
    if (l->n < indent + 1)
        return 0;
    for (size_t i = 0; i < indent; i++)
        if (l->s[i] != ' ')
            return 0;
    if (l->s[indent] != '|')
        return 0;
    if (l->n == indent + 1) {
        l->s += l->n;
        l->n = 0;
        return 1;
    }
    if (l->s[indent + 1] != ' ')
        return 0;
    l->s += indent + 2;
    l->n -= indent + 2;
    return 1;
}

/* The content of the line at `pos` for nesting level `margin`. */
static int peek(ctx *c, size_t pos, int margin, line *out)
{
    if (!read_raw(c, pos, out))
        return 0;
    if (!strip_log_prefix(c, out))
        return 0;
    return strip_margin(out, margin);
}

static const char *keep(ctx *c, const char *s, size_t n)
{
    char *copy = pydbg__arena_strndup(&c->tb->arena, s, n);
    if (!copy)
        c->oom = 1;
    return copy;
}

static int keep_line(ctx *c, pydbg__tb_lines *lines, size_t *capacity, const char *s, size_t n)
{
    const char *copy = keep(c, s, n);
    if (!copy)
        return 0;
    if (arena_push(&c->tb->arena, (void ***)&lines->items, &lines->count, capacity,
                   (void *)copy) != PYDBG_OK) {
        c->oom = 1;
        return 0;
    }
    return 1;
}

static void *new_object(ctx *c, size_t size)
{
    void *p = pydbg__arena_alloc(&c->tb->arena, size);
    if (!p)
        c->oom = 1;
    return p;
}

/* ---- line grammar ---------------------------------------------------------------------- */

/* `  File "name", line N, in func` (traceback) or `  File "name", line N in func`
 * (faulthandler, pydebug dump), or with `want_function` 0 the SyntaxError form
 * `  File "name", line N`. Fills `f` with pointers into the line. */
typedef struct frame_text {
    const char *file;
    size_t file_n;
    int quoted;
    int line;
    int line_kind;
    const char *func;
    size_t func_n;
    int has_function;
    int faulthandler_style;
} frame_text;

static int parse_frame_line(const char *s, size_t n, frame_text *f)
{
    const char *p, *end = s + n, *q;
    memset(f, 0, sizeof *f);
    if (!starts_with(s, n, "  File "))
        return 0;
    p = s + 7;
    if (p < end && *p == '"') {
        q = find_in(p + 1, (size_t)(end - p - 1), "\", line ");
        if (!q)
            return 0;
        f->file = p + 1;
        f->file_n = (size_t)(q - p - 1);
        f->quoted = 1;
        p = q + 8;
    } else if (starts_with(p, (size_t)(end - p), "???, line ")) {
        f->file = p;
        f->file_n = 3;
        p += 10;
    } else {
        return 0;
    }
    /* the line number: digits, "-digits", None or ??? */
    q = p;
    if (q < end && *q == '-')
        q++;
    while (q < end && is_digit(*q))
        q++;
    if (q > p && is_digit(q[-1])) {
        uint64_t v;
        int negative = *p == '-';
        if (!parse_u64(p + negative, (size_t)(q - p - negative), &v))
            return 0;
        f->line = v > INT32_MAX ? INT32_MAX : (int)v;
        if (negative)
            f->line = -f->line;
        f->line_kind = 0;
    } else if (starts_with(p, (size_t)(end - p), "None")) {
        q = p + 4;
        f->line = -1;
        f->line_kind = 1;
    } else if (starts_with(p, (size_t)(end - p), "???")) {
        q = p + 3;
        f->line = -1;
        f->line_kind = 2;
    } else {
        return 0;
    }
    p = q;
    if (p == end)
        return 1; /* SyntaxError location */
    if (starts_with(p, (size_t)(end - p), ", in ")) {
        p += 5;
    } else if (starts_with(p, (size_t)(end - p), " in ")) {
        p += 4;
        f->faulthandler_style = 1;
    } else {
        return 0;
    }
    f->func = p;
    f->func_n = (size_t)(end - p);
    f->has_function = 1;
    return 1;
}

/* `Type` or `Type: message`, where Type is a dotted name. Returns the length of
 * the type, or 0 if the line is not an exception line. */
static size_t parse_type_line(const char *s, size_t n, const char **message, size_t *message_n)
{
    size_t i = 0;
    if (n == 0)
        return 0;
    {
        unsigned char c0 = (unsigned char)s[0];
        if (!((c0 >= 'A' && c0 <= 'Z') || (c0 >= 'a' && c0 <= 'z') || c0 == '_' || c0 >= 0x80))
            return 0;
    }
    while (i < n) {
        unsigned char ch = (unsigned char)s[i];
        if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || is_digit((char)ch) ||
            ch == '_' || ch == '.' || ch >= 0x80)
            i++;
        else
            break;
    }
    if (s[i - 1] == '.')
        return 0;
    if (i == n) {
        *message = s + n;
        *message_n = 0;
        return i;
    }
    if (s[i] != ':')
        return 0;
    if (i + 1 == n) {
        *message = s + n;
        *message_n = 0;
        return i;
    }
    if (s[i + 1] != ' ')
        return 0;
    *message = s + i + 2;
    *message_n = n - i - 2;
    return i;
}

static int is_marker_line(const char *s, size_t n)
{
    int marks = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '^' || s[i] == '~')
            marks = 1;
        else if (s[i] != ' ')
            return 0;
    }
    return marks;
}

static int is_log_level(const char *s, size_t n)
{
    static const char *const levels[] = {"DEBUG", "INFO", "WARNING", "WARN", "ERROR",
                                         "CRITICAL", "FATAL", "TRACE", "NOTICE"};
    for (size_t i = 0; i < sizeof levels / sizeof levels[0]; i++) {
        size_t k = strlen(levels[i]);
        if (n > k && memcmp(s, levels[i], k) == 0 &&
            (s[k] == ':' || s[k] == ' ' || s[k] == ']' || s[k] == '|' || s[k] == '\t'))
            return 1;
    }
    return 0;
}

/* A line that starts a new log record rather than continuing a message:
 * a timestamp, a bracketed field or a log level. */
static int looks_like_log_record(const char *s, size_t n)
{
    if (n == 0)
        return 0;
    if (is_digit(s[0]) && n >= 8) {
        size_t digits = 0;
        for (size_t i = 0; i < 8; i++)
            digits += is_digit(s[i]);
        if (digits >= 4)
            return 1;
    }
    if (s[0] == '[' && n > 1 && (is_digit(s[1]) || (s[1] >= 'A' && s[1] <= 'Z')))
        return 1;
    return is_log_level(s, n);
}

static int is_thread_header_content(const char *s, size_t n)
{
    return (starts_with(s, n, "Current thread 0x") || starts_with(s, n, "Thread 0x") ||
            starts_with(s, n, "Stack (most recent call first):")) &&
           n >= 25 && memcmp(s + n - 25, "(most recent call first):", 25) == 0;
}

static const char cause_text[] =
    "The above exception was the direct cause of the following exception:";
static const char context_text[] =
    "During handling of the above exception, another exception occurred:";
static const char tb_header[] = "Traceback (most recent call last):";
static const char group_header[] = "Exception Group Traceback (most recent call last):";

/* ---- the recursive descent --------------------------------------------------------------- */

typedef struct exc_list {
    pydbg_tb_exception **items;
    size_t count;
    size_t capacity;
} exc_list;

static int parse_chain(ctx *c, size_t *pos, int margin, int headerless_first, int depth,
                       exc_list *out);

/* Frame lines and what follows each: source, markers, repeat lines. */
static void parse_frames(ctx *c, size_t *pos, int margin, pydbg_tb_exception *e)
{
    size_t capacity = 0;
    line l;
    while (!c->oom && peek(c, *pos, margin, &l)) {
        frame_text ft;
        pydbg_tb_frame *f;
        size_t extra_capacity = 0;
        if (starts_with(l.s, l.n, "  [Previous line repeated ") && e->frame_count) {
            uint64_t n = 0;
            const char *num = l.s + 26, *sp = memchr(num, ' ', (size_t)(l.s + l.n - num));
            if (!sp || !parse_u64(num, (size_t)(sp - num), &n) ||
                (!equals(sp, (size_t)(l.s + l.n - sp), " more times]") &&
                 !equals(sp, (size_t)(l.s + l.n - sp), " more time]")))
                break;
            e->frames[e->frame_count - 1]->repeat = n;
            *pos = l.next;
            continue;
        }
        if (!parse_frame_line(l.s, l.n, &ft) || !ft.has_function || ft.faulthandler_style)
            break;
        f = new_object(c, sizeof *f);
        if (!f)
            return;
        f->filename = keep(c, ft.file, ft.file_n);
        f->function = keep(c, ft.func, ft.func_n);
        f->line = ft.line;
        f->line_text_kind = ft.line_kind;
        f->quoted = ft.quoted;
        if (arena_push(&c->tb->arena, (void ***)&e->frames, &e->frame_count, &capacity, f)) {
            c->oom = 1;
            return;
        }
        *pos = l.next;
        while (!c->oom && peek(c, *pos, margin, &l) && starts_with(l.s, l.n, "    ")) {
            if (!keep_line(c, &f->extra, &extra_capacity, l.s, l.n))
                return;
            if (f->extra.count == 1) {
                size_t a = 4, b = l.n;
                while (a < b && (l.s[a] == ' ' || l.s[a] == '\t' || l.s[a] == '\f'))
                    a++;
                while (b > a && (l.s[b - 1] == ' ' || l.s[b - 1] == '\t'))
                    b--;
                f->source = keep(c, l.s + a, b - a);
            } else if (f->extra.count == 2 && is_marker_line(l.s + 4, l.n - 4)) {
                f->marker = f->extra.items[1] + 4;
            }
            *pos = l.next;
        }
    }
}

/* The SyntaxError block (optional), the type line and the message's further lines. */
static int parse_exception_only(ctx *c, size_t *pos, int margin, pydbg_tb_exception *e)
{
    line l;
    frame_text ft;
    size_t p = *pos, capacity = 0, type_n, msg_n;
    const char *msg;
    pydbg__buffer message = {0};

    if (!peek(c, p, margin, &l))
        return 0;
    if (parse_frame_line(l.s, l.n, &ft) && !ft.has_function) {
        e->has_syntax = 1;
        e->syntax_filename = keep(c, ft.file, ft.file_n);
        e->syntax_line = ft.line;
        e->syntax_column = e->syntax_end_column = -1;
        if (!keep_line(c, &e->syntax_lines, &capacity, l.s, l.n))
            return 0;
        p = l.next;
        for (int i = 0; i < 8 && peek(c, p, margin, &l) && starts_with(l.s, l.n, "    "); i++) {
            if (!keep_line(c, &e->syntax_lines, &capacity, l.s, l.n))
                return 0;
            if (i == 0 && !is_marker_line(l.s + 4, l.n - 4)) {
                size_t b = l.n;
                while (b > 4 && l.s[b - 1] == ' ')
                    b--;
                e->syntax_text = keep(c, l.s + 4, b - 4);
            } else if (is_marker_line(l.s + 4, l.n - 4) && e->syntax_column < 0) {
                size_t a = 4, b = l.n;
                while (a < b && l.s[a] == ' ')
                    a++;
                while (b > a && l.s[b - 1] == ' ')
                    b--;
                e->syntax_column = (int)(a - 4);
                e->syntax_end_column = (int)(b - 4);
            }
            p = l.next;
        }
        if (!peek(c, p, margin, &l))
            return 0;
    }
    type_n = parse_type_line(l.s, l.n, &msg, &msg_n);
    if (!type_n)
        return 0;
    e->type = keep(c, l.s, type_n);
    if (pydbg__buffer_append(&message, msg, msg_n) != PYDBG_OK) {
        c->oom = 1;
        return 0;
    }
    p = l.next;
    for (;;) {
        line raw;
        if (!read_raw(c, p, &raw))
            break;
        l = raw;
        if (!strip_log_prefix(c, &l))
            break;
        if (margin > 0) {
            line m = l;
            if (strip_margin(&m, margin)) {
                l = m;
            } else if (l.n && l.s[0] != ' ' && !looks_like_log_record(l.s, l.n)) {
                e->bare_continuation = 1; /* 3.11's C printer left these unmargined */
            } else {
                break;
            }
        }
        if (l.n == 0 || equals(l.s, l.n, tb_header) || starts_with(l.s, l.n, "  File \"") ||
            starts_with(l.s, l.n, "  + Exception Group Traceback") ||
            is_thread_header_content(l.s, l.n) || (margin == 0 && looks_like_log_record(l.s, l.n)))
            break;
        if (pydbg__buffer_append(&message, "\n", 1) != PYDBG_OK ||
            pydbg__buffer_append(&message, l.s, l.n) != PYDBG_OK) {
            c->oom = 1;
            break;
        }
        p = raw.next;
    }
    e->message = keep(c, message.data ? message.data : "", message.length);
    pydbg__buffer_free(&message);
    *pos = p;
    return !c->oom;
}

/* Block title `+-+---------------- 1 ----------------` at indent 2*level. */
static int parse_block_title(const line *l, int level, int first, const char **title,
                             size_t *title_n)
{
    size_t indent = (size_t)level * 2;
    const char *s = l->s, *end = l->s + l->n;
    static const char dashes[] = "+---------------- ";
    if (l->n < indent + 2 + 18 + 17)
        return 0;
    for (size_t i = 0; i < indent; i++)
        if (s[i] != ' ')
            return 0;
    s += indent;
    if (memcmp(s, first ? "+-" : "  ", 2) != 0)
        return 0;
    s += 2;
    if (memcmp(s, dashes, 18) != 0 || memcmp(end - 17, " ----------------", 17) != 0)
        return 0;
    *title = s + 18;
    *title_n = (size_t)(end - 17 - *title);
    return *title_n > 0;
}

static int is_block_close(const line *l, int level)
{
    size_t indent = (size_t)level * 2;
    if (l->n != indent + 37)
        return 0;
    for (size_t i = 0; i < indent; i++)
        if (l->s[i] != ' ')
            return 0;
    if (l->s[indent] != '+')
        return 0;
    for (size_t i = indent + 1; i < l->n; i++)
        if (l->s[i] != '-')
            return 0;
    return 1;
}

static void parse_blocks(ctx *c, size_t *pos, int level, int depth, pydbg_tb_exception *e)
{
    size_t capacity = 0;
    line l;
    for (int first = 1; !c->oom; first = 0) {
        const char *title;
        size_t title_n;
        pydbg_tb_block *b;
        if (!read_raw(c, *pos, &l) || !strip_log_prefix(c, &l) ||
            !parse_block_title(&l, level, first, &title, &title_n))
            return;
        *pos = l.next;
        if (equals(title, title_n, "...")) {
            if (peek(c, *pos, level + 1, &l) && starts_with(l.s, l.n, "and ")) {
                const char *sp = memchr(l.s + 4, ' ', l.n - 4);
                uint64_t n;
                if (sp && parse_u64(l.s + 4, (size_t)(sp - l.s - 4), &n))
                    e->more_exceptions = n;
                *pos = l.next;
            }
        } else {
            exc_list chain = {0};
            b = new_object(c, sizeof *b);
            if (!b)
                return;
            if (peek(c, *pos, level + 1, &l) && starts_with(l.s, l.n, "... (max_group_depth is ")) {
                b->depth_limited = 1;
                b->limit_line = keep(c, l.s, l.n);
                *pos = l.next;
            } else if (!parse_chain(c, pos, level + 1, 1, depth + 1, &chain)) {
                return;
            }
            b->items = chain.items;
            b->count = chain.count;
            if (arena_push(&c->tb->arena, (void ***)&e->blocks, &e->block_count, &capacity, b)) {
                c->oom = 1;
                return;
            }
        }
        if (!read_raw(c, *pos, &l) || !strip_log_prefix(c, &l))
            return;
        if (is_block_close(&l, level + 1)) {
            *pos = l.next;
            return;
        }
    }
}

/* One exception of a chain: its traceback (when printed), its type line, and
 * for a group its blocks. Returns NULL when nothing matched at `*pos`. */
static pydbg_tb_exception *parse_entry(ctx *c, size_t *pos, int margin, int headerless_ok,
                                       int depth, int *complete)
{
    size_t p = *pos;
    int level = margin;
    line l;
    pydbg_tb_exception *e;
    *complete = 0;
    if (depth > MAX_GROUP_DEPTH || !read_raw(c, p, &l) || !strip_log_prefix(c, &l))
        return NULL;
    e = new_object(c, sizeof *e);
    if (!e)
        return NULL;
    e->syntax_line = e->syntax_column = e->syntax_end_column = -1;
    if (margin == 0 && starts_with(l.s, l.n, "  + ") && equals(l.s + 4, l.n - 4, group_header)) {
        /* a top-level group: its own lines sit at margin 1 */
        level = 1;
        e->has_traceback = 1;
        p = l.next;
    } else if (margin == 0 && starts_with(l.s, l.n, "  | ") && headerless_ok) {
        level = 1;
    } else {
        line m = l;
        if (!strip_margin(&m, margin))
            return NULL;
        if (equals(m.s, m.n, tb_header) || (margin > 0 && equals(m.s, m.n, group_header))) {
            e->has_traceback = 1;
            p = m.next;
        } else if (!headerless_ok) {
            return NULL;
        }
    }
    if (e->has_traceback)
        parse_frames(c, &p, level, e);
    if (c->oom)
        return NULL;
    if (!parse_exception_only(c, &p, level, e)) {
        /* a header followed by neither frames nor an exception line is just text */
        if (!e->has_traceback || !e->frame_count || c->oom)
            return NULL;
        *pos = p; /* a traceback cut before its exception line */
        return e;
    }
    {
        const char *title;
        size_t title_n;
        if (read_raw(c, p, &l) && strip_log_prefix(c, &l) &&
            parse_block_title(&l, level, 1, &title, &title_n)) {
            e->is_group = 1;
            parse_blocks(c, &p, level, depth, e);
        }
    }
    *complete = 1;
    *pos = p;
    return c->oom ? NULL : e;
}

/* Exceptions joined by "The above exception…" / "During handling…" separators. */
static int parse_chain(ctx *c, size_t *pos, int margin, int headerless_first, int depth,
                       exc_list *out)
{
    size_t p = *pos;
    int relation = PYDBG_TB_RELATION_NONE, complete;
    for (;;) {
        line l;
        size_t q;
        pydbg_tb_exception *e =
            parse_entry(c, &p, margin, headerless_first || relation != 0, depth, &complete);
        if (!e)
            break;
        e->relation = relation;
        if (arena_push(&c->tb->arena, (void ***)&out->items, &out->count, &out->capacity, e)) {
            c->oom = 1;
            return 0;
        }
        *pos = p;
        if (!complete) {
            c->tb->truncated = 1;
            break;
        }
        /* blank, separator, blank */
        q = p;
        if (!peek(c, q, margin, &l) || l.n != 0)
            break;
        q = l.next;
        if (!peek(c, q, margin, &l))
            break;
        if (equals(l.s, l.n, cause_text))
            relation = PYDBG_TB_RELATION_CAUSE;
        else if (equals(l.s, l.n, context_text))
            relation = PYDBG_TB_RELATION_CONTEXT;
        else
            break;
        q = l.next;
        if (!peek(c, q, margin, &l) || l.n != 0)
            break;
        p = l.next;
    }
    return out->count > 0 && !c->oom;
}

/* ---- thread blocks (faulthandler, pydebug dump) ------------------------------------------ */

static void parse_thread_header(ctx *c, const char *s, size_t n)
{
    pydbg_traceback *tb = c->tb;
    tb->thread_header = keep(c, s, n);
    if (starts_with(s, n, "Current thread 0x")) {
        tb->thread_is_current = 1;
        s += 15;
        n -= 15;
    } else if (starts_with(s, n, "Thread 0x")) {
        s += 7;
        n -= 7;
    } else {
        return;
    }
    s += 2;
    n -= 2;
    while (n && is_hex(*s)) {
        tb->thread_id = (tb->thread_id << 4) |
                        (uint64_t)(is_digit(*s) ? *s - '0' : ((*s | 0x20) - 'a' + 10));
        s++;
        n--;
    }
    if (n > 2 && s[0] == ' ' && s[1] == '"') {
        const char *q = memchr(s + 2, '"', n - 2);
        if (q)
            tb->thread_name = keep(c, s + 2, (size_t)(q - s - 2));
    }
}

static void parse_thread(ctx *c, size_t *pos, const line *header)
{
    pydbg_tb_exception *e = new_object(c, sizeof *e);
    size_t capacity = 0, tail_capacity = 0;
    line l;
    if (!e)
        return;
    e->syntax_line = e->syntax_column = e->syntax_end_column = -1;
    parse_thread_header(c, header->s, header->n);
    *pos = header->next;
    while (!c->oom && peek(c, *pos, 0, &l) && starts_with(l.s, l.n, "  ")) {
        frame_text ft;
        if (parse_frame_line(l.s, l.n, &ft) && ft.has_function) {
            pydbg_tb_frame *f = new_object(c, sizeof *f);
            if (!f)
                return;
            f->filename = keep(c, ft.file, ft.file_n);
            f->function = keep(c, ft.func, ft.func_n);
            f->line = ft.line;
            f->line_text_kind = ft.line_kind;
            f->quoted = ft.quoted;
            if (arena_push(&c->tb->arena, (void ***)&e->frames, &e->frame_count, &capacity, f)) {
                c->oom = 1;
                return;
            }
        } else if (l.n > 2 && l.s[2] != ' ') {
            if (!keep_line(c, &e->tail, &tail_capacity, l.s, l.n))
                return;
        } else {
            break;
        }
        *pos = l.next;
    }
    if (arena_push(&c->tb->arena, (void ***)&c->tb->exceptions, &c->tb->exception_count,
                   &c->capacities[0], e))
        c->oom = 1;
}

/* ---- candidates ---------------------------------------------------------------------- */

enum { CAND_NONE, CAND_TRACEBACK, CAND_GROUP, CAND_INNER_GROUP, CAND_THREAD, CAND_SYNTAX };

/* Classifies a cleaned line holding a needle hit; sets the prefix length. */
static int classify(const char *s, size_t n, int needle, size_t *prefix_n)
{
    if (needle == NEEDLE_HEADER) {
        const char *k;
        while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
            n--;
        if (n >= 34 && memcmp(s + n - 34, tb_header, 34) == 0) {
            if (n >= 34 + 20 && memcmp(s + n - 54, "  + Exception Group ", 20) == 0) {
                *prefix_n = n - 54;
                return CAND_GROUP;
            }
            if (n >= 34 + 16 && memcmp(s + n - 50, "Exception Group ", 16) == 0) {
                *prefix_n = n - 50;
                return CAND_INNER_GROUP;
            }
            *prefix_n = n - 34;
            return CAND_TRACEBACK;
        }
        if (n < 25 || memcmp(s + n - 25, "(most recent call first):", 25) != 0)
            return CAND_NONE;
        if ((k = find_in(s, n, "Current thread 0x")) || (k = find_in(s, n, "Thread 0x")) ||
            (k = find_in(s, n, "Stack (most recent call first):"))) {
            if (starts_with(k, (size_t)(s + n - k), "Stack") ||
                is_hex(k[starts_with(k, (size_t)(s + n - k), "Current") ? 17 : 9])) {
                *prefix_n = (size_t)(k - s);
                return CAND_THREAD;
            }
        }
        return CAND_NONE;
    } else {
        const char *k = find_in(s, n, "  File \"");
        frame_text ft;
        if (!k || !parse_frame_line(k, (size_t)(s + n - k), &ft) || ft.has_function)
            return CAND_NONE;
        *prefix_n = (size_t)(k - s);
        return CAND_SYNTAX;
    }
}

/* The line start before `pos`, not below `low`. */
static size_t line_start(const char *data, size_t low, size_t pos)
{
    const char *nl;
    if (pos <= low)
        return low;
    nl = memrchr(data + low, '\n', pos - low);
    return nl ? (size_t)(nl - data) + 1 : low;
}

/* From a `Traceback` header at `start`, looks back for blank / separator / blank
 * above it and the exception printed without a traceback before that, which
 * then begins the chain. Returns the new start (or `start`). */
static size_t look_back(ctx *c, size_t low, size_t start)
{
    size_t result = start;
    for (int round = 0; round < 8; round++) {
        size_t at[LOOKBACK_LINES + 3];
        size_t count = 0, p = result, best = SIZE_MAX;
        line l;
        while (count < LOOKBACK_LINES + 3 && p > low) {
            p = line_start(c->data, low, p - 1);
            at[count++] = p;
        }
        if (count < 4)
            break;
        if (!peek(c, at[0], 0, &l) || l.n != 0)
            break;
        if (!peek(c, at[1], 0, &l) ||
            !(equals(l.s, l.n, cause_text) || equals(l.s, l.n, context_text)))
            break;
        if (!peek(c, at[2], 0, &l) || l.n != 0)
            break;
        /* the exception's lines go up to a blank line; take the topmost type line,
         * preferring one with a message, so a multi-line message stays whole */
        for (size_t i = 3; i < count; i++) {
            const char *msg;
            size_t msg_n, tn;
            if (!peek(c, at[i], 0, &l) || l.n == 0 || starts_with(l.s, l.n, "  ") ||
                looks_like_log_record(l.s, l.n))
                break;
            tn = parse_type_line(l.s, l.n, &msg, &msg_n);
            if (tn && (best == SIZE_MAX || tn < l.n))
                best = i;
        }
        if (best == SIZE_MAX)
            break;
        /* a SyntaxError location block just above it */
        {
            size_t top = best;
            for (size_t i = best + 1; i < count && i <= best + 3; i++) {
                frame_text ft;
                if (!peek(c, at[i], 0, &l))
                    break;
                if (parse_frame_line(l.s, l.n, &ft) && !ft.has_function) {
                    top = i;
                    break;
                }
                if (!starts_with(l.s, l.n, "    "))
                    break;
            }
            result = at[top];
        }
    }
    c->need_more = 0;
    return result;
}

/* Lines a walk up to the top of an exception group may cover. */
#define GROUP_WALK_LINES 100000

/* Leading spaces then '|' or '+': a line of an exception group. Returns its
 * nesting level (spaces / 2), or 0. */
static int group_line_level(const line *l)
{
    size_t sp = 0;
    while (sp < l->n && l->s[sp] == ' ')
        sp++;
    if (sp < 2 || sp % 2 || sp >= l->n || (l->s[sp] != '|' && l->s[sp] != '+'))
        return 0;
    return (int)(sp / 2);
}

/* A `| Traceback` header inside an exception group that printed no traceback
 * of its own (as `except*` re-raises): walks up the group's lines to its first
 * one, `  | ExceptionGroup: … (N sub-exceptions)`. The log prefix is what is
 * left of the header's prefix without the group margin. Returns the start of
 * the group's first line, or SIZE_MAX. */
static size_t find_group_top(ctx *c, size_t low, size_t start, size_t *log_prefix_n)
{
    size_t pn = c->prefix_length, sp = 0, top = SIZE_MAX, p = start;
    int below_level = 0, gap = 0;
    if (pn < 4 || c->prefix[pn - 1] != ' ' || c->prefix[pn - 2] != '|')
        return SIZE_MAX;
    while (sp + 2 < pn && c->prefix[pn - 3 - sp] == ' ')
        sp++;
    if (sp < 2)
        return SIZE_MAX;
    *log_prefix_n = pn - 2 - (sp & ~(size_t)1);
    c->prefix_length = *log_prefix_n;
    c->prefix_trimmed = c->prefix_length;
    while (c->prefix_trimmed && c->prefix[c->prefix_trimmed - 1] == ' ')
        c->prefix_trimmed--;
    for (int i = 0; i < GROUP_WALK_LINES && p > low; i++) {
        line l;
        int level;
        p = line_start(c->data, low, p - 1);
        if (!read_raw(c, p, &l) || !strip_log_prefix(c, &l))
            break;
        level = group_line_level(&l);
        if (level) {
            top = p;
            below_level = level;
            gap = 0;
        } else if (l.n && l.s[0] != ' ' && below_level >= 2 && gap < 3) {
            gap++; /* 3.11 printed message continuation lines without margins */
        } else {
            break;
        }
    }
    c->need_more = 0; /* walking up never needs more data */
    return top;
}

enum { ATTEMPT_NONE, ATTEMPT_DONE, ATTEMPT_MORE, ATTEMPT_NOMEM };

/* Decodes the candidate whose line starts at `start`. On ATTEMPT_DONE `*end`
 * is where the search goes on and `*out` the traceback (or NULL if the
 * candidate was not one). */
static int attempt(pydbg_tb_parser *p, size_t start, size_t low, int eof,
                   pydbg_traceback **out, size_t *end, size_t *first_line_pos)
{
    ctx c;
    line header;
    size_t pos = start, prefix_n = 0;
    int kind, needle;
    memset(&c, 0, sizeof c);
    *out = NULL;
    c.data = p->buf.data;
    c.length = p->buf.length;
    c.eof = eof;
    if (!eof && c.length - start > p->max_bytes) {
        c.length = start + (size_t)p->max_bytes;
        c.eof = 1;
    }
    c.mode = MODE_PREFIXED;
    if (!read_raw(&c, start, &header)) {
        pydbg__arena_free(&c.scratch);
        return c.oom ? ATTEMPT_NOMEM : c.need_more ? ATTEMPT_MORE : ATTEMPT_NONE;
    }
    kind = CAND_NONE;
    for (needle = 0; needle < NEEDLE_COUNT && kind == CAND_NONE; needle++)
        kind = classify(header.s, header.n, needle, &prefix_n);
    if (kind == CAND_NONE) {
        pydbg__arena_free(&c.scratch);
        *end = header.next;
        return ATTEMPT_DONE;
    }
    c.tb = calloc(1, sizeof *c.tb);
    if (!c.tb) {
        pydbg__arena_free(&c.scratch);
        return ATTEMPT_NOMEM;
    }
    c.prefix = keep(&c, header.s, prefix_n);
    c.prefix_length = prefix_n;
    c.prefix_trimmed = prefix_n;
    while (c.prefix_trimmed && (c.prefix[c.prefix_trimmed - 1] == ' ' ||
                                c.prefix[c.prefix_trimmed - 1] == '\t'))
        c.prefix_trimmed--;
    c.tb->prefix = c.prefix;
    /* `logger.exception()` puts a prefix on the first line only */
    if (prefix_n && !c.oom) {
        line next;
        if (read_raw(&c, header.next, &next)) {
            line stripped = next;
            if (!strip_log_prefix(&c, &stripped) && starts_with(next.s, next.n, "  "))
                c.mode = MODE_UNPREFIXED;
        }
        c.need_more = 0;
    }
    *first_line_pos = start;
    if (kind == CAND_THREAD) {
        line content = header;
        c.tb->kind = PYDBG_TB_KIND_THREAD;
        content.s += prefix_n;
        content.n -= prefix_n;
        parse_thread(&c, &pos, &content);
    } else {
        exc_list chain = {0};
        int headerless = kind == CAND_SYNTAX;
        c.tb->kind = PYDBG_TB_KIND_EXCEPTION;
        if (kind == CAND_TRACEBACK || kind == CAND_INNER_GROUP) {
            size_t log_n = 0, saved_n = c.prefix_length, saved_t = c.prefix_trimmed;
            size_t top = find_group_top(&c, low, start, &log_n);
            if (top != SIZE_MAX && !c.oom) {
                size_t gpos = top;
                int saved_mode = c.mode;
                c.mode = MODE_PREFIXED;
                if (parse_chain(&c, &gpos, 0, 1, 0, &chain) && chain.items[0]->is_group &&
                    gpos > header.next) {
                    pos = gpos;
                    *first_line_pos = top;
                    c.tb->prefix = keep(&c, c.prefix, c.prefix_length);
                } else {
                    memset(&chain, 0, sizeof chain);
                    c.tb->truncated = 0;
                    c.mode = saved_mode;
                    c.prefix_length = saved_n;
                    c.prefix_trimmed = saved_t;
                }
            } else {
                c.prefix_length = saved_n;
                c.prefix_trimmed = saved_t;
            }
        }
        if (chain.count) {
            /* the group found above */
        } else if (kind == CAND_TRACEBACK || kind == CAND_GROUP) {
            size_t back = look_back(&c, low, start);
            if (back != start) {
                pos = back;
                headerless = 1;
                *first_line_pos = back;
            }
        }
        if (!c.oom && (chain.count || parse_chain(&c, &pos, 0, headerless, 0, &chain))) {
            c.tb->exceptions = chain.items;
            c.tb->exception_count = chain.count;
        }
        if (kind == CAND_SYNTAX && c.tb->exception_count &&
            !c.tb->exceptions[0]->has_syntax)
            c.tb->exception_count = 0;
    }
    pydbg__arena_free(&c.scratch);
    if (c.oom) {
        pydbg_traceback_free(c.tb);
        return ATTEMPT_NOMEM;
    }
    if (c.need_more) {
        pydbg_traceback_free(c.tb);
        return ATTEMPT_MORE;
    }
    if (c.tb->exception_count == 0) {
        pydbg_traceback_free(c.tb);
        *end = header.next;
        return ATTEMPT_DONE;
    }
    if (pos >= c.length && c.length < p->buf.length)
        c.tb->truncated = 1; /* cut by the size bound */
    *out = c.tb;
    *end = pos;
    return ATTEMPT_DONE;
}

/* ---- the scanner --------------------------------------------------------------------- */

static uint64_t line_number_at(pydbg_tb_parser *p, size_t pos)
{
    if (pos >= p->counted_pos) {
        p->counted_lines += count_newlines(p->buf.data + p->counted_pos, pos - p->counted_pos);
        p->counted_pos = pos;
        return p->counted_lines + 1;
    }
    return p->counted_lines - count_newlines(p->buf.data + pos, p->counted_pos - pos) + 1;
}

static size_t next_hit(pydbg_tb_parser *p, int i, size_t from)
{
    size_t len = p->buf.length, nl = needle_lengths[i], begin;
    const char *h;
    if (p->hit_from[i] <= from) {
        if (p->hit[i] != NO_HIT && p->hit[i] >= from)
            return p->hit[i];
        if (p->hit[i] == NO_HIT && p->hit_to[i] == len)
            return NO_HIT;
    }
    begin = from;
    if (p->hit_from[i] <= from && p->hit[i] == NO_HIT && p->hit_to[i] >= nl &&
        p->hit_to[i] - nl + 1 > begin)
        begin = p->hit_to[i] - nl + 1;
    h = begin < len ? memmem(p->buf.data + begin, len - begin, needles[i], nl) : NULL;
    p->hit_from[i] = from;
    p->hit_to[i] = len;
    p->hit[i] = h ? (size_t)(h - p->buf.data) : NO_HIT;
    return p->hit[i];
}

static int enqueue(pydbg_tb_parser *p, pydbg_traceback *tb)
{
    if (p->queue_head + p->queue_count == p->queue_capacity && p->queue_head) {
        memmove(p->queue, p->queue + p->queue_head, p->queue_count * sizeof *p->queue);
        p->queue_head = 0;
    }
    if (pydbg__grow_array((void **)&p->queue, &p->queue_capacity,
                          p->queue_head + p->queue_count + 1, sizeof *p->queue) != PYDBG_OK)
        return PYDBG_ENOMEM;
    p->queue[p->queue_head + p->queue_count++] = tb;
    return PYDBG_OK;
}

static int process(pydbg_tb_parser *p)
{
    for (;;) {
        size_t h = NO_HIT, s, end = 0, first;
        pydbg_traceback *tb;
        int r;
        for (int i = 0; i < NEEDLE_COUNT; i++) {
            size_t x = next_hit(p, i, p->scan);
            if (x < h)
                h = x;
        }
        if (h == NO_HIT) {
            size_t keep_n = needle_lengths[0];
            if (p->buf.length > p->scan + keep_n)
                p->scan = p->buf.length - keep_n;
            return PYDBG_OK;
        }
        s = line_start(p->buf.data, p->floor, h);
        if (p->pending && p->pending_start == s && !p->finished) {
            size_t have = p->buf.length - s;
            /* retry only once the pending text doubled: linear over any feed sizes */
            if (have < p->pending_seen * 2 &&
                have <= p->max_bytes) {
                p->scan = s;
                return PYDBG_OK;
            }
        }
        r = attempt(p, s, p->floor, p->finished, &tb, &end, &first);
        if (r == ATTEMPT_NOMEM)
            return pydbg__fail(&p->err, PYDBG_ENOMEM, "out of memory decoding a traceback");
        if (r == ATTEMPT_MORE) {
            p->pending = 1;
            p->pending_start = s;
            p->pending_seen = p->buf.length - s;
            p->scan = s;
            return PYDBG_OK;
        }
        p->pending = 0;
        if (r == ATTEMPT_NONE) {
            p->scan = h + 1;
            continue;
        }
        if (!tb) {
            p->scan = h + 1; /* not a traceback: go on past the hit */
            continue;
        }
        tb->start_line = line_number_at(p, first);
        {
            size_t last = end > first ? end - 1 : first;
            if (last > first && p->buf.data[last] == '\n')
                last--;
            tb->end_line = line_number_at(p, line_start(p->buf.data, first, last));
        }
        if (enqueue(p, tb) != PYDBG_OK) {
            pydbg_traceback_free(tb);
            return pydbg__fail(&p->err, PYDBG_ENOMEM, "out of memory queueing a traceback");
        }
        if (end <= h)
            end = h + 1;
        p->scan = end;
        p->floor = end;
    }
}

/* Drops text that can no longer matter, keeping some history for look-backs. */
static void compact(pydbg_tb_parser *p)
{
    size_t keep_from = p->pending ? p->pending_start : p->scan, drop;
    if (keep_from > p->floor)
        keep_from = keep_from > p->floor + HISTORY_BYTES ? keep_from - HISTORY_BYTES : p->floor;
    drop = keep_from;
    if (drop < 65536 || drop < p->buf.length / 2)
        return;
    line_number_at(p, drop);
    memmove(p->buf.data, p->buf.data + drop, p->buf.length - drop);
    p->buf.length -= drop;
    p->buf.data[p->buf.length] = '\0';
    p->scan -= drop;
    p->floor = p->floor > drop ? p->floor - drop : 0;
    p->counted_pos -= drop;
    if (p->pending)
        p->pending_start -= drop;
    for (int i = 0; i < NEEDLE_COUNT; i++) {
        p->hit_from[i] = p->hit_from[i] > drop ? p->hit_from[i] - drop : 0;
        p->hit_to[i] = p->hit_to[i] > drop ? p->hit_to[i] - drop : 0;
        if (p->hit[i] != NO_HIT && p->hit[i] < drop) {
            p->hit[i] = NO_HIT;
            p->hit_from[i] = SIZE_MAX; /* stale: search again */
        } else if (p->hit[i] != NO_HIT) {
            p->hit[i] -= drop;
        }
    }
    if (p->floor == 0 && drop) {
        const char *nl = memchr(p->buf.data, '\n', p->buf.length);
        size_t first = nl ? (size_t)(nl - p->buf.data) + 1 : 0;
        if (first <= p->scan)
            p->floor = first; /* the first kept line may be partial */
    }
}

/* ---- public ---------------------------------------------------------------------------- */

PYDBG_API int pydbg_tb_parser_new(pydbg_tb_parser **out, const pydbg_tb_parser_options *options)
{
    pydbg_tb_parser *p;
    if (!out)
        return pydbg__fail(NULL, PYDBG_EINVAL, "pydbg_tb_parser_new: out is NULL");
    *out = NULL;
    if (options && options->struct_size < sizeof(uint32_t) * 2)
        return pydbg__fail(NULL, PYDBG_EINVAL, "pydbg_tb_parser_new: bad struct_size");
    p = calloc(1, sizeof *p);
    if (!p)
        return pydbg__fail(NULL, PYDBG_ENOMEM, "out of memory creating a traceback parser");
    p->max_bytes = PYDBG_TB_DEFAULT_MAX_BYTES;
    if (options && options->struct_size >= sizeof *options && options->max_traceback_bytes)
        p->max_bytes = options->max_traceback_bytes;
    for (int i = 0; i < NEEDLE_COUNT; i++) {
        p->hit[i] = NO_HIT;
        p->hit_from[i] = SIZE_MAX;
    }
    *out = p;
    return PYDBG_OK;
}

PYDBG_API void pydbg_tb_parser_free(pydbg_tb_parser *parser)
{
    if (!parser)
        return;
    for (size_t i = 0; i < parser->queue_count; i++)
        pydbg_traceback_free(parser->queue[parser->queue_head + i]);
    free(parser->queue);
    pydbg__buffer_free(&parser->buf);
    free(parser);
}

PYDBG_API int pydbg_tb_parser_feed(pydbg_tb_parser *parser, const char *data, size_t length)
{
    int rc;
    if (!parser || (!data && length))
        return pydbg__fail(parser ? &parser->err : NULL, PYDBG_EINVAL,
                           "pydbg_tb_parser_feed: NULL argument");
    if (parser->finished)
        return pydbg__fail(&parser->err, PYDBG_ESTATE,
                           "pydbg_tb_parser_feed: the input was already finished");
    if (length == 0)
        return PYDBG_OK;
    if (pydbg__buffer_append(&parser->buf, data, length) != PYDBG_OK)
        return pydbg__fail(&parser->err, PYDBG_ENOMEM, "out of memory buffering %zu bytes",
                           length);
    rc = process(parser);
    compact(parser);
    return rc;
}

PYDBG_API int pydbg_tb_parser_finish(pydbg_tb_parser *parser)
{
    int rc;
    if (!parser)
        return pydbg__fail(NULL, PYDBG_EINVAL, "pydbg_tb_parser_finish: parser is NULL");
    if (parser->finished)
        return PYDBG_OK;
    parser->finished = 1;
    parser->pending = 0;
    if (!parser->buf.data && pydbg__buffer_reserve(&parser->buf, 0) != PYDBG_OK)
        return pydbg__fail(&parser->err, PYDBG_ENOMEM, "out of memory");
    rc = process(parser);
    line_number_at(parser, parser->buf.length);
    return rc;
}

PYDBG_API int pydbg_tb_parser_next(pydbg_tb_parser *parser, pydbg_traceback **out)
{
    if (!out)
        return pydbg__fail(parser ? &parser->err : NULL, PYDBG_EINVAL,
                           "pydbg_tb_parser_next: out is NULL");
    *out = NULL;
    if (!parser)
        return pydbg__fail(NULL, PYDBG_EINVAL, "pydbg_tb_parser_next: parser is NULL");
    if (parser->queue_count) {
        *out = parser->queue[parser->queue_head++];
        parser->queue_count--;
        if (!parser->queue_count)
            parser->queue_head = 0;
    }
    return PYDBG_OK;
}

PYDBG_API uint64_t pydbg_tb_parser_line_count(const pydbg_tb_parser *parser)
{
    uint64_t n;
    if (!parser)
        return 0;
    n = parser->counted_lines +
        count_newlines(parser->buf.data + parser->counted_pos,
                       parser->buf.length - parser->counted_pos);
    if (parser->finished && parser->buf.length && parser->buf.data[parser->buf.length - 1] != '\n')
        n++;
    return n;
}

PYDBG_API const char *pydbg_tb_parser_errmsg(const pydbg_tb_parser *parser)
{
    return parser ? parser->err.message : "";
}

PYDBG_API int pydbg_traceback_parse(pydbg_traceback **out, const char *text, size_t length)
{
    pydbg_tb_parser *p;
    int rc;
    if (!out)
        return pydbg__fail(NULL, PYDBG_EINVAL, "pydbg_traceback_parse: out is NULL");
    *out = NULL;
    if (!text && length)
        return pydbg__fail(NULL, PYDBG_EINVAL, "pydbg_traceback_parse: text is NULL");
    rc = pydbg_tb_parser_new(&p, NULL);
    if (rc != PYDBG_OK)
        return rc;
    rc = pydbg_tb_parser_feed(p, text, length);
    if (rc == PYDBG_OK)
        rc = pydbg_tb_parser_finish(p);
    if (rc == PYDBG_OK) {
        pydbg_tb_parser_next(p, out);
        if (!*out)
            rc = pydbg__fail(NULL, PYDBG_ENOTFOUND, "no traceback found in %zu bytes", length);
    }
    pydbg_tb_parser_free(p);
    return rc;
}
