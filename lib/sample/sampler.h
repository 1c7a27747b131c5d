/* The sampling engine behind pydbg_sampler (see pydebug/sample.h).
 *
 * One sample reads, in a single scattered read, what the previous sample
 * predicts: for each known thread its thread state and either the used part
 * of its data stack chunk (3.11+, see iframes.c) or the frame objects it had
 * (2.7 - 3.10, read twice), plus the GIL holder when asked. The prediction is
 * then checked against what was read; a thread whose prediction missed is read
 * again on its own, and a thread list that changed is re-read in full. */
#ifndef PYDBG_SAMPLE_SAMPLER_H
#define PYDBG_SAMPLE_SAMPLER_H

#include <stddef.h>
#include <stdint.h>

#include "sample/code_keys.h"
#include "walk/code_cache.h"
#include "walk/target.h"

typedef struct pydbg__sampled_frame {
    uint64_t key;
    int line;
} pydbg__sampled_frame;

typedef struct pydbg__sampled_thread {
    uint64_t ident;
    const char *name; /* in the sampler's name arena, or NULL */
    int64_t native_id;
    int holds_gil, state, error, truncated;
    size_t first_frame, frame_count; /* into the sample's frame array */
    /* Its frames: in the sample's frame array from first_frame, or the thread's
     * kept ones when the fast check found its stack unchanged (set when the
     * sample is done: the array may move while it is made). */
    const pydbg__sampled_frame *frames;
} pydbg__sampled_thread;

/* 2.7 - 3.10: what a frame at one depth decoded to in the last sample: when
 * the same frame runs the same code at the same instruction, its key and line
 * are reused without a lookup. */
typedef struct pydbg__frame_memo {
    uint64_t frame, code, instruction;
    uint64_t key;
    int64_t frame_bytes;
    int line;
} pydbg__frame_memo;

/* 3.11+: one link of a thread's frame chain as the last sample decoded it,
 * innermost first. A frame read again at the same address with the same
 * code, instruction, caller and owner is the same frame at the same point:
 * its key and line are reused and the checks it passed are not run again
 * (see iframes.c). */
typedef struct pydbg__chain_link {
    uint64_t frame, code_word, instr_word, previous;
    uint64_t key;
    int32_t line;
    int32_t frame_bytes; /* size in the data stack, -1 if unknown */
    uint8_t owner;
    uint8_t in_chunk;    /* in the thread's current chunk (else an older one or outside) */
    uint8_t emits;       /* a Python call of the stack, not a shim frame */
    uint8_t started;     /* past its first instruction: it may be calling */
} pydbg__chain_link;

/* 3.11+: one frame of a chain the fast check compares (chain_check.h). */
#define PYDBG__CHECK_WINDOWS 3
typedef struct pydbg__link_check {
    _Alignas(16) uint64_t window[PYDBG__CHECK_WINDOWS][2]; /* the header words compared */
    const unsigned char *at;   /* its copy in the sample's buffers */
    uint32_t chunk_offset;     /* in the current chunk, for its second copy */
    uint16_t verify;           /* PYDBG__VERIFY_* */
    uint16_t unused;
} pydbg__link_check;          /* one cache line */

#define PYDBG__VERIFY_HEADER 1u      /* 3.11, 3.14: its second copy must match */
#define PYDBG__VERIFY_INSTRUCTION 2u /* ... its instruction too (not the top frame) */

/* The windows' shapes the fast check has a loop of its own for. */
#define PYDBG__CHECK_SHAPE_MASKED 0 /* any: every window compared under its mask */
#define PYDBG__CHECK_SHAPE_PAIRS 1  /* 3.12, 3.13: two windows of two words each */
#define PYDBG__CHECK_SHAPE_WORD_PAIR_WORD 2 /* 3.11: a word, two words, a word */

/* Where the fast check reads a frame header: 16 bytes at `start`, the bytes
 * that matter set in `mask`. */
typedef struct pydbg__check_window {
    int32_t start;
    uint64_t mask[2];
    uint64_t mask_top[2]; /* the same without the instruction (verify, top frame) */
} pydbg__check_window;

/* A copy of an older data stack chunk (3.11+): deep stacks span several. */
typedef struct pydbg__chunk_copy {
    uint64_t base, length, previous;
    unsigned char *copy;
    size_t capacity;
} pydbg__chunk_copy;

#define PYDBG__MAX_OLDER_CHUNKS 4096u
/* 3.11+: frames outside the data stack remembered per thread for the next sample. */
#define PYDBG__MAX_OUTSIDE_FRAMES 256u

/* What the sampler remembers about one thread between samples. */
typedef struct pydbg__thread_track {
    uint64_t tstate, interp, ident;
    const char *name;               /* threading.Thread name when the list was read */
    int64_t native_id;
    int is_main;
    /* The thread state as read by the sample: 2.7 - 3.10 and 3.13+ before the
     * stack, 3.11 and 3.12 after it (their current frame is read before). */
    unsigned char state[512];
    unsigned char state_after[512]; /* 3.13+: read again after the stack */
    uint64_t chunk, chunk_length;   /* 3.11+: the chunk region read */
    unsigned char *chunk_copy;      /* one page into chunk_block */
    size_t chunk_capacity;
    /* chunk_copy's allocation, a page longer in front: a quiet read lands the
     * thread state at the end of that page, right before the chunk, so that the
     * two take one local iovec (pydbg__sample_iframes_landed copies it out). */
    unsigned char *chunk_block;
    const unsigned char *state_landed; /* where this sample's thread state landed, or NULL */
    /* 3.11, 3.14: the chunk region read a second time, right after the first, to
     * see that the callers in it held still (versions without a calling state
     * in their frames, see pydbg__layout.iframe_state). */
    unsigned char *verify_copy;
    size_t verify_capacity;
    int verify_read;                /* this sample's read filled verify_copy */
    pydbg__chunk_copy *older;       /* 3.11+: the chunks below the current one */
    size_t older_count, older_capacity;
    uint64_t cframe;                /* 3.11, 3.12: where tstate->cframe pointed */
    uint64_t cframe_frame;          /* ... and its current frame, read before the stack */
    int read_apart;                 /* this sample read part of the stack on its own */
    uint64_t top_after_frame;       /* 2.7 - 3.10: the predicted top frame whose caller is */
    uint64_t top_back_after;        /* ... read again after its copies (its f_back), 0 none */
    uint64_t bottom;                /* 2.7 - 3.10: the outermost frame last accepted */
    uint64_t bottom_candidate;      /* ... and a new one seen once */
    uint64_t *frames;               /* frame addresses of the last sample: every frame
                                     * (2.7 - 3.10), or those outside the chunk (3.11+:
                                     * generators, entry frames on the C stack) */
    size_t frame_count, frame_capacity;
    /* 3.11+: the frames[] as last read, and for each whether it is a shim frame
     * (written once when a C call enters the interpreter and left alone while
     * it lives: read again only every so often) and whether this sample's plan
     * read it. */
    unsigned char *outside_copy, *outside_next;
    uint8_t *outside_shim, *outside_fresh;
    size_t outside_capacity;        /* frames the four arrays above can hold */
    unsigned since_outside_read;    /* samples since the shim frames were last read */
    int stat_fd;                    /* /proc/PID/task/TID/stat, -1 if not open */
    pydbg__frame_memo *memo;        /* 2.7 - 3.10: by depth, innermost first */
    size_t memo_capacity;
    uint64_t memo_generation;       /* pydbg__code_keys.generation the memos were made at */
    pydbg__chain_link *links, *links_spare; /* 3.11+: the last chain, and room for the next */
    size_t link_count, link_capacity;
    /* 3.11+: the last chain as a flat list of words to compare (the fast check,
     * iframes.c), valid when check_count > 0, and the frames it emitted. */
    pydbg__link_check *checks;
    size_t check_count, check_capacity;
    uint64_t check_first, check_top, check_chunk, check_chunk_length;
    size_t check_older_count;
    uint64_t buffer_epoch, check_epoch; /* the copy buffers moved since the checks were kept */
    pydbg__sampled_frame *check_frames;
    size_t check_frame_count, check_frames_capacity;
    unsigned unchanged_run;         /* samples in a row the fast check accepted */
    int quiet_read;                 /* this sample read the thread as quiet (iframes.c) */
} pydbg__thread_track;

typedef struct pydbg__sampler {
    pydbg__target *t;
    uint32_t flags;
    size_t max_depth;
    pydbg__code_keys keys;

    pydbg__thread_track *tracks;
    size_t track_count, track_capacity;
    size_t tstate_span, iframe_span; /* bytes read of a thread state and of a frame header */
    pydbg__check_window check_windows[PYDBG__CHECK_WINDOWS]; /* 3.11+ (chain_check.c) */
    int check_window_count;
    int check_shape; /* PYDBG__CHECK_SHAPE_*: which loop compares the windows */
    /* PYDBG__CHECK_SHAPE_WORD_PAIR_WORD: where the lone words of windows 0 and 2
     * are in a header, and which half of their windows keeps them. */
    int32_t check_lone_at[2];
    int check_lone_half[2];
    struct pydbg__sample_plan *plan; /* the scattered read being made (sampler.c) */
    /* 3.11+: the frames a walk meets outside the data stack (iframes.c). */
    uint64_t *outside_scratch;
    uint8_t *outside_shim_scratch;
    /* 2.7 - 3.10: what a walk saw of each frame, for checking frames read alone. */
    void *seen;
    size_t seen_capacity;
    uint64_t interp_head_value; /* first interpreter, as last read */
    uint64_t gil_address;       /* where the GIL holder is read, 0 if unknown */
    int gil_model_per_interp;

    /* The current sample. */
    pydbg__sampled_thread *threads;
    size_t thread_count, thread_capacity;
    pydbg__sampled_frame *frames;
    size_t frame_count, frame_capacity;

    /* Scratch for a thread read again on its own (2.7 - 3.10). */
    unsigned char *retry_buffer;
    size_t retry_capacity;

    /* Scratch for the frames a walk read one by one, read again together (2.7 - 3.10). */
    unsigned char *verify_buffer;
    size_t verify_capacity;

    /* Scratch for merged small reads. */
    unsigned char *merge_buffer;
    size_t merge_capacity;

    /* Scratch for 2.7 - 3.10 frame reads. */
    unsigned char *frame_buffer;
    size_t frame_buffer_capacity;

    int refresh_due; /* re-read the thread list before the next sample */
    /* The cached code object this sample checks again (see REVALIDATE_EVERY in
     * sampler.c): its header is read with the sample's own read when it can be. */
    pydbg__code_key *revalidate_entry;
    uint64_t revalidations;      /* chosen so far: every other one is a reported key */
    size_t revalidate_reported;  /* where pydbg__sampler_reported_key goes on from */
    int revalidate_landed; /* its header is in revalidate_header */
    int revalidate_apart;  /* not with the sample's read: it failed with it */
    unsigned char revalidate_header[PYDBG__CODE_HEADER_MAX];
    pydbg__arena names; /* the tracks' names, replaced when the list is read */
    uint64_t samples, torn, thread_samples;
    pydbg__error error;
} pydbg__sampler;

int pydbg__sampler_init(pydbg__sampler *s, pydbg__target *t, uint32_t flags, size_t max_depth);
void pydbg__sampler_destroy(pydbg__sampler *s);
int pydbg__sampler_sample(pydbg__sampler *s);

/* ---- between the sampler's own files ---- */

/* The code key for a frame, checking that the instruction lies in the code:
 * an address reused by another code object usually fails that check. */
int pydbg__sampler_code_for(pydbg__sampler *s, uint64_t code_address, int64_t offset,
                            pydbg__code_key **out);

/* Room for `more` frames in the sample's frame array. */
int pydbg__sampler_reserve_frames(pydbg__sampler *s, size_t more);

/* The next code key that the last sample reported, going round its threads' frames
 * from `*cursor` and past repeats of the key just before (a recursion is one key), or
 * 0 when it reported none. Revalidating these first bounds how long a replaced code
 * object can go on being reported by its old name by the keys in the stacks, not by
 * every key ever seen. */
uint64_t pydbg__sampler_reported_key(const pydbg__sampled_thread *threads, size_t count,
                                     size_t *cursor);

/* 3.11+ (iframes.c): decodes one thread's stack from what the sample read,
 * reading on its own what was not predicted, and keeps the prediction for the
 * next sample. PYDBG_ECORRUPT: torn. */
int pydbg__sample_iframes(pydbg__sampler *s, pydbg__thread_track *track,
                          pydbg__sampled_thread *out);

/* 3.11+: the pieces of one thread's stack in the order they must be read. */
typedef int (*pydbg__add_piece_fn)(void *plan, uint64_t address, void *buffer, size_t length);
void pydbg__sample_iframe_pieces(pydbg__sampler *s, pydbg__thread_track *track,
                                 pydbg__add_piece_fn add, void *plan);

/* 3.11+: after the read, puts the thread state where the rest of the sample
 * looks for it (track->state) if it landed elsewhere (see chunk_block). */
void pydbg__sample_iframes_landed(const pydbg__sampler *s, pydbg__thread_track *track);

/* 3.11+: whether the stack read held still while it was copied (the first
 * reading of a sample; a thread that did not is read again on its own). */
int pydbg__sample_iframes_held_still(const pydbg__sampler *s, const pydbg__thread_track *track);

/* 3.11+: makes sure the track's buffers can hold what its pieces read. */
int pydbg__sample_iframes_prepare(pydbg__sampler *s, pydbg__thread_track *track);

void pydbg__sample_iframes_release(pydbg__thread_track *track);

/* 3.11+: the local copy of [frame, frame + span) from the current chunk (index
 * 0) or an older one (index j + 1), or NULL. */
const unsigned char *pydbg__sample_chunk_lookup(const pydbg__thread_track *track, uint64_t frame,
                                                size_t span, size_t *index);

/* 3.11, 3.14: versions whose frames do not tell a calling frame from a running
 * one; their chunk is copied twice to see that the callers held still. */
static inline int pydbg__sample_needs_second_copy(const pydbg__layout *l)
{
    return l->iframe_state.stacktop < 0;
}

#endif
