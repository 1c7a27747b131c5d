/* The sampler's fast check: see chain_check.h. */
#include <stdlib.h>
#include <string.h>

#include "sample/chain_check.h"

typedef uint64_t v2 __attribute__((vector_size(16)));
/* A kept window read in place: the checks are 16-byte aligned (sampler.h). */
typedef uint64_t v2_kept __attribute__((vector_size(16), may_alias));

_Static_assert(sizeof(pydbg__link_check) == 64, "a check fills one cache line");

static inline v2 load_v2(const void *p)
{
    v2 v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* The word of a frame header that holds its owner: on 3.12 and 3.13 it also
 * holds stacktop, so a caller that ran since (stacktop -1 while it runs) reads
 * different even when it stopped again at the same instruction. */
static int32_t state_word(const pydbg__layout *l)
{
    return l->iframe.owner & ~7;
}

/* Marks the 8 bytes at `at` of a 16-byte window as compared. */
static void set_mask(uint64_t mask[2], int32_t at)
{
    unsigned char bytes[16];
    memcpy(bytes, mask, sizeof bytes);
    memset(bytes + at, 0xff, 8);
    memcpy(mask, bytes, sizeof bytes);
}

static int window_is(const pydbg__check_window *w, uint64_t low, uint64_t high)
{
    return w->mask[0] == low && w->mask[1] == high;
}

/* A window that compares one word, in either half: which half, or -1. */
static int lone_half(const pydbg__check_window *w)
{
    return window_is(w, UINT64_MAX, 0) ? 0 : window_is(w, 0, UINT64_MAX) ? 1 : -1;
}

static void choose_shape(pydbg__sampler *s)
{
    const pydbg__check_window *w = s->check_windows;
    s->check_shape = PYDBG__CHECK_SHAPE_MASKED;
    if (s->check_window_count == 2 && window_is(&w[0], UINT64_MAX, UINT64_MAX) &&
        window_is(&w[1], UINT64_MAX, UINT64_MAX)) {
        s->check_shape = PYDBG__CHECK_SHAPE_PAIRS;
    } else if (s->check_window_count == 3 && lone_half(&w[0]) >= 0 &&
               window_is(&w[1], UINT64_MAX, UINT64_MAX) && lone_half(&w[2]) >= 0) {
        s->check_shape = PYDBG__CHECK_SHAPE_WORD_PAIR_WORD;
        for (int k = 0; k < 2; k++) {
            const pydbg__check_window *lone = &w[k * 2];
            s->check_lone_half[k] = lone_half(lone);
            s->check_lone_at[k] = lone->start + 8 * s->check_lone_half[k];
        }
    }
}

void pydbg__chain_check_setup(pydbg__sampler *s)
{
    const pydbg__layout *l = &s->t->layout;
    const int32_t span = (int32_t)s->iframe_span;
    int32_t words[4] = {l->iframe.executable, l->iframe.previous, l->iframe.instr_ptr,
                        state_word(l)};
    int covered[4] = {0, 0, 0, 0};
    s->check_window_count = 0;
    s->check_shape = PYDBG__CHECK_SHAPE_MASKED;
    /* Smallest first: each window starts at the first word not yet covered
     * and takes the words of the header within its 16 bytes. */
    for (int i = 0; i < 4; i++)
        for (int j = i + 1; j < 4; j++)
            if (words[j] < words[i]) {
                int32_t swap = words[i];
                words[i] = words[j];
                words[j] = swap;
            }
    for (int i = 0; i < 4; i++) {
        pydbg__check_window *w;
        int32_t start = words[i];
        if (covered[i])
            continue;
        if (start < 0 || start + 8 > span) {
            s->check_window_count = 0; /* a layout without the words: no fast check */
            return;
        }
        if (start + 16 > span)
            start -= 8; /* the word in the window's high half, so it is still a word */
        if (start < 0 || start + 16 > span) {
            s->check_window_count = 0;
            return;
        }
        if (s->check_window_count == PYDBG__CHECK_WINDOWS) {
            s->check_window_count = 0; /* words too far apart: no fast check */
            return;
        }
        w = &s->check_windows[s->check_window_count++];
        memset(w, 0, sizeof *w);
        w->start = start;
        for (int j = i; j < 4; j++) {
            int32_t at = words[j] - start;
            if (covered[j] || at < 0 || at + 8 > 16)
                continue;
            covered[j] = 1;
            set_mask(w->mask, at);
            if (words[j] != l->iframe.instr_ptr)
                set_mask(w->mask_top, at);
        }
    }
    choose_shape(s);
}

/* Room for `count` checks, each on a cache line of its own; what was kept is
 * dropped (the caller rebuilds it). */
static pydbg__link_check *replace_checks(pydbg__link_check *old, size_t count)
{
    pydbg__link_check *fresh = aligned_alloc(64, count * sizeof *fresh);
    if (!fresh)
        return NULL;
    free(old);
    return fresh;
}

void pydbg__chain_check_build(pydbg__sampler *s, pydbg__thread_track *track,
                              const pydbg__sampled_thread *out)
{
    const pydbg__layout *l = &s->t->layout;
    const size_t span = s->iframe_span;
    const int verify = pydbg__sample_needs_second_copy(l) && track->verify_read;
    int first_emit = 1;
    track->check_count = 0;
    if (s->check_window_count == 0 || out->truncated || track->link_count == 0 ||
        track->read_apart)
        return;
    if (track->link_count > track->check_capacity) {
        pydbg__link_check *grown =
            replace_checks(track->checks, track->link_capacity);
        if (!grown)
            return;
        track->checks = grown;
        track->check_capacity = track->link_capacity;
    }
    if (out->frame_count > track->check_frames_capacity) {
        pydbg__sampled_frame *grown =
            realloc(track->check_frames, out->frame_count * 2 * sizeof *grown);
        if (!grown)
            return;
        track->check_frames = grown;
        track->check_frames_capacity = out->frame_count * 2;
    }
    for (size_t i = 0; i < track->link_count; i++) {
        const pydbg__chain_link *link = &track->links[i];
        pydbg__link_check *c = &track->checks[i];
        size_t index = 0;
        memset(c, 0, sizeof *c);
        c->at = pydbg__sample_chunk_lookup(track, link->frame, span, &index);
        if (!c->at) {
            /* Outside the data stack: the copy the plan reads it into. */
            size_t j = 0;
            while (j < track->frame_count && track->frames[j] != link->frame)
                j++;
            if (j == track->frame_count)
                return;
            c->at = track->outside_copy + j * span;
        } else if (index == 0) {
            c->chunk_offset = (uint32_t)(link->frame - track->chunk);
            if (verify && link->emits)
                c->verify = (uint16_t)(PYDBG__VERIFY_HEADER |
                                       (first_emit ? 0u : PYDBG__VERIFY_INSTRUCTION));
        }
        if (link->emits)
            first_emit = 0;
        if (pydbg__load_u64(c->at, l->iframe.executable) != link->code_word ||
            pydbg__load_u64(c->at, l->iframe.previous) != link->previous ||
            pydbg__load_u64(c->at, l->iframe.instr_ptr) != link->instr_word)
            return;
        for (int w = 0; w < s->check_window_count; w++)
            memcpy(c->window[w], c->at + s->check_windows[w].start, 16);
    }
    if (out->frame_count) /* a chain of shim frames only emits none */
        memcpy(track->check_frames, s->frames + out->first_frame,
               out->frame_count * sizeof *track->check_frames);
    track->check_frame_count = out->frame_count;
    track->check_first = track->links[0].frame;
    track->check_top = pydbg__load_u64(track->state, l->tstate.datastack_top);
    track->check_chunk = track->chunk;
    track->check_chunk_length = track->chunk_length;
    track->check_older_count = track->older_count;
    track->check_epoch = track->buffer_epoch;
    track->check_count = track->link_count;
}

int pydbg__chain_check_words(const pydbg__sampler *s, const pydbg__thread_track *track)
{
    const pydbg__link_check *c = track->checks;
    const pydbg__check_window *win = s->check_windows;
    const size_t n = track->check_count;
    v2 diff = {0, 0};
    if (track->check_epoch != track->buffer_epoch)
        return 0;
    if (s->check_shape == PYDBG__CHECK_SHAPE_PAIRS) {
        /* 3.12, 3.13: code and caller in one window, instruction and state in the
         * other, every byte of both compared: the fewest instructions per frame. */
        const int32_t s0 = win[0].start, s1 = win[1].start;
        for (size_t i = n; i-- > 0;)
            diff |= (load_v2(c[i].at + s0) ^ *(const v2_kept *)c[i].window[0]) |
                    (load_v2(c[i].at + s1) ^ *(const v2_kept *)c[i].window[1]);
    } else if (s->check_shape == PYDBG__CHECK_SHAPE_WORD_PAIR_WORD) {
        /* 3.11: code; caller and instruction; state. The lone words are loaded
         * alone: a third fewer bytes of the fresh copy touched than by three
         * masked windows, which the compare's time follows. */
        const int32_t a0 = s->check_lone_at[0], a2 = s->check_lone_at[1], s1 = win[1].start;
        const int h0 = s->check_lone_half[0], h2 = s->check_lone_half[1];
        uint64_t words = 0;
        for (size_t i = n; i-- > 0;) {
            words |= (pydbg__load_u64(c[i].at, a0) ^ c[i].window[0][h0]) |
                     (pydbg__load_u64(c[i].at, a2) ^ c[i].window[2][h2]);
            diff |= load_v2(c[i].at + s1) ^ *(const v2_kept *)c[i].window[1];
        }
        diff[0] |= words;
    } else if (s->check_window_count == 3) {
        /* 3.14: three windows under their masks. */
        const int32_t s0 = win[0].start, s1 = win[1].start, s2 = win[2].start;
        const v2 m0 = load_v2(win[0].mask), m1 = load_v2(win[1].mask),
                 m2 = load_v2(win[2].mask);
        for (size_t i = n; i-- > 0;)
            diff |= ((load_v2(c[i].at + s0) ^ *(const v2_kept *)c[i].window[0]) & m0) |
                    ((load_v2(c[i].at + s1) ^ *(const v2_kept *)c[i].window[1]) & m1) |
                    ((load_v2(c[i].at + s2) ^ *(const v2_kept *)c[i].window[2]) & m2);
    } else {
        for (size_t i = 0; i < n; i++)
            for (int w = 0; w < s->check_window_count; w++)
                diff |= (load_v2(c[i].at + win[w].start) ^ load_v2(c[i].window[w])) &
                        load_v2(win[w].mask);
    }
    if (track->verify_read) {
        /* The callers read the same in the chunk's second copy. */
        for (size_t i = 0; i < n; i++) {
            const unsigned char *again = track->verify_copy + c[i].chunk_offset;
            if (!c[i].verify)
                continue;
            for (int w = 0; w < s->check_window_count; w++)
                diff |= (load_v2(again + win[w].start) ^ load_v2(c[i].window[w])) &
                        load_v2((c[i].verify & PYDBG__VERIFY_INSTRUCTION) ? win[w].mask
                                                                         : win[w].mask_top);
        }
    }
    return (diff[0] | diff[1]) == 0;
}
