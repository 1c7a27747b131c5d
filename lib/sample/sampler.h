/* The sampling engine behind pydbg_sampler (see pydebug/sample.h).
 *
 * One sample reads, in a single scattered read, what the previous sample
 * predicts: for each known thread its thread state and either the used part
 * of its data stack chunk (3.11+) or the frame objects it had (2.7 - 3.10),
 * plus the GIL holder. The prediction is then checked against what was read;
 * a thread whose prediction missed is read again on its own, and a thread
 * list that changed is re-read in full. */
#ifndef PYDBG_SAMPLE_SAMPLER_H
#define PYDBG_SAMPLE_SAMPLER_H

#include <stddef.h>
#include <stdint.h>

#include "sample/code_keys.h"
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
} pydbg__sampled_thread;

/* What the sampler remembers about one thread between samples. */
/* What a frame at one depth decoded to in the last sample: when the same frame
 * runs the same code at the same instruction, its key and line are reused
 * without a lookup. */
typedef struct pydbg__frame_memo {
    uint64_t frame, code, instruction;
    uint64_t key;
    int64_t frame_bytes;
    int line;
} pydbg__frame_memo;

/* A copy of an older data stack chunk (3.11+): deep stacks span several. */
typedef struct pydbg__chunk_copy {
    uint64_t base, length, previous;
    unsigned char *copy;
    size_t capacity;
} pydbg__chunk_copy;

#define PYDBG__MAX_OLDER_CHUNKS 4096u

typedef struct pydbg__thread_track {
    uint64_t tstate, interp, ident;
    const char *name;               /* threading.Thread name when the list was read */
    int64_t native_id;
    int is_main;
    unsigned char state[512];       /* the thread state as last read */
    unsigned char state_after[512]; /* 3.11+: read again after the stack */
    uint64_t chunk, chunk_length;   /* 3.11+: the chunk region read */
    unsigned char *chunk_copy;
    size_t chunk_capacity;
    pydbg__chunk_copy *older;       /* 3.11+: the chunks below the current one */
    size_t older_count, older_capacity;
    uint64_t cframe;                /* 3.11, 3.12: where tstate->cframe pointed */
    uint64_t cframe_frame;          /* ... and what it held */
    uint64_t cframe_frame_after;    /* ... read again after the stack */
    int read_apart;                 /* this sample read part of the stack on its own */
    uint64_t bottom;                /* 2.7 - 3.10: the outermost frame last accepted */
    uint64_t bottom_candidate;      /* ... and a new one seen once */
    uint64_t *frames;               /* frame addresses of the last sample: every frame
                                     * (2.7 - 3.10), or those outside the chunk (3.11+:
                                     * generators, entry frames on the C stack) */
    size_t frame_count, frame_capacity;
    unsigned char *outside_copy;    /* 3.11+: the frames[] as read by the last plan */
    size_t outside_capacity;
    int stat_fd;                    /* /proc/PID/task/TID/stat, -1 if not open */
    pydbg__frame_memo *memo;        /* by depth, innermost first */
    size_t memo_capacity;
} pydbg__thread_track;

typedef struct pydbg__sampler {
    pydbg__target *t;
    uint32_t flags;
    size_t max_depth;
    pydbg__code_keys keys;

    pydbg__thread_track *tracks;
    size_t track_count, track_capacity;
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

    /* Scratch for merged small reads. */
    unsigned char *merge_buffer;
    size_t merge_capacity;

    /* Scratch for 2.7 - 3.10 frame reads. */
    unsigned char *frame_buffer;
    size_t frame_buffer_capacity;

    int refresh_due; /* re-read the thread list before the next sample */
    pydbg__arena names; /* the tracks' names, replaced when the list is read */
    uint64_t samples, torn, thread_samples;
    pydbg__error error;
} pydbg__sampler;

int pydbg__sampler_init(pydbg__sampler *s, pydbg__target *t, uint32_t flags, size_t max_depth);
void pydbg__sampler_destroy(pydbg__sampler *s);
int pydbg__sampler_sample(pydbg__sampler *s);

#endif
