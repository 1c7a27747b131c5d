/* The sampler's 3.11+ stacks: a thread's _PyInterpreterFrame chain decoded from
 * the copies one scattered read made of it.
 *
 * What is read, in this order (the kernel copies pieces one after the other):
 *   - the current frame: tstate->cframe->current_frame (3.11, 3.12) or the
 *     thread state holding tstate->current_frame (3.13+);
 *   - the frames outside the data stack the last sample met (generators,
 *     coroutines, and the entry frames C calls leave on the C stack - those
 *     only every so often, see below);
 *   - the used part of the data stack chunk(s), as far as the last sample's top;
 *   - the thread state (3.11, 3.12: its stack top; 3.13+: current frame and top
 *     again);
 *   - 3.11, 3.14: the chunk once more (see "held still" below).
 * so the thread's stack top is known at both ends of the copy of its stack.
 *
 * Checks, so that a stack copied while it moved is never reported as real:
 *   - the topmost frame in the chunk ends exactly at the stack top the thread
 *     state gives (a popped or half-pushed frame does not);
 *   - within a chunk each callee starts where its caller's frame ends, and
 *     frames go down in memory towards the outermost;
 *   - 3.12, 3.13: a frame with a Python callee on top has saved its stack
 *     (stacktop >= 0; the interpreter sets it to -1 whenever the frame runs),
 *     so a caller copied between two calls is caught even when a frame of the
 *     same size sits at the same place at both ends of the copy;
 *   - 3.11, 3.14 (no such state): the callers' headers must be the same in two
 *     copies of the chunk taken one after the other;
 *   - instruction pointers inside their code, code objects that validate.
 *
 * Speed: the last sample's chain is kept (pydbg__chain_link). A frame at the
 * same address with the same code, instruction, caller and owner is the same
 * frame at the same point, so its key and line are reused and the checks it
 * passed then are not repeated: an unchanged stack costs a few compares per
 * frame. Entry frames on the C stack are written once, when a C call enters
 * the interpreter, and stay as they are while the call lasts: one whose callee
 * is unchanged is taken from the last copy, and they are all read again every
 * OUTSIDE_REREAD_EVERY samples. */
#include <stdlib.h>
#include <string.h>

#include "pydebug/errors.h"
#include "sample/chain_check.h"
#include "sample/sampler.h"
#include "util/buffer.h"
#include "walk/cycle.h"

/* Room left above the used part of a data stack chunk when it is read, so
 * that a stack that grows a little between samples is still covered. */
#define CHUNK_SLACK 1024u
/* A chunk is never read past this, whatever its header says. */
#define MAX_CHUNK_READ (8u << 20)
/* The size of the _PyStackChunk header: previous, size, top. */
#define CHUNK_HEADER 24u
/* Shim frames not read for this many samples are read again. */
#define OUTSIDE_REREAD_EVERY 64u
/* A thread the fast check accepted this many samples in a row is read as quiet. */
#define QUIET_AFTER 2u
/* The page in front of a chunk copy (see pydbg__thread_track.chunk_block); the
 * copy itself starts on a page (see pydbg__replace_page_aligned). */
#define LANDING_PAGE 4096u

static int cframe_model(const pydbg__layout *l)
{
    return l->frame_model == PYDBG__IFRAME_311 || l->frame_model == PYDBG__IFRAME_312;
}


/* ---- buffers -------------------------------------------------------------------- */

void pydbg__sample_iframes_release(pydbg__thread_track *track)
{
    free(track->chunk_block);
    free(track->verify_copy);
    for (size_t i = 0; i < track->older_capacity; i++)
        free(track->older[i].copy);
    free(track->older);
    free(track->outside_copy);
    free(track->outside_next);
    free(track->outside_shim);
    free(track->outside_fresh);
    free(track->links);
    free(track->links_spare);
    free(track->checks);
    free(track->check_frames);
}

static int grow_outside(pydbg__sampler *s, pydbg__thread_track *track, size_t count)
{
    size_t span = s->iframe_span, capacity = track->outside_capacity;
    unsigned char *copy, *next;
    uint8_t *shim, *fresh;
    if (count <= capacity)
        return PYDBG_OK;
    capacity = count < 8 ? 8 : count * 2;
    copy = realloc(track->outside_copy, capacity * span);
    if (copy)
        track->outside_copy = copy;
    pydbg__chain_check_buffers_moved(track);
    next = realloc(track->outside_next, capacity * span);
    if (next)
        track->outside_next = next;
    shim = realloc(track->outside_shim, capacity);
    if (shim)
        track->outside_shim = shim;
    fresh = realloc(track->outside_fresh, capacity);
    if (fresh)
        track->outside_fresh = fresh;
    if (!copy || !next || !shim || !fresh)
        return PYDBG_ENOMEM;
    track->outside_capacity = capacity;
    return PYDBG_OK;
}

int pydbg__sample_iframes_prepare(pydbg__sampler *s, pydbg__thread_track *track)
{
    if (track->chunk_length > track->chunk_capacity)
        track->chunk_length = 0;
    if (pydbg__sample_needs_second_copy(&s->t->layout) &&
        track->chunk_length > track->verify_capacity &&
        pydbg__replace_page_aligned(&track->verify_copy, &track->verify_capacity,
                                    (size_t)track->chunk_length) != PYDBG_OK)
        return PYDBG_ENOMEM;
    return grow_outside(s, track, track->frame_count);
}

/* ---- the pieces read --------------------------------------------------------------- */

void pydbg__sample_iframes_landed(const pydbg__sampler *s, pydbg__thread_track *track)
{
    if (track->state_landed)
        memcpy(track->state, track->state_landed, s->tstate_span);
    track->state_landed = NULL;
}

void pydbg__sample_iframe_pieces(pydbg__sampler *s, pydbg__thread_track *track,
                                 pydbg__add_piece_fn add, void *plan)
{
    const pydbg__layout *l = &s->t->layout;
    size_t span = s->iframe_span;
    int reread_shims = track->since_outside_read >= OUTSIDE_REREAD_EVERY;
    size_t outside_read = 0; /* frames outside the data stack this read takes */
    for (size_t j = 0; j < track->frame_count; j++) {
        track->outside_fresh[j] = !track->outside_shim[j] || reread_shims;
        outside_read += track->outside_fresh[j];
    }
    /* A thread whose stack held still for a while is read as quiet: its thread
     * state, then its stack, and no more. That is enough to see that nothing
     * moved (chain_unchanged); if something did, the thread is read again in
     * full (sampler.c), costing one more call. */
    track->quiet_read = track->check_count > 0 && track->unchanged_run >= QUIET_AFTER;
    track->state_landed = NULL;
    if (track->quiet_read) {
        /* Right before the chunk's copy when nothing is read between them. */
        unsigned char *at = track->state;
        if (track->chunk_copy && track->chunk && track->chunk_length && track->older_count == 0 &&
            outside_read == 0 && s->tstate_span <= LANDING_PAGE) {
            at = track->chunk_copy - s->tstate_span;
            track->state_landed = at;
        }
        add(plan, track->tstate, at, s->tstate_span);
    } else if (cframe_model(l)) {
        if (track->cframe)
            add(plan, track->cframe + (uint64_t)l->cframe.current_frame, &track->cframe_frame,
                8);
    } else {
        add(plan, track->tstate, track->state, s->tstate_span);
    }
    for (size_t j = 0; j < track->frame_count; j++)
        if (track->outside_fresh[j])
            add(plan, track->frames[j], track->outside_copy + j * span, span);
    track->since_outside_read = reread_shims ? 0 : track->since_outside_read + 1;
    for (size_t j = track->older_count; j-- > 0;)
        add(plan, track->older[j].base, track->older[j].copy, (size_t)track->older[j].length);
    if (track->chunk && track->chunk_length)
        add(plan, track->chunk, track->chunk_copy, (size_t)track->chunk_length);
    if (!track->quiet_read)
        add(plan, track->tstate, cframe_model(l) ? track->state : track->state_after,
            s->tstate_span);
    /* A quiet thread is taken from one copy: its stack must read as the last one
     * word for word, and the second copy guards stacks that move. */
    track->verify_read = pydbg__sample_needs_second_copy(l) && !track->quiet_read &&
                         track->chunk && track->chunk_length &&
                         track->verify_capacity >= track->chunk_length;
    if (track->verify_read)
        add(plan, track->chunk, track->verify_copy, (size_t)track->chunk_length);
}

int pydbg__sample_iframes_held_still(const pydbg__sampler *s, const pydbg__thread_track *track)
{
    const pydbg__layout *l = &s->t->layout;
    if (track->quiet_read)
        return 1; /* its stack was the last one, word for word (chain_unchanged) */
    if (cframe_model(l))
        /* The current frame came through the cframe the thread state still names
         * (checked by the walk, which reads it apart if not); the top is checked
         * against the frames by the walk. */
        return 1;
    return pydbg__load_u64(track->state, l->tstate.datastack_top) ==
               pydbg__load_u64(track->state_after, l->tstate.datastack_top) &&
           pydbg__load_u64(track->state, l->tstate.datastack_chunk) ==
               pydbg__load_u64(track->state_after, l->tstate.datastack_chunk) &&
           pydbg__load_u64(track->state, l->tstate.frame) ==
               pydbg__load_u64(track->state_after, l->tstate.frame);
}

/* ---- chunks read on their own ---------------------------------------------------- */

/* Reads (again) the used part of the thread's current chunk. */
static int read_chunk(pydbg__sampler *s, pydbg__thread_track *track, uint64_t chunk,
                      uint64_t top)
{
    uint64_t header[3];
    uint64_t length;
    int rc;
    if (top < chunk + CHUNK_HEADER || top - chunk > MAX_CHUNK_READ)
        return PYDBG_ECORRUPT;
    rc = pydbg__read(s->t->reader, chunk, header, sizeof header);
    if (rc != PYDBG_OK)
        return rc;
    if (header[1] < CHUNK_HEADER || header[1] > (1ull << 32) || top - chunk > header[1])
        return PYDBG_ECORRUPT;
    length = top - chunk + CHUNK_SLACK;
    if (length > header[1])
        length = header[1];
    if (length > MAX_CHUNK_READ)
        length = MAX_CHUNK_READ;
    if (length > track->chunk_capacity) {
        /* The chunk is read again right below: its last copy need not be kept. */
        size_t capacity = 0;
        if (pydbg__replace_page_aligned(&track->chunk_block, &capacity,
                                        (size_t)length + LANDING_PAGE) != PYDBG_OK)
            return PYDBG_ENOMEM;
        track->chunk_copy = track->chunk_block + LANDING_PAGE;
        track->chunk_capacity = capacity - LANDING_PAGE;
        track->chunk_length = 0; /* nothing of the last copy is left */
        pydbg__chain_check_buffers_moved(track);
    }
    rc = pydbg__read(s->t->reader, chunk, track->chunk_copy, (size_t)length);
    if (rc != PYDBG_OK)
        return rc;
    if (chunk != track->chunk)
        track->older_count = 0; /* another chain: the older chunks are found again */
    track->read_apart = 1;
    track->verify_read = 0;
    track->chunk = chunk;
    track->chunk_length = length;
    return PYDBG_OK;
}

/* Reads the chunk below the last one known (its address is in the header of
 * the one above), for a walk that went past the chunks it has. Returns
 * PYDBG_ENOTFOUND when the chain has no more chunks. */
static int load_older_chunk(pydbg__sampler *s, pydbg__thread_track *track)
{
    uint64_t base, header[3], length;
    pydbg__chunk_copy *older;
    int rc;
    if (track->older_count == 0)
        base = track->chunk_length >= CHUNK_HEADER ? pydbg__load_u64(track->chunk_copy, 0) : 0;
    else
        base = track->older[track->older_count - 1].previous;
    if (base == 0)
        return PYDBG_ENOTFOUND;
    if (track->older_count >= PYDBG__MAX_OLDER_CHUNKS)
        return PYDBG_ECORRUPT;
    rc = pydbg__read(s->t->reader, base, header, sizeof header);
    if (rc != PYDBG_OK)
        return rc;
    /* An older chunk records its used size as a count of slots (push_chunk). */
    if (header[1] < CHUNK_HEADER || header[1] > MAX_CHUNK_READ ||
        header[2] > (header[1] - CHUNK_HEADER) / 8)
        return PYDBG_ECORRUPT;
    length = CHUNK_HEADER + header[2] * 8;
    if (track->older_count == track->older_capacity) {
        void *grown = track->older;
        size_t capacity = track->older_capacity;
        rc = pydbg__grow_array(&grown, &capacity, track->older_count + 1, sizeof *track->older);
        if (rc != PYDBG_OK)
            return rc;
        memset((pydbg__chunk_copy *)grown + track->older_capacity, 0,
               (capacity - track->older_capacity) * sizeof *track->older);
        track->older = grown;
        track->older_capacity = capacity;
    }
    older = &track->older[track->older_count];
    if (length > older->capacity) {
        if (pydbg__replace_page_aligned(&older->copy, &older->capacity, (size_t)length) !=
            PYDBG_OK)
            return PYDBG_ENOMEM;
        pydbg__chain_check_buffers_moved(track);
    }
    rc = pydbg__read(s->t->reader, base, older->copy, (size_t)length);
    if (rc != PYDBG_OK)
        return rc;
    older->base = base;
    older->length = length;
    older->previous = header[0];
    track->older_count++;
    track->read_apart = 1;
    return PYDBG_OK;
}

const unsigned char *pydbg__sample_chunk_lookup(const pydbg__thread_track *track, uint64_t frame,
                                                size_t span, size_t *index)
{
    if (frame >= track->chunk && frame + span <= track->chunk + track->chunk_length) {
        *index = 0;
        return track->chunk_copy + (frame - track->chunk);
    }
    for (size_t j = 0; j < track->older_count; j++) {
        const pydbg__chunk_copy *c = &track->older[j];
        if (frame >= c->base && frame + span <= c->base + c->length) {
            *index = j + 1;
            return c->copy + (frame - c->base);
        }
    }
    return NULL;
}

/* ---- the walk ------------------------------------------------------------------------ */

typedef struct walk {
    pydbg__sampler *s;
    pydbg__thread_track *track;
    const pydbg__layout *l;
    pydbg__sampled_thread *out;
    uint64_t chunk, top;
    /* The chain being built: until it differs from the last one it is the last
     * one (`diverged` 0) and nothing is written. */
    size_t depth;     /* links visited */
    int diverged;
    int top_checked;  /* the topmost frame in the current chunk was checked */
    /* The frames met outside the data stack, the next sample's prediction
     * (the sampler's scratch arrays of PYDBG__MAX_OUTSIDE_FRAMES). */
    uint64_t *outside;
    uint8_t *outside_shim;
    size_t outside_count;
} walk;

/* Records the link at w->depth; `same` when it is the last chain's link at the
 * same depth, unchanged. `link` is taken by value: it may be one of the last
 * chain's links, which growing the arrays moves (callers re-read track->links). */
static int keep_link(walk *w, pydbg__chain_link link, int same)
{
    pydbg__thread_track *track = w->track;
    if (!w->diverged && same)
        return PYDBG_OK;
    if (w->depth >= track->link_capacity) {
        size_t capacity = track->link_capacity ? track->link_capacity * 2 : 64;
        pydbg__chain_link *links, *spare;
        while (capacity <= w->depth)
            capacity *= 2;
        links = realloc(track->links, capacity * sizeof *links);
        if (links)
            track->links = links;
        spare = realloc(track->links_spare, capacity * sizeof *spare);
        if (spare)
            track->links_spare = spare;
        if (!links || !spare)
            return PYDBG_ENOMEM;
        track->link_capacity = capacity;
    }
    if (!w->diverged) {
        /* The chain so far equals the last one: it becomes the start of the new one. */
        memcpy(track->links_spare, track->links, w->depth * sizeof *track->links);
        w->diverged = 1;
    }
    track->links_spare[w->depth] = link;
    return PYDBG_OK;
}

/* Keeps an outside frame's copy for the next sample. `local` may point into the
 * buffers grown here, hence the bounce through `header`. */
static int keep_outside(walk *w, uint64_t frame, const unsigned char *local, int shim)
{
    pydbg__thread_track *track = w->track;
    size_t span = w->s->iframe_span;
    unsigned char header[256];
    if (w->outside_count >= PYDBG__MAX_OUTSIDE_FRAMES)
        return PYDBG_OK;
    memcpy(header, local, span);
    if (grow_outside(w->s, track, w->outside_count + 1) != PYDBG_OK)
        return PYDBG_ENOMEM;
    memcpy(track->outside_next + w->outside_count * span, header, span);
    w->outside[w->outside_count] = frame;
    w->outside_shim[w->outside_count] = (uint8_t)shim;
    w->outside_count++;
    return PYDBG_OK;
}

/* Where the frame at `frame` was copied: the current chunk, an older one, the
 * plan's outside copies or a read of its own. `fresh` is 0 for a shim frame
 * taken from an older sample's copy. */
static int locate(walk *w, uint64_t frame, unsigned char *own, const unsigned char **local,
                  int *in_chunk, size_t *chunk_index, int *fresh, int callee_unchanged)
{
    pydbg__thread_track *track = w->track;
    size_t span = w->s->iframe_span;
    int rc;
    *local = pydbg__sample_chunk_lookup(track, frame, span, chunk_index);
    while (!*local) {
        /* Past the chunks known: a deep stack continues in older ones. */
        rc = load_older_chunk(w->s, track);
        if (rc == PYDBG_ENOTFOUND)
            break;
        if (rc != PYDBG_OK)
            return rc;
        *local = pydbg__sample_chunk_lookup(track, frame, span, chunk_index);
    }
    *in_chunk = *local != NULL;
    *fresh = 1;
    if (*local)
        return PYDBG_OK;
    for (size_t j = 0; j < track->frame_count; j++) {
        if (track->frames[j] != frame)
            continue;
        if (track->outside_fresh[j] || (track->outside_shim[j] && callee_unchanged)) {
            *local = track->outside_copy + j * span;
            *fresh = track->outside_fresh[j];
            return PYDBG_OK;
        }
        break;
    }
    rc = pydbg__read(w->s->t->reader, frame, own, span);
    if (rc != PYDBG_OK)
        return rc;
    *local = own;
    return PYDBG_OK;
}

/* 3.11, 3.14: the callers must read the same in the second copy of the chunk. */
static int verify_copy_agrees(const walk *w, uint64_t frame, const unsigned char *local,
                              int is_top)
{
    const pydbg__thread_track *track = w->track;
    const pydbg__layout *l = w->l;
    const unsigned char *again;
    if (!track->verify_read)
        return 1;
    again = track->verify_copy + (frame - track->chunk);
    return pydbg__load_u64(local, l->iframe.executable) ==
               pydbg__load_u64(again, l->iframe.executable) &&
           pydbg__load_u64(local, l->iframe.previous) ==
               pydbg__load_u64(again, l->iframe.previous) &&
           local[l->iframe.owner] == again[l->iframe.owner] &&
           (is_top || pydbg__load_u64(local, l->iframe.instr_ptr) ==
                          pydbg__load_u64(again, l->iframe.instr_ptr));
}

static int emit(walk *w, const pydbg__chain_link *link)
{
    pydbg__sampler *s = w->s;
    s->frames[s->frame_count].key = link->key;
    s->frames[s->frame_count].line = link->line;
    s->frame_count++;
    w->out->frame_count++;
    return PYDBG_OK;
}

/* The first frame of the thread's chain, 0 if it runs none. */
static int first_frame(walk *w, uint64_t *frame)
{
    pydbg__thread_track *track = w->track;
    const pydbg__layout *l = w->l;
    uint64_t cframe;
    int rc;
    if (!cframe_model(l)) {
        *frame = pydbg__load_u64(track->state, l->tstate.frame);
        return PYDBG_OK;
    }
    /* 3.11, 3.12: the current frame was read before the stack through the
     * cframe of the last sample; the thread state, read after, says whether
     * that is still the thread's cframe. */
    cframe = pydbg__load_u64(track->state, l->tstate.cframe);
    if (cframe != track->cframe || cframe == 0) {
        track->cframe = cframe;
        track->cframe_frame = 0;
        track->read_apart = 1;
        if (cframe) {
            rc = pydbg__read_ptr(w->s->t->reader, cframe + (uint64_t)l->cframe.current_frame,
                                 &track->cframe_frame);
            if (rc != PYDBG_OK)
                return rc;
        }
    }
    *frame = track->cframe_frame;
    return PYDBG_OK;
}

static int walk_chain(walk *w)
{
    pydbg__sampler *s = w->s;
    pydbg__thread_track *track = w->track;
    const pydbg__layout *l = w->l;
    const pydbg__chain_link *old = track->links; /* re-read after keep_link() */
    size_t old_count = track->link_count, j = 0, span = s->iframe_span;
    uint64_t frame, previous_in_chunk = UINT64_MAX, callee_in_chunk = 0;
    pydbg__cycle_guard guard = PYDBG__CYCLE_GUARD_INIT;
    unsigned char own[256];
    size_t walked_chunk = 0;
    int callee_is_python = 0, callee_unchanged = 1, rc;

    rc = first_frame(w, &frame);
    if (rc != PYDBG_OK || frame == 0)
        return rc;
    if (w->chunk && (w->chunk != track->chunk ||
                     w->top > track->chunk + track->chunk_length)) {
        rc = read_chunk(s, track, w->chunk, w->top);
        if (rc != PYDBG_OK)
            return rc;
        old_count = 0; /* the chain's addresses say nothing about another chunk */
    }
    rc = pydbg__sampler_reserve_frames(s, old_count + 64);
    if (rc != PYDBG_OK)
        return rc;

    while (frame) {
        pydbg__chain_link link;
        const unsigned char *local;
        size_t chunk_index = 0, at = j;
        int in_chunk, fresh, matched;

        /* The fast lane: frames of the current chunk that are as the last
         * sample left them. Everything it needs is in registers. */
        if (walked_chunk == 0) {
            const unsigned char *copy = track->chunk_copy;
            const uint64_t base = track->chunk, end = track->chunk + track->chunk_length;
            const int32_t o_exec = l->iframe.executable, o_instr = l->iframe.instr_ptr,
                          o_prev = l->iframe.previous, o_owner = l->iframe.owner,
                          o_stacktop = l->iframe_state.stacktop;
            const int verify = track->verify_read;
            pydbg__sampled_frame *frames = s->frames;
            size_t count = s->frame_count, room = s->frame_capacity;
            size_t emitted = w->out->frame_count;
            while (j < old_count) {
                const pydbg__chain_link *m = &old[j];
                const unsigned char *at_frame;
                if (m->frame != frame || !m->in_chunk || frame < base || frame + span > end)
                    break;
                at_frame = copy + (frame - base);
                if (pydbg__load_u64(at_frame, o_exec) != m->code_word ||
                    pydbg__load_u64(at_frame, o_instr) != m->instr_word ||
                    pydbg__load_u64(at_frame, o_prev) != m->previous ||
                    at_frame[o_owner] != m->owner || frame >= previous_in_chunk)
                    break;
                if (m->emits) {
                    if (emitted >= s->max_depth || count == room)
                        break; /* the slow lane cuts the stack or makes room */
                    if ((callee_in_chunk && m->frame_bytes > 0 &&
                         callee_in_chunk != frame + (uint64_t)m->frame_bytes) ||
                        (callee_is_python && !m->started) ||
                        (callee_is_python && o_stacktop >= 0 &&
                         (int32_t)pydbg__load_u32(at_frame, o_stacktop) < 0) ||
                        (verify && !verify_copy_agrees(w, frame, at_frame, emitted == 0)))
                        return PYDBG_ECORRUPT;
                    if (!w->top_checked && m->frame_bytes > 0) {
                        if (frame + (uint64_t)m->frame_bytes != w->top)
                            return PYDBG_ECORRUPT;
                        w->top_checked = 1;
                    }
                    frames[count].key = m->key;
                    frames[count].line = m->line;
                    count++;
                    emitted++;
                    callee_in_chunk = frame;
                    callee_is_python = 1;
                } else {
                    callee_in_chunk = 0;
                    callee_is_python = 0;
                }
                if (w->diverged || j != w->depth) {
                    if ((rc = keep_link(w, *m, 0)) != PYDBG_OK)
                        return rc;
                    old = track->links; /* growing the links may have moved them */
                    m = &old[j];
                }
                previous_in_chunk = frame;
                w->depth++;
                j++;
                frame = m->previous;
                callee_unchanged = 1;
            }
            s->frame_count = count;
            w->out->frame_count = emitted;
            if (!frame)
                break;
        }
        /* Shim frames do not count toward the depth: bound them on their own. */
        if (w->depth > s->max_depth * 2 + 64)
            return PYDBG_ECORRUPT;

        /* The last chain, lined up: frames popped since are passed over (a
         * shorter stack starts further down the same chain). */
        while (j < old_count && old[j].in_chunk && frame < old[j].frame &&
               frame >= w->chunk && frame < w->top)
            j++;
        rc = locate(w, frame, own, &local, &in_chunk, &chunk_index, &fresh,
                    callee_unchanged && j < old_count && old[j].frame == frame);
        if (rc != PYDBG_OK)
            return rc;
        at = j;
        memset(&link, 0, sizeof link);
        link.frame = frame;
        link.code_word = pydbg__load_u64(local, l->iframe.executable);
        link.instr_word = pydbg__load_u64(local, l->iframe.instr_ptr);
        link.previous = pydbg__load_u64(local, l->iframe.previous);
        link.owner = local[l->iframe.owner];
        link.in_chunk = (uint8_t)(in_chunk && chunk_index == 0);
        matched = j < old_count && old[j].frame == frame &&
                  old[j].code_word == link.code_word && old[j].instr_word == link.instr_word &&
                  old[j].previous == link.previous && old[j].owner == link.owner &&
                  old[j].in_chunk == link.in_chunk;
        if (!in_chunk) {
            /* Outside the data stack (generators, C-stack entry frames): could loop. */
            if (pydbg__cycle_seen(&guard, frame))
                return PYDBG_ECORRUPT;
            if (!fresh && !matched)
                return PYDBG_ECORRUPT; /* a shim copy is only trusted unchanged */
        }
        if (matched) {
            link = old[j];
        } else {
            pydbg__code_key *code;
            uint64_t code_address = link.code_word & ~l->iframe_tag_mask;
            int64_t offset;
            if (link.owner > 8)
                return PYDBG_ECORRUPT;
            link.emits = !pydbg__layout_skips_owner(l, link.owner);
            link.key = 0;
            link.line = -1;
            link.frame_bytes = -1;
            if (link.emits) {
                offset = (int64_t)(link.instr_word -
                                   (code_address + (uint64_t)l->code.co_code_adaptive));
                if (offset < -2 || (offset & 1))
                    return PYDBG_ECORRUPT;
                rc = pydbg__sampler_code_for(s, code_address, offset, &code);
                if (rc != PYDBG_OK)
                    return rc;
                link.started = offset > 0;
                link.key = code->key;
                link.line = pydbg__code_key_line(s->t, code, (int)offset);
                link.frame_bytes = code->frame_bytes > 0 && code->frame_bytes < INT32_MAX
                                       ? (int32_t)code->frame_bytes
                                       : -1;
            }
        }
        j += j < old_count && old[j].frame == frame;
        callee_unchanged = matched;

        if (in_chunk) {
            /* Frames of one chunk are pushed upwards: the caller is below. */
            if (chunk_index != walked_chunk)
                previous_in_chunk = UINT64_MAX, callee_in_chunk = 0;
            walked_chunk = chunk_index;
            if (frame >= previous_in_chunk)
                return PYDBG_ECORRUPT;
            previous_in_chunk = frame;
        }

        if (link.emits) {
            /* Checked only now: a stack that ends in shim frames is not cut. */
            if (w->out->frame_count >= s->max_depth) {
                w->out->truncated = 1;
                break;
            }
            /* A callee is pushed right on top of its caller in a chunk. */
            if (callee_in_chunk && in_chunk && link.frame_bytes > 0 &&
                callee_in_chunk != frame + (uint64_t)link.frame_bytes)
                return PYDBG_ECORRUPT;
            /* The topmost frame of the current chunk ends where the stack ends:
             * a frame above is a popped one, one below leaves a gap. */
            if (in_chunk && chunk_index == 0 && !w->top_checked && link.frame_bytes > 0) {
                if (frame + (uint64_t)link.frame_bytes != w->top)
                    return PYDBG_ECORRUPT;
                w->top_checked = 1;
            }
            /* A caller of a Python frame has started (a frame just pushed sits
             * before its first instruction) and saved its stack for the call. */
            if (callee_is_python &&
                (!link.started || (l->iframe_state.stacktop >= 0 &&
                                   (int32_t)pydbg__load_u32(local, l->iframe_state.stacktop) < 0)))
                return PYDBG_ECORRUPT;
            if (in_chunk && chunk_index == 0 &&
                !verify_copy_agrees(w, frame, local, w->out->frame_count == 0))
                return PYDBG_ECORRUPT;
            rc = pydbg__sampler_reserve_frames(s, 64);
            if (rc != PYDBG_OK)
                return rc;
            emit(w, &link);
            callee_in_chunk = in_chunk ? frame : 0;
            callee_is_python = 1;
        } else {
            callee_in_chunk = 0;
            callee_is_python = 0;
        }
        /* Last: `local` may point into the buffers this grows. */
        if (!in_chunk && keep_outside(w, frame, local, !link.emits) != PYDBG_OK)
            return PYDBG_ENOMEM;
        rc = keep_link(w, link, matched && at == w->depth);
        if (rc != PYDBG_OK)
            return rc;
        old = track->links;
        w->depth++;
        frame = link.previous;
    }
    return PYDBG_OK;
}

/* ---- the fast check ------------------------------------------------------------------ */

/* Whether the thread's stack is the last one: the same first frame, stack top
 * and chunks, and every frame word for word (chain_check.h). */
static int chain_unchanged(walk *w)
{
    pydbg__thread_track *track = w->track;
    const pydbg__layout *l = w->l;
    uint64_t frame;
    if (track->check_count == 0 || w->chunk != track->check_chunk || w->top != track->check_top ||
        track->chunk != track->check_chunk || track->chunk_length != track->check_chunk_length ||
        track->older_count != track->check_older_count)
        return 0;
    if (pydbg__sample_needs_second_copy(l) && !track->verify_read && !track->quiet_read)
        return 0;
    if (track->quiet_read) {
        /* The current frame was not read: the thread state says where it is
         * (3.13+) or that it comes through the same cframe (3.11, 3.12), whose
         * current frame cannot change without a caller's words changing: a call
         * saves the caller's stack, a return clears the frame. */
        if (!cframe_model(l))
            frame = pydbg__load_u64(track->state, l->tstate.frame);
        else if (track->cframe && pydbg__load_u64(track->state, l->tstate.cframe) == track->cframe)
            frame = track->cframe_frame;
        else
            return 0;
        if (frame != track->check_first)
            return 0;
    } else if (first_frame(w, &frame) != PYDBG_OK || track->read_apart ||
               frame != track->check_first) {
        return 0;
    }
    return pydbg__chain_check_words(w->s, track);
}

int pydbg__sample_iframes(pydbg__sampler *s, pydbg__thread_track *track,
                          pydbg__sampled_thread *out)
{
    const pydbg__layout *l = &s->t->layout;
    walk w;
    int rc;
    memset(&w, 0, sizeof w);
    w.outside = s->outside_scratch;
    w.outside_shim = s->outside_shim_scratch;
    w.s = s;
    w.track = track;
    w.l = l;
    w.out = out;
    w.chunk = pydbg__load_u64(track->state, l->tstate.datastack_chunk);
    w.top = pydbg__load_u64(track->state, l->tstate.datastack_top);
    if (track->memo_generation != s->keys.generation) {
        track->link_count = 0; /* a code address changed hands: nothing memoised holds */
        track->check_count = 0;
        track->memo_generation = s->keys.generation;
    }
    if (chain_unchanged(&w)) {
        out->frames = track->check_frames;
        out->frame_count = track->check_frame_count;
        track->unchanged_run++;
        return PYDBG_OK;
    }
    track->unchanged_run = 0;
    if (track->quiet_read) {
        /* Read too little to walk: the sampler reads it again in full. */
        track->read_apart = 1;
        return PYDBG_OK;
    }
    rc = walk_chain(&w);
    if (rc == PYDBG_EREAD)
        rc = PYDBG_ECORRUPT;
    if (rc != PYDBG_OK) {
        track->frame_count = 0;
        track->link_count = 0;
        track->check_count = 0;
        return rc;
    }
    if (w.diverged) {
        pydbg__chain_link *swap = track->links;
        track->links = track->links_spare;
        track->links_spare = swap;
    }
    track->link_count = w.depth;
    {
        unsigned char *swap = track->outside_copy;
        track->outside_copy = track->outside_next;
        pydbg__chain_check_buffers_moved(track);
        track->outside_next = swap;
    }
    /* The frames met outside the chunk are the next sample's prediction. */
    if (w.outside_count) {
        void *frames = track->frames;
        rc = pydbg__grow_array(&frames, &track->frame_capacity, w.outside_count,
                               sizeof *track->frames);
        track->frames = frames;
        if (rc != PYDBG_OK) {
            track->frame_count = 0;
            track->check_count = 0;
            return rc;
        }
        memcpy(track->frames, w.outside, w.outside_count * sizeof *track->frames);
        memcpy(track->outside_shim, w.outside_shim, w.outside_count);
    }
    track->frame_count = w.outside_count;
    pydbg__chain_check_build(s, track, out);
    return PYDBG_OK;
}
