#include "sample/chain_check.h"
#include "sample/sampler.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pydebug/errors.h"
#include "pydebug/sample.h"
#include "util/buffer.h"
#include "walk/cycle.h"
#include "walk/thread_names.h"
#include "walk/threads.h"

/* 2.7 - 3.10: predicted frames closer than this are read as one piece. */
#define FRAME_MERGE_GAP 1024u
/* Pieces of one scattered read, at most. */
#define MAX_PIECES 4096u
/* Every this many samples, one cached code object is re-read to catch a
 * freed address reused by another code object: its header as one more piece
 * of the sample's read (a system call of its own cost 1-2 % of a warm sample). */
#define REVALIDATE_EVERY 64u
/* Where thread states have no `prev` (2.7), the heads of the interpreter and
 * thread lists are read every this many samples, for new threads; elsewhere new
 * threads show in the thread states read anyway (threads_unchanged), and only
 * new interpreters need the interpreter list's head, read every
 * INTERP_CHECK_EVERY samples (an 8-byte piece costs the kernel a remote iovec:
 * 1/16 of one is 1 % of a warm 3.12 sample). */
#define LIST_CHECK_EVERY 16u
#define INTERP_CHECK_EVERY 64u
_Static_assert((LIST_CHECK_EVERY & (LIST_CHECK_EVERY - 1)) == 0 &&
                   (INTERP_CHECK_EVERY & (INTERP_CHECK_EVERY - 1)) == 0,
               "list check periods are powers of two (build_plan masks)");
/* A thread list that keeps changing is re-read this many times per sample. */
#define LIST_ATTEMPTS 3
/* Pieces up to this size, this close together, are merged into one read. */
#define MERGE_PIECE_MAX 1024u
#define MERGE_GAP 512u
#define MERGE_SPAN_MAX 8192u

static int frame_model_is_iframe(const pydbg__target *t)
{
    return t->layout.frame_model != PYDBG__FRAME_OBJECTS;
}

static int32_t tstate_span(const pydbg__layout *l)
{
    const int32_t fields[] = {l->tstate.prev,
                              l->tstate.next,
                              l->tstate.interp,
                              l->tstate.frame,
                              l->tstate.cframe,
                              l->tstate.thread_id,
                              l->tstate.native_thread_id,
                              l->tstate.datastack_chunk,
                              l->tstate.datastack_top};
    return pydbg__span(fields, sizeof fields / sizeof fields[0]);
}

static int32_t iframe_span(const pydbg__layout *l)
{
    const int32_t fields[] = {l->iframe.previous, l->iframe.executable, l->iframe.instr_ptr,
                              l->iframe.owner};
    return pydbg__span(fields, sizeof fields / sizeof fields[0]);
}

static int32_t frame_object_span(const pydbg__layout *l)
{
    const int32_t fields[] = {l->frame.f_back, l->frame.f_code, l->frame.f_lasti,
                              l->frame.f_lineno, l->frame.f_trace};
    return pydbg__span(fields, sizeof fields / sizeof fields[0]);
}

/* ---- thread tracks ------------------------------------------------------------ */

static void track_release(pydbg__thread_track *track)
{
    pydbg__sample_iframes_release(track);
    free(track->frames);
    free(track->memo);
    if (track->stat_fd >= 0)
        close(track->stat_fd);
    memset(track, 0, sizeof *track);
    track->stat_fd = -1;
}

static void open_stat(pydbg__sampler *s, pydbg__thread_track *track)
{
    char path[96];
    if (!(s->flags & (PYDBG_SAMPLER_THREAD_STATE | PYDBG_SAMPLER_RUNNING_ONLY)) ||
        track->native_id <= 0 || track->stat_fd >= 0)
        return;
    snprintf(path, sizeof path, "/proc/%d/task/%lld/stat", s->t->pid,
             (long long)track->native_id);
    track->stat_fd = open(path, O_RDONLY | O_CLOEXEC);
}

/* Where the holder of the GIL can be read, for the main interpreter. */
static void locate_gil(pydbg__sampler *s, uint64_t main_interp)
{
    const pydbg__layout *l = &s->t->layout;
    s->gil_address = 0;
    switch (l->gil_model) {
    case PYDBG__GIL_CURRENT_SYMBOL:
        s->gil_address = s->t->tstate_current_var;
        break;
    case PYDBG__GIL_RUNTIME_CURRENT:
        if (s->t->runtime && l->runtime.tstate_current >= 0)
            s->gil_address = s->t->runtime + (uint64_t)l->runtime.tstate_current;
        break;
    case PYDBG__GIL_INTERP_STATE: {
        uint64_t gil;
        if (main_interp && l->interp.ceval_gil >= 0 && l->gil.locked >= 0 &&
            l->gil.last_holder >= 0 &&
            pydbg__read_ptr(s->t->reader, main_interp + (uint64_t)l->interp.ceval_gil, &gil) ==
                PYDBG_OK &&
            gil)
            s->gil_address = gil;
        break;
    }
    default:
        break;
    }
}

/* Re-reads the thread list, keeping what is known of threads that remain. */
static int refresh_threads(pydbg__sampler *s)
{
    pydbg__thread_list list = {0};
    pydbg__thread_track *tracks;
    int rc = pydbg__threads_read(s->t, &list);
    if (rc != PYDBG_OK) {
        pydbg__thread_list_free(&list);
        return rc;
    }
    tracks = calloc(list.count ? list.count : 1, sizeof *tracks);
    if (!tracks) {
        pydbg__thread_list_free(&list);
        return pydbg__fail(&s->t->error, PYDBG_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < list.count; i++) {
        pydbg__thread_track *track = &tracks[i];
        track->stat_fd = -1;
        for (size_t j = 0; j < s->track_count; j++) {
            if (s->tracks[j].tstate == list.items[i].tstate &&
                s->tracks[j].ident == list.items[i].ident) {
                *track = s->tracks[j];
                memset(&s->tracks[j], 0, sizeof s->tracks[j]);
                s->tracks[j].stat_fd = -1;
                break;
            }
        }
        track->tstate = list.items[i].tstate;
        track->interp = list.items[i].interp;
        track->ident = list.items[i].ident;
        track->native_id = list.items[i].native_id;
        track->is_main = list.items[i].is_main;
        open_stat(s, track);
    }
    /* Without names the stacks are still right. The previous sample's names
     * expire now, so their arena is replaced. */
    {
        pydbg__thread_names names = {0};
        pydbg__arena arena = {0};
        (void)pydbg__thread_names_read_all(s->t, &list, &arena, &names);
        for (size_t i = 0; i < list.count; i++)
            tracks[i].name = pydbg__thread_names_find(&names, tracks[i].ident);
        pydbg__thread_names_free(&names);
        pydbg__arena_free(&s->names);
        s->names = arena;
    }
    for (size_t j = 0; j < s->track_count; j++)
        track_release(&s->tracks[j]);
    free(s->tracks);
    s->tracks = tracks;
    s->track_count = list.count;
    s->track_capacity = list.count;
    locate_gil(s, list.count ? list.items[0].interp : 0);
    pydbg__thread_list_free(&list);
    return PYDBG_OK;
}

/* ---- the scattered read --------------------------------------------------------- */

typedef struct pydbg__sample_plan {
    pydbg__read_piece pieces[MAX_PIECES];
    size_t count;
    int overflow;
    int check_list; /* the interpreter list's head is read */
    /* Small pieces close together are read as one: the kernel's cost is per
     * piece far more than per byte. `merged` is what is actually read. */
    pydbg__read_piece merged[MAX_PIECES];
    size_t merged_count;
    struct merge_group {
        size_t first, last; /* range in pieces[] */
        size_t offset;      /* in the merge buffer; SIZE_MAX: read in place */
    } groups[MAX_PIECES];
    int check_first_tstate; /* the thread list's head is read (2.7) */
    int revalidating;       /* the last piece is the header of s->revalidate_entry */
    /* Where the fixed pieces landed. */
    uint64_t interp_head, first_tstate;
    unsigned char gil[32];
    size_t gil_length;
} plan;

static void add_piece(plan *p, uint64_t address, void *buffer, size_t length)
{
    if (p->count >= MAX_PIECES) {
        p->overflow = 1;
        return;
    }
    p->pieces[p->count].address = address;
    p->pieces[p->count].buffer = buffer;
    p->pieces[p->count].length = length;
    p->count++;
}

static int compare_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* 2.7 - 3.10: the predicted frame objects of every thread, merged into ranges
 * and packed into one buffer. Returns the bytes needed. */
typedef struct frame_range {
    uint64_t start, end;
    size_t offset; /* in the frame buffer */
} frame_range;

typedef struct frame_ranges {
    frame_range *items;
    size_t count, capacity;
    unsigned char *buffer; /* where the ranges were read */
    unsigned char *again;  /* ... and read again right after */
} frame_ranges;

static int build_frame_ranges(pydbg__sampler *s, size_t first_track, size_t track_count,
                              frame_ranges *ranges, size_t *bytes)
{
    size_t total = 0, all = 0;
    uint64_t *addresses;
    int32_t span = frame_object_span(&s->t->layout);
    ranges->count = 0;
    for (size_t i = first_track; i < first_track + track_count; i++)
        all += s->tracks[i].frame_count;
    *bytes = 0;
    if (all == 0)
        return PYDBG_OK;
    addresses = malloc(all * sizeof *addresses);
    if (!addresses)
        return PYDBG_ENOMEM;
    for (size_t i = first_track, k = 0; i < first_track + track_count; i++)
        for (size_t j = 0; j < s->tracks[i].frame_count; j++)
            addresses[k++] = s->tracks[i].frames[j];
    qsort(addresses, all, sizeof *addresses, compare_u64);
    for (size_t i = 0; i < all; i++) {
        uint64_t start = addresses[i], end = addresses[i] + (uint64_t)span;
        frame_range *last = ranges->count ? &ranges->items[ranges->count - 1] : NULL;
        if (last && start <= last->end + FRAME_MERGE_GAP) {
            if (end > last->end)
                last->end = end;
            continue;
        }
        {
            void *items = ranges->items;
            int rc = pydbg__grow_array(&items, &ranges->capacity, ranges->count + 1,
                                       sizeof *ranges->items);
            ranges->items = items;
            if (rc != PYDBG_OK) {
                free(addresses);
                return rc;
            }
        }
        ranges->items[ranges->count].start = start;
        ranges->items[ranges->count].end = end;
        ranges->count++;
    }
    free(addresses);
    for (size_t i = 0; i < ranges->count; i++) {
        ranges->items[i].offset = total;
        total += (size_t)(ranges->items[i].end - ranges->items[i].start);
    }
    *bytes = total;
    return PYDBG_OK;
}

/* The local copy of remote [address, address + length) if a range covers it,
 * and in `again` its second copy. */
static const unsigned char *range_lookup(const frame_ranges *ranges, uint64_t address,
                                         size_t length, const unsigned char **again)
{
    size_t lo = 0, hi = ranges->count;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (ranges->items[mid].end <= address)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < ranges->count && ranges->items[lo].start <= address &&
        address + length <= ranges->items[lo].end) {
        size_t at = ranges->items[lo].offset + (size_t)(address - ranges->items[lo].start);
        *again = ranges->again + at;
        return ranges->buffer + at;
    }
    return NULL;
}

static uint64_t interp_head_address(const pydbg__sampler *s)
{
    const pydbg__target *t = s->t;
    if (t->runtime && t->layout.runtime.interpreters_head >= 0)
        return t->runtime + (uint64_t)t->layout.runtime.interpreters_head;
    return t->interp_head_var;
}

static size_t gil_read_length(const pydbg__sampler *s)
{
    const pydbg__layout *l = &s->t->layout;
    if (l->gil_model != PYDBG__GIL_INTERP_STATE)
        return 8;
    return (size_t)((l->gil.locked > l->gil.last_holder ? l->gil.locked : l->gil.last_holder) + 8);
}

static int plan_add(void *p, uint64_t address, void *buffer, size_t length)
{
    add_piece(p, address, buffer, length);
    return PYDBG_OK;
}

/* 2.7 - 3.10: the predicted frames of tracks [first, first + count), read twice
 * one right after the other into `*buffer`: frame objects are recycled at the
 * same addresses by the same calls, so a stack copied while it moved often
 * passes every check of each frame alone; the two copies of a caller differ
 * then (see decode_frame_objects). */
static int plan_frame_ranges(pydbg__sampler *s, plan *p, size_t first, size_t count,
                             frame_ranges *ranges, unsigned char **buffer, size_t *capacity)
{
    size_t bytes;
    int rc = build_frame_ranges(s, first, count, ranges, &bytes);
    if (rc != PYDBG_OK)
        return rc;
    if (bytes * 2 > *capacity) {
        unsigned char *grown = realloc(*buffer, bytes * 2);
        if (!grown)
            return PYDBG_ENOMEM;
        *buffer = grown;
        *capacity = bytes * 2;
    }
    ranges->buffer = *buffer;
    ranges->again = *buffer + bytes;
    for (int pass = 0; pass < 2; pass++) {
        unsigned char *base = pass ? ranges->again : ranges->buffer;
        for (size_t i = 0; i < ranges->count; i++)
            add_piece(p, ranges->items[i].start, base + ranges->items[i].offset,
                      (size_t)(ranges->items[i].end - ranges->items[i].start));
    }
    return PYDBG_OK;
}

/* 2.7 - 3.10: the predicted top frame's caller, read once more after its two
 * copies. A frame object is reused by its code's next call, and for a moment
 * after it is taken its reference count says alive while f_back still names the
 * last call's caller: both copies can land in that moment and agree, naming a
 * caller that has since moved on (a recursion's innermost frame read as calling
 * from the line of the level above it). By the time of this read f_back holds
 * the new caller. */
static void add_top_back_after(pydbg__sampler *s, plan *p, pydbg__thread_track *track)
{
    track->top_after_frame = track->frame_count ? track->frames[0] : 0;
    if (track->top_after_frame)
        add_piece(p, track->top_after_frame + (uint64_t)s->t->layout.frame.f_back,
                  &track->top_back_after, 8);
}

static int build_plan(pydbg__sampler *s, plan *p, frame_ranges *ranges)
{
    const pydbg__layout *l = &s->t->layout;
    p->count = 0;
    p->overflow = 0;
    /* The list heads change only when threads or interpreters come and go. */
    const uint64_t list_every = l->tstate.prev < 0 ? LIST_CHECK_EVERY : INTERP_CHECK_EVERY;
    p->check_list = (s->samples & (list_every - 1)) == 0 || s->refresh_due; /* no division */
    p->check_first_tstate =
        p->check_list && l->tstate.prev < 0 && s->track_count && l->interp.tstate_head >= 0;
    if (p->check_list)
        add_piece(p, interp_head_address(s), &p->interp_head, 8);
    if (p->check_first_tstate)
        add_piece(p, s->tracks[0].interp + (uint64_t)l->interp.tstate_head, &p->first_tstate, 8);
    p->gil_length = 0;
    if (s->gil_address && (s->flags & (PYDBG_SAMPLER_GIL | PYDBG_SAMPLER_GIL_ONLY))) {
        p->gil_length = gil_read_length(s);
        if (p->gil_length <= sizeof p->gil)
            add_piece(p, s->gil_address, p->gil, p->gil_length);
        else
            p->gil_length = 0;
    }
    for (size_t i = 0; i < s->track_count; i++) {
        pydbg__thread_track *track = &s->tracks[i];
        if (frame_model_is_iframe(s->t))
            pydbg__sample_iframe_pieces(s, track, plan_add, p);
        else
            add_piece(p, track->tstate, track->state, s->tstate_span);
    }
    if (!frame_model_is_iframe(s->t)) {
        int rc = plan_frame_ranges(s, p, 0, s->track_count, ranges, &s->frame_buffer,
                                   &s->frame_buffer_capacity);
        if (rc != PYDBG_OK)
            return rc;
        /* The current frames again, after the frames: still the same ones, with
         * the same callers? */
        for (size_t i = 0; i < s->track_count; i++) {
            add_piece(p, s->tracks[i].tstate + (uint64_t)l->tstate.frame,
                      s->tracks[i].state_after + l->tstate.frame, 8);
            add_top_back_after(s, p, &s->tracks[i]);
        }
    }
    /* Last: nothing of the stacks' before-and-after order comes after it. */
    const size_t header_span = s->revalidate_entry ? pydbg__code_header_span(s->t) : 0;
    p->revalidating = header_span > 0 && !s->revalidate_apart;
    if (p->revalidating)
        add_piece(p, s->revalidate_entry->address, s->revalidate_header, header_span);
    return p->overflow ? PYDBG_ELIMIT : PYDBG_OK;
}

/* The thread list read in the plan is the one predicted. */
static int threads_unchanged(const pydbg__sampler *s, const plan *p)
{
    const pydbg__layout *l = &s->t->layout;
    if (s->track_count == 0)
        return 0;
    if ((p->check_list && p->interp_head != s->tracks[0].interp) ||
        (p->check_first_tstate && p->first_tstate != s->tracks[0].tstate))
        return 0;
    /* A thread is linked in at the head of its interpreter's list (the old
     * head's `prev` names it before the head does) and unlinked by pointing its
     * neighbours' `next` and `prev` past it: every change of the list changes a
     * word read here. */
    for (size_t i = 0; i < s->track_count; i++) {
        const pydbg__thread_track *track = &s->tracks[i];
        uint64_t next = pydbg__load_u64(track->state, l->tstate.next);
        uint64_t expected = i + 1 < s->track_count && s->tracks[i + 1].interp == track->interp
                                ? s->tracks[i + 1].tstate
                                : 0;
        uint64_t expected_prev =
            i > 0 && s->tracks[i - 1].interp == track->interp ? s->tracks[i - 1].tstate : 0;
        if (next != expected || pydbg__load_u64(track->state, l->tstate.interp) != track->interp ||
            (l->tstate.prev >= 0 && pydbg__load_u64(track->state, l->tstate.prev) != expected_prev))
            return 0;
    }
    /* Threads of later interpreters are checked when the list is re-read. */
    return s->tracks[s->track_count - 1].interp == s->tracks[0].interp;
}

/* ---- decoding one thread ----------------------------------------------------------- */

int pydbg__sampler_reserve_frames(pydbg__sampler *s, size_t more)
{
    void *frames = s->frames;
    int rc;
    if (s->frame_capacity - s->frame_count >= more)
        return PYDBG_OK;
    rc = pydbg__grow_array(&frames, &s->frame_capacity, s->frame_count + more,
                           sizeof *s->frames);
    s->frames = frames;
    return rc;
}

static int push_frame(pydbg__sampler *s, uint64_t key, int line)
{
    if (s->frame_count == s->frame_capacity) {
        void *frames = s->frames;
        int rc = pydbg__grow_array(&frames, &s->frame_capacity, s->frame_count + 1,
                                   sizeof *s->frames);
        s->frames = frames;
        if (rc != PYDBG_OK)
            return rc;
    }
    s->frames[s->frame_count].key = key;
    s->frames[s->frame_count].line = line;
    s->frame_count++;
    return PYDBG_OK;
}

/* The key and line of a frame, from the memo of the last sample when the
 * same frame runs the same code at the same instruction, else looked up and
 * memoised. `instruction` is the raw f_lasti / instr_ptr value. */
static int frame_key_line(pydbg__sampler *s, pydbg__thread_track *track, size_t depth,
                          uint64_t frame, uint64_t code_address, uint64_t instruction,
                          int64_t offset, uint64_t *key, int *line, int64_t *frame_bytes);

int pydbg__sampler_code_for(pydbg__sampler *s, uint64_t code_address, int64_t offset,
                            pydbg__code_key **out)
{
    pydbg__code_key *code = pydbg__code_keys_find(&s->keys, code_address);
    int rc;
    if (code && offset < code->code_bytes)
        goto found;
    rc = pydbg__code_keys_resolve(&s->keys, s->t, code_address, &code);
    if (rc != PYDBG_OK)
        return rc;
    if (offset >= code->code_bytes && code->code_bytes >= 0)
        return PYDBG_ECORRUPT;
found:
    *out = code;
    return PYDBG_OK;
}

static int frame_key_line(pydbg__sampler *s, pydbg__thread_track *track, size_t depth,
                          uint64_t frame, uint64_t code_address, uint64_t instruction,
                          int64_t offset, uint64_t *key, int *line, int64_t *frame_bytes)
{
    pydbg__code_key *code;
    pydbg__frame_memo *memo;
    int rc;
    if (depth < track->memo_capacity) {
        memo = &track->memo[depth];
        if (memo->frame == frame && memo->code == code_address &&
            memo->instruction == instruction && memo->key) {
            *key = memo->key;
            *line = memo->line;
            *frame_bytes = memo->frame_bytes;
            return PYDBG_OK;
        }
    } else {
        void *grown = track->memo;
        size_t capacity = track->memo_capacity;
        rc = pydbg__grow_array(&grown, &capacity, depth + 1, sizeof *track->memo);
        if (rc != PYDBG_OK)
            return rc;
        memset((pydbg__frame_memo *)grown + track->memo_capacity, 0,
               (capacity - track->memo_capacity) * sizeof *track->memo);
        track->memo = grown;
        track->memo_capacity = capacity;
    }
    rc = pydbg__sampler_code_for(s, code_address, offset, &code);
    if (rc != PYDBG_OK)
        return rc;
    memo = &track->memo[depth];
    memo->frame = frame;
    memo->code = code_address;
    memo->instruction = instruction;
    memo->key = *key = code->key;
    memo->line = *line = pydbg__code_key_line(s->t, code, (int)offset);
    memo->frame_bytes = *frame_bytes = code->frame_bytes;
    return PYDBG_OK;
}

static int remember_frame(pydbg__thread_track *track, size_t index, uint64_t frame)
{
    void *frames = track->frames;
    int rc = pydbg__grow_array(&frames, &track->frame_capacity, index + 1, sizeof *track->frames);
    track->frames = frames;
    if (rc != PYDBG_OK)
        return rc;
    track->frames[index] = frame;
    return PYDBG_OK;
}

/* 2.7 - 3.10: follow f_back through the predicted frames read in the plan;
 * frames not predicted (the stack changed) are read one by one. */
/* What a walk saw of one frame object: a caller keeps these while its callee runs. */
typedef struct frame_seen {
    uint64_t back, code;
    uint32_t lasti;
} frame_seen;

/* 2.7 - 3.10: frames read one by one during a walk (the stack was not as
 * predicted) were each read a moment after their callee. They are read again
 * all together, with the thread's current frame, and must read the same:
 * then the walk equals one copy taken at once. PYDBG_ECORRUPT if not. */
static int verify_walked_frames(pydbg__sampler *s, pydbg__thread_track *track, size_t depth,
                                const frame_seen *seen)
{
    const pydbg__layout *l = &s->t->layout;
    size_t span = (size_t)frame_object_span(l), index = (size_t)(track - s->tracks);
    plan *p = s->plan; /* the sample's own read is done with by now */
    frame_ranges ranges = {0};
    uint64_t current = 0;
    int rc;
    track->frame_count = depth;
    p->count = 0;
    p->overflow = 0;
    rc = plan_frame_ranges(s, p, index, 1, &ranges, &s->verify_buffer, &s->verify_capacity);
    add_piece(p, track->tstate + (uint64_t)l->tstate.frame, &current, 8);
    add_top_back_after(s, p, track);
    if (rc == PYDBG_OK) {
        rc = p->overflow ? PYDBG_ECORRUPT : pydbg__read_many(s->t->reader, p->pieces, p->count);
        if (rc == PYDBG_EREAD)
            rc = PYDBG_ECORRUPT;
    }
    if (rc == PYDBG_OK && (current != pydbg__load_u64(track->state, l->tstate.frame) ||
                           (depth > 0 && track->top_back_after != seen[0].back)))
        rc = PYDBG_ECORRUPT;
    for (size_t d = 0; d < depth && rc == PYDBG_OK; d++) {
        const unsigned char *again = NULL;
        const unsigned char *local = range_lookup(&ranges, track->frames[d], span, &again);
        for (int pass = 0; pass < 2 && rc == PYDBG_OK; pass++) {
            const unsigned char *c = pass ? again : local;
            if (!c || pydbg__load_u64(c, l->frame.f_back) != seen[d].back ||
                pydbg__load_u64(c, l->frame.f_code) != seen[d].code ||
                (d > 0 && pydbg__load_u32(c, l->frame.f_lasti) != seen[d].lasti))
                rc = PYDBG_ECORRUPT;
        }
    }
    free(ranges.items);
    return rc;
}

static int decode_frame_objects(pydbg__sampler *s, pydbg__thread_track *track,
                                const frame_ranges *ranges, pydbg__sampled_thread *out)
{
    const pydbg__layout *l = &s->t->layout;
    size_t span = (size_t)frame_object_span(l);
    uint64_t frame = pydbg__load_u64(track->state, l->tstate.frame);
    pydbg__cycle_guard guard = PYDBG__CYCLE_GUARD_INIT;
    unsigned char fresh[256];
    size_t depth = 0, read_alone = 0;
    const uint64_t predicted_top = track->top_after_frame;
    int rc = PYDBG_OK;
    if (track->memo_generation != s->keys.generation) {
        /* A code address changed hands: what was memoised by address is stale. */
        memset(track->memo, 0, track->memo_capacity * sizeof *track->memo);
        track->memo_generation = s->keys.generation;
    }
    while (frame) {
        const unsigned char *local, *again = NULL;
        uint64_t key;
        int64_t offset, frame_bytes;
        int line;
        if (pydbg__cycle_seen(&guard, frame)) {
            rc = PYDBG_ECORRUPT;
            break;
        }
        if (depth >= s->max_depth) {
            out->truncated = 1;
            break;
        }
        local = range_lookup(ranges, frame, span, &again);
        if (!local)
            read_alone++;
        if (!local) {
            rc = pydbg__read(s->t->reader, frame, fresh, span);
            if (rc != PYDBG_OK) {
                rc = rc == PYDBG_EREAD ? PYDBG_ECORRUPT : rc;
                break;
            }
            local = fresh;
        }
        /* A frame that died while the stack was read is back on a free list or
         * kept as its code's zombie frame, with a reference count of 0 and
         * f_back reused: a live frame always holds at least one reference. */
        {
            uint64_t refcount = pydbg__load_u64(local, 0);
            if (refcount == 0 || refcount > ((uint64_t)1 << 40)) {
                rc = PYDBG_ECORRUPT;
                break;
            }
        }
        /* 2.7 switches threads every 100 bytecodes, and a code object's zombie
         * frame is reused by whichever thread calls it next: a frame read a
         * moment late may already run in another thread. 2.7 frames record
         * their thread (f_tstate, just before f_lasti in Include/frameobject.h). */
        if (l->major == 2 &&
            pydbg__load_u64(local, l->frame.f_lasti - 8) != track->tstate) {
            rc = PYDBG_ECORRUPT;
            break;
        }
        offset = (int32_t)pydbg__load_u32(local, l->frame.f_lasti);
        /* A caller has run up to its call: a frame not started (f_lasti -1) under
         * a callee is a recycled frame object read at another moment. */
        if (depth > 0 && offset < 0) {
            rc = PYDBG_ECORRUPT;
            break;
        }
        /* The two copies of the predicted frames (plan_frame_ranges) must agree
         * on every caller: its f_lasti stays put while its callee runs, while a
         * frame read between two calls has moved on. The innermost frame runs. */
        if (again && (pydbg__load_u64(local, l->frame.f_back) !=
                          pydbg__load_u64(again, l->frame.f_back) ||
                      pydbg__load_u64(local, l->frame.f_code) !=
                          pydbg__load_u64(again, l->frame.f_code) ||
                      (depth > 0 && pydbg__load_u32(local, l->frame.f_lasti) !=
                                        pydbg__load_u32(again, l->frame.f_lasti)))) {
            rc = PYDBG_ECORRUPT;
            break;
        }
        if (l->line_model == PYDBG__LINES_LINETABLE_310 && offset >= 0)
            offset *= 2;
        rc = frame_key_line(s, track, depth, frame, pydbg__load_u64(local, l->frame.f_code),
                            (uint64_t)offset, offset, &key, &line, &frame_bytes);
        if (rc != PYDBG_OK) {
            rc = rc == PYDBG_EREAD ? PYDBG_ECORRUPT : rc;
            break;
        }
        if (pydbg__load_u64(local, l->frame.f_trace) != 0) {
            int traced = (int)pydbg__load_u32(local, l->frame.f_lineno);
            if (traced > 0)
                line = traced;
        }
        rc = push_frame(s, key, line);
        if (rc == PYDBG_OK)
            rc = remember_frame(track, depth, frame);
        if (rc == PYDBG_OK && depth >= s->seen_capacity) {
            void *grown = s->seen;
            rc = pydbg__grow_array(&grown, &s->seen_capacity, depth + 1, sizeof(frame_seen));
            s->seen = grown;
        }
        if (rc != PYDBG_OK)
            break;
        {
            frame_seen *seen = (frame_seen *)s->seen + depth;
            seen->back = pydbg__load_u64(local, l->frame.f_back);
            seen->code = pydbg__load_u64(local, l->frame.f_code);
            seen->lasti = pydbg__load_u32(local, l->frame.f_lasti);
        }
        depth++;
        out->frame_count++;
        frame = pydbg__load_u64(local, l->frame.f_back);
    }
    /* A code object's zombie frame is reused by whichever thread calls that
     * code next, so a frame read a moment late can carry another thread's
     * callers (3.x frames do not record their thread). A thread's outermost
     * frame, though, lives as long as the thread runs that code: a new one is
     * believed only when two readings agree (the retry gives the second). */
    if (rc == PYDBG_OK && depth > 0 && !out->truncated) {
        uint64_t bottom = track->frames[depth - 1];
        if (track->bottom == 0 || bottom == track->bottom || bottom == track->bottom_candidate) {
            track->bottom = bottom;
            track->bottom_candidate = 0;
        } else {
            track->bottom_candidate = bottom;
            rc = PYDBG_ECORRUPT;
        }
    }
    /* Frames not predicted were read one by one, each a moment after its
     * callee: recycled frame objects make such a chain look whole when it is
     * not. They are the next prediction, read twice together by the retry. */
    if (rc == PYDBG_OK && depth > 0 && !read_alone) {
        const frame_seen *top = s->seen;
        if (predicted_top == track->frames[0])
            rc = track->top_back_after == top->back ? PYDBG_OK : PYDBG_ECORRUPT;
        else
            read_alone = 1; /* a new top: its caller is checked by the read below */
    }
    if (rc == PYDBG_OK && read_alone)
        rc = verify_walked_frames(s, track, depth, s->seen);
    /* The thread's current frame, read again after its frames, is the same. */
    if (rc == PYDBG_OK && pydbg__load_u64(track->state_after, l->tstate.frame) !=
                              pydbg__load_u64(track->state, l->tstate.frame))
        rc = PYDBG_ECORRUPT;
    /* After a tear the frames walked so far, with the older predictions above
     * them, still predict well where the stack did not change. */
    if (rc == PYDBG_OK || depth > track->frame_count)
        track->frame_count = depth;
    return rc;
}

static int read_thread_state(pydbg__thread_track *track)
{
    char text[512];
    ssize_t n;
    const char *paren = NULL;
    if (track->stat_fd < 0)
        return PYDBG_THREAD_STATE_UNKNOWN;
    n = pread(track->stat_fd, text, sizeof text - 1, 0);
    if (n <= 0)
        return PYDBG_THREAD_STATE_UNKNOWN;
    text[n] = '\0';
    for (const char *p = text; (p = strchr(p, ')')) != NULL; p++)
        paren = p;
    if (!paren || paren[1] != ' ')
        return PYDBG_THREAD_STATE_UNKNOWN;
    return paren[2] == 'R' ? PYDBG_THREAD_STATE_RUNNING : PYDBG_THREAD_STATE_IDLE;
}

static uint64_t gil_holder(const pydbg__sampler *s, const plan *p, int *known)
{
    const pydbg__layout *l = &s->t->layout;
    *known = p->gil_length != 0;
    if (!*known)
        return 0;
    if (l->gil_model != PYDBG__GIL_INTERP_STATE)
        return pydbg__load_u64(p->gil, 0);
    return pydbg__load_u32(p->gil, l->gil.locked) ? pydbg__load_u64(p->gil, l->gil.last_holder)
                                                  : 0;
}

static int add_thread(pydbg__sampler *s, pydbg__sampled_thread **out)
{
    void *threads = s->threads;
    int rc = pydbg__grow_array(&threads, &s->thread_capacity, s->thread_count + 1,
                               sizeof *s->threads);
    s->threads = threads;
    if (rc != PYDBG_OK)
        return rc;
    *out = &s->threads[s->thread_count++];
    memset(*out, 0, sizeof **out);
    return PYDBG_OK;
}

/* Makes sure each chunk copy can hold what the plan reads into it. */
static int prepare_track(pydbg__sampler *s, pydbg__thread_track *track)
{
    if (frame_model_is_iframe(s->t))
        return pydbg__sample_iframes_prepare(s, track);
    return PYDBG_OK;
}

static int prepare_tracks(pydbg__sampler *s)
{
    for (size_t i = 0; i < s->track_count; i++) {
        int rc = prepare_track(s, &s->tracks[i]);
        if (rc != PYDBG_OK)
            return rc;
    }
    return PYDBG_OK;
}

/* Builds p->merged from p->pieces: runs of small pieces within MERGE_GAP of
 * each other become one piece, read into the sampler's merge buffer. */
static int coalesce(pydbg__sampler *s, plan *p)
{
    size_t used = 0;
    p->merged_count = 0;
    /* No sorting: the order of the pieces is the order of reading, which the
     * before/after checks rely on. Only neighbours in that order merge. */
    for (size_t i = 0; i < p->count;) {
        const pydbg__read_piece *first = &p->pieces[i];
        uint64_t start = first->address, end = first->address + first->length;
        size_t j = i + 1, k = p->merged_count++;
        if (first->length <= MERGE_PIECE_MAX) {
            while (j < p->count) {
                const pydbg__read_piece *next = &p->pieces[j];
                uint64_t next_end = next->address + next->length;
                if (next->length > MERGE_PIECE_MAX || next->address < start ||
                    next->address > end + MERGE_GAP ||
                    (next_end > end ? next_end : end) - start > MERGE_SPAN_MAX)
                    break;
                if (next_end > end)
                    end = next_end;
                j++;
            }
        }
        p->groups[k].first = i;
        p->groups[k].last = j;
        /* Field by field, not a struct copy of the piece: it was just written a
         * word at a time, and a wider load of it waits for those stores to land
         * (no forwarding). A merged piece gets its buffer below. */
        p->merged[k].address = start;
        p->merged[k].length = (size_t)(end - start);
        if (j == i + 1) {
            p->merged[k].buffer = first->buffer;
            p->groups[k].offset = SIZE_MAX;
        } else {
            p->groups[k].offset = used;
            used += (size_t)(end - start);
        }
        i = j;
    }
    if (used > s->merge_capacity) {
        unsigned char *grown = realloc(s->merge_buffer, used * 2);
        if (!grown)
            return PYDBG_ENOMEM;
        s->merge_buffer = grown;
        s->merge_capacity = used * 2;
    }
    for (size_t k = 0; k < p->merged_count; k++)
        if (p->groups[k].offset != SIZE_MAX)
            p->merged[k].buffer = s->merge_buffer + p->groups[k].offset;
    return PYDBG_OK;
}

/* Copies the merged reads out to the pieces' own buffers. */
static void scatter(plan *p)
{
    for (size_t k = 0; k < p->merged_count; k++) {
        const pydbg__read_piece *m = &p->merged[k];
        if (p->groups[k].offset == SIZE_MAX)
            continue;
        for (size_t i = p->groups[k].first; i < p->groups[k].last; i++) {
            const pydbg__read_piece *piece = &p->pieces[i];
            memcpy(piece->buffer, (unsigned char *)m->buffer + (piece->address - m->address),
                   piece->length);
        }
    }
}

/* A thread state with no ident, or its creator's, is a thread not started
 * yet (see walk/threads.c): kept to check the list, not reported. */
static int unstarted(const pydbg__sampler *s, size_t index)
{
    const pydbg__thread_track *track = &s->tracks[index];
    if (track->ident == 0)
        return 1;
    for (size_t j = 0; j < s->track_count; j++)
        if (j != index && s->tracks[j].ident == track->ident &&
            s->tracks[j].interp == track->interp && j > index)
            return 1;
    return 0;
}

/* 3.11+: reads one thread's state, current frame and stack again in one call,
 * in the same before/after order as the plan. */
static int reread_thread(pydbg__sampler *s, pydbg__thread_track *track)
{
    plan *p = s->plan; /* the sample's own read is done with by now */
    int rc = prepare_track(s, track);
    if (rc != PYDBG_OK)
        return rc;
    track->unchanged_run = 0; /* read in full, not as quiet */
    p->count = 0;
    p->overflow = 0;
    pydbg__sample_iframe_pieces(s, track, plan_add, p);
    if (p->overflow)
        return PYDBG_ELIMIT;
    return pydbg__read_many(s->t->reader, p->pieces, p->count);
}

/* 2.7 - 3.10: reads one thread's state and predicted frames again in one call
 * and walks them again (a thread that was torn: its stack moved while read). */
static int retry_frame_objects(pydbg__sampler *s, size_t index, pydbg__sampled_thread *thread)
{
    plan *p = s->plan; /* the sample's own read is done with by now */
    pydbg__thread_track *track = &s->tracks[index];
    frame_ranges ranges = {0};
    int rc;
    p->count = 0;
    p->overflow = 0;
    add_piece(p, track->tstate, track->state, s->tstate_span);
    rc = plan_frame_ranges(s, p, index, 1, &ranges, &s->retry_buffer, &s->retry_capacity);
    add_piece(p, track->tstate + (uint64_t)s->t->layout.tstate.frame,
              track->state_after + s->t->layout.tstate.frame, 8);
    add_top_back_after(s, p, track);
    if (rc == PYDBG_OK) {
        rc = p->overflow ? PYDBG_ECORRUPT : pydbg__read_many(s->t->reader, p->pieces, p->count);
        if (rc == PYDBG_EREAD)
            rc = PYDBG_ECORRUPT;
    }
    if (rc == PYDBG_OK)
        rc = decode_frame_objects(s, track, &ranges, thread);
    free(ranges.items);
    return rc;
}

static void forget_predictions(pydbg__sampler *s)
{
    for (size_t i = 0; i < s->track_count; i++) {
        s->tracks[i].chunk = 0;
        s->tracks[i].chunk_length = 0;
        s->tracks[i].older_count = 0;
        s->tracks[i].cframe = 0;
        s->tracks[i].frame_count = 0;
        s->tracks[i].link_count = 0;
        s->tracks[i].check_count = 0;
    }
}

static int sample_once(pydbg__sampler *s, int *list_changed)
{
    plan *p = s->plan;
    frame_ranges ranges = {0};
    uint64_t holder;
    int gil_known, rc;
    *list_changed = 0;
    s->thread_count = 0;
    s->frame_count = 0;
    rc = prepare_tracks(s);
    if (rc == PYDBG_OK)
        rc = build_plan(s, p, &ranges);
    if (rc == PYDBG_OK)
        rc = coalesce(s, p);
    if (rc == PYDBG_OK) {
        rc = pydbg__read_many(s->t->reader, p->merged, p->merged_count);
        if (rc == PYDBG_EREAD && p->revalidating) {
            /* Perhaps only the code object is gone: the rest again without it;
             * the code object is checked on its own after the sample. */
            p->count--;
            p->revalidating = 0;
            s->revalidate_apart = 1;
            rc = coalesce(s, p);
            if (rc == PYDBG_OK)
                rc = pydbg__read_many(s->t->reader, p->merged, p->merged_count);
        }
        if (rc == PYDBG_OK)
            scatter(p);
        s->revalidate_landed = rc == PYDBG_OK && p->revalidating;
        if (rc == PYDBG_OK && frame_model_is_iframe(s->t))
            for (size_t i = 0; i < s->track_count; i++)
                pydbg__sample_iframes_landed(s, &s->tracks[i]);
    }
    if (rc == PYDBG_EEXITED || rc == PYDBG_ENOMEM) {
        free(ranges.items);
        return pydbg__fail(&s->t->error, rc, rc == PYDBG_EEXITED ? "process %d exited"
                                                                 : "out of memory (process %d)",
                           s->t->pid);
    }
    if (rc != PYDBG_OK) {
        /* Something predicted is gone (a chunk freed, a thread's stack unmapped):
         * forget the predictions; the retry reads the plain thread states. */
        free(ranges.items);
        forget_predictions(s);
        *list_changed = 1;
        return PYDBG_OK;
    }
    if (!threads_unchanged(s, p)) {
        free(ranges.items);
        *list_changed = 1;
        return PYDBG_OK;
    }
    holder = gil_holder(s, p, &gil_known);
    {
        const pydbg__layout *l = &s->t->layout;
    for (size_t i = 0; i < s->track_count; i++) {
        pydbg__thread_track *track = &s->tracks[i];
        pydbg__sampled_thread *thread;
        size_t first = s->frame_count;
        rc = add_thread(s, &thread);
        if (rc != PYDBG_OK)
            break;
        /* A starting thread gets its ident after its thread state is linked:
         * the thread state, not the ident, is the thread's identity here. */
        {
            uint64_t ident = pydbg__load_u64(track->state, l->tstate.thread_id);
            if (ident != track->ident) {
                track->ident = ident;
                track->name = NULL;
                track->native_id = -1;
                s->refresh_due = 1; /* its name (and, before 3.11, its TID) come with the list */
            }
            if (l->tstate.native_thread_id >= 0) {
                int32_t tid = (int32_t)pydbg__load_u32(track->state, l->tstate.native_thread_id);
                track->native_id = tid > 0 ? tid : -1;
            }
        }
        thread->ident = track->ident;
        thread->name = track->name;
        thread->native_id = track->native_id;
        thread->holds_gil = gil_known && track->interp == s->tracks[0].interp
                                ? holder == track->tstate
                                : -1;
        thread->state = read_thread_state(track);
        thread->first_frame = first;
        s->thread_samples++;
        if (frame_model_is_iframe(s->t)) {
            track->read_apart = 0;
            rc = pydbg__sample_iframes(s, track, thread);
            /* A stack read apart from the plan (a chunk not predicted), or one
             * that moved while it was copied, is read again in order. */
            if (rc == PYDBG_OK &&
                (track->read_apart || !pydbg__sample_iframes_held_still(s, track)))
                rc = PYDBG_ECORRUPT;
            if (rc == PYDBG_ECORRUPT) {
                /* One more try for this thread alone: its state and stack read
                 * again together, a moment apart rather than a whole plan apart. */
                s->frame_count = first;
                thread->frame_count = 0;
                thread->frames = NULL;
                thread->truncated = 0;
                track->read_apart = 0;
                rc = reread_thread(s, track);
                if (rc == PYDBG_OK)
                    rc = pydbg__sample_iframes(s, track, thread);
                else if (rc == PYDBG_EREAD)
                    rc = PYDBG_ECORRUPT;
                /* The second reading must hold still as well: a stack pieced
                 * together from reads made at different moments is not real. */
                if (rc == PYDBG_OK &&
                    (track->read_apart || !pydbg__sample_iframes_held_still(s, track)))
                    rc = PYDBG_ECORRUPT;
            }
        } else {
            rc = decode_frame_objects(s, track, &ranges, thread);
            if (rc == PYDBG_ECORRUPT) {
                s->frame_count = first;
                thread->frame_count = 0;
                thread->frames = NULL;
                thread->truncated = 0;
                rc = retry_frame_objects(s, i, thread);
            }
        }
        if (rc == PYDBG_ECORRUPT || rc == PYDBG_ELIMIT) {
            /* Torn: the stack changed while it was read. Never report it. */
            s->frame_count = first;
            thread->frame_count = 0;
            thread->frames = NULL;
            thread->error = PYDBG_ECORRUPT;
            s->torn++;
            rc = PYDBG_OK;
        } else if (rc != PYDBG_OK) {
            break;
        }
        if ((thread->frame_count == 0 && thread->error == PYDBG_OK &&
             unstarted(s, i)) ||
            ((s->flags & PYDBG_SAMPLER_GIL_ONLY) && thread->holds_gil != 1) ||
            ((s->flags & PYDBG_SAMPLER_RUNNING_ONLY) &&
             thread->state != PYDBG_THREAD_STATE_RUNNING)) {
            s->frame_count = first;
            s->thread_count--;
        }
    }
    }
    free(ranges.items);
    if (rc != PYDBG_OK)
        return pydbg__fail(&s->t->error, rc, "sampling process %d: %s", s->t->pid,
                           pydbg_strerror(rc));
    for (size_t i = 0; i < s->thread_count; i++)
        if (!s->threads[i].frames)
            s->threads[i].frames = s->frames + s->threads[i].first_frame;
    return PYDBG_OK;
}

static int has_frames(const pydbg__sampled_thread *thread)
{
    return thread->frames && thread->frame_count;
}

/* The frames of the threads that have some, one after another, going round. */
typedef struct frame_cursor {
    const pydbg__sampled_thread *threads;
    size_t count, thread, frame;
} frame_cursor;

static uint64_t cursor_key(const frame_cursor *c)
{
    return c->threads[c->thread].frames[c->frame].key;
}

static void cursor_next(frame_cursor *c)
{
    if (++c->frame < c->threads[c->thread].frame_count)
        return;
    c->frame = 0;
    do
        c->thread = (c->thread + 1) % c->count;
    while (!has_frames(&c->threads[c->thread]));
}

uint64_t pydbg__sampler_reported_key(const pydbg__sampled_thread *threads, size_t count,
                                     size_t *cursor)
{
    frame_cursor c = {threads, count, 0, 0};
    size_t total = 0, start;
    uint64_t previous = 0;
    for (size_t i = 0; i < count; i++)
        total += has_frames(&threads[i]) ? threads[i].frame_count : 0;
    if (total == 0)
        return 0;
    start = *cursor % total;
    while (!has_frames(&threads[c.thread]))
        c.thread++;
    for (size_t k = 0; k < start; k++) {
        previous = cursor_key(&c);
        cursor_next(&c);
    }
    for (size_t step = 0; step < total; step++) {
        uint64_t key = cursor_key(&c);
        if (key && key != previous) {
            *cursor = (start + step) % total + 1;
            return key;
        }
        previous = key;
        cursor_next(&c);
    }
    *cursor = start + 1;
    return previous; /* one key in every frame (or none: 0) */
}

/* The cached code object this sample checks again: every other time one the last
 * sample reported, else the next of all keys (round robin). */
static pydbg__code_key *choose_revalidation(pydbg__sampler *s)
{
    if (s->revalidations++ % 2 == 0) {
        uint64_t key =
            pydbg__sampler_reported_key(s->threads, s->thread_count, &s->revalidate_reported);
        pydbg__code_key *entry = key ? pydbg__code_keys_live(&s->keys, key) : NULL;
        if (entry)
            return entry;
    }
    return pydbg__code_keys_next_to_revalidate(&s->keys);
}

int pydbg__sampler_sample(pydbg__sampler *s)
{
    int list_changed = 0, rc;
    s->revalidate_entry =
        (s->samples + 1) % REVALIDATE_EVERY == 0 ? choose_revalidation(s) : NULL;
    s->revalidate_landed = 0;
    s->revalidate_apart = 0;
    if (s->flags & PYDBG_SAMPLER_PAUSE) {
        rc = pydbg__target_pause(s->t);
        if (rc != PYDBG_OK)
            return rc;
    }
    if (s->refresh_due) {
        s->refresh_due = 0;
        rc = refresh_threads(s);
        if (rc != PYDBG_OK)
            goto done;
    }
    rc = sample_once(s, &list_changed);
    for (int attempt = 0; attempt < LIST_ATTEMPTS && rc == PYDBG_OK && list_changed; attempt++) {
        rc = refresh_threads(s);
        if (rc == PYDBG_OK)
            rc = sample_once(s, &list_changed);
    }
    {
        if (rc == PYDBG_OK && list_changed) {
            /* Still moving: report the threads with no stacks rather than guess. */
            s->thread_count = 0;
            s->frame_count = 0;
            for (size_t i = 0; i < s->track_count && rc == PYDBG_OK; i++) {
                pydbg__sampled_thread *thread;
                rc = add_thread(s, &thread);
                if (rc == PYDBG_OK) {
                    thread->ident = s->tracks[i].ident;
                    thread->native_id = s->tracks[i].native_id;
                    thread->holds_gil = -1;
                    thread->error = PYDBG_ECORRUPT;
                    s->torn++;
                    s->thread_samples++;
                }
            }
        }
    }
done:
    if (s->flags & PYDBG_SAMPLER_PAUSE) {
        int resume = pydbg__target_resume(s->t);
        if (rc == PYDBG_OK)
            rc = resume;
    }
    if (rc == PYDBG_OK) {
        s->samples++;
        if (s->revalidate_entry)
            rc = pydbg__code_keys_revalidate(&s->keys, s->t, s->revalidate_entry,
                                             s->revalidate_landed ? s->revalidate_header : NULL);
    }
    s->revalidate_entry = NULL;
    return rc;
}

int pydbg__sampler_init(pydbg__sampler *s, pydbg__target *t, uint32_t flags, size_t max_depth)
{
    memset(s, 0, sizeof *s);
    s->t = t;
    s->flags = flags;
    s->max_depth = max_depth;
    if (pydbg__code_keys_init(&s->keys) != PYDBG_OK)
        return pydbg__fail(&t->error, PYDBG_ENOMEM, "out of memory");
    s->plan = malloc(sizeof *s->plan);
    s->outside_scratch = malloc(PYDBG__MAX_OUTSIDE_FRAMES * sizeof *s->outside_scratch);
    s->outside_shim_scratch = malloc(PYDBG__MAX_OUTSIDE_FRAMES);
    if (!s->plan || !s->outside_scratch || !s->outside_shim_scratch)
        return pydbg__fail(&t->error, PYDBG_ENOMEM, "out of memory");
    s->tstate_span = (size_t)tstate_span(&t->layout);
    s->iframe_span = (size_t)iframe_span(&t->layout);
    if (s->tstate_span > sizeof s->tracks[0].state || s->iframe_span > 256)
        return pydbg__fail(&t->error, PYDBG_ENOTSUP, "thread state layout too large");
    if (frame_model_is_iframe(t))
        pydbg__chain_check_setup(s);
    return refresh_threads(s);
}

void pydbg__sampler_destroy(pydbg__sampler *s)
{
    for (size_t i = 0; i < s->track_count; i++)
        track_release(&s->tracks[i]);
    free(s->tracks);
    free(s->threads);
    free(s->frames);
    free(s->frame_buffer);
    free(s->merge_buffer);
    free(s->retry_buffer);
    free(s->verify_buffer);
    free(s->plan);
    free(s->seen);
    free(s->outside_scratch);
    free(s->outside_shim_scratch);
    pydbg__arena_free(&s->names);
    pydbg__code_keys_free(&s->keys);
    memset(s, 0, sizeof *s);
}
