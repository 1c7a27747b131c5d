/* The sampler's fast check (3.11+): is a thread's frame chain, word for word,
 * the one the last sample decoded?
 *
 * After a walk accepts a chain, the words of each frame that the walk's
 * checks depend on (code, caller, instruction, and the word holding owner and,
 * on 3.12/3.13, stacktop) are kept with where the frame's copy lands in the
 * next sample's buffers. When they all read the same again, in the same
 * places, under the same stack top and first frame, the walk would meet the
 * same frames and pass the same checks: the last result stands, without a
 * walk. The compare is branch-free and reads each header in 16-byte windows
 * (8-byte words where a window would hold only one, as on 3.11): under a
 * nanosecond per frame, most of it waiting for lines the kernel's copy left
 * outside L1 (it copies whole pages with stores that go around it). */
#ifndef PYDBG_SAMPLE_CHAIN_CHECK_H
#define PYDBG_SAMPLE_CHAIN_CHECK_H

#include "sample/sampler.h"

/* Chooses the windows of a frame header the check compares (at sampler init). */
void pydbg__chain_check_setup(pydbg__sampler *s);

/* Keeps the chain the walk just accepted for `out` (its frames are the last
 * out->frame_count of the sample), or none when a frame of it cannot be placed. */
void pydbg__chain_check_build(pydbg__sampler *s, pydbg__thread_track *track,
                              const pydbg__sampled_thread *out);

/* Whether every kept frame reads as it did, in this sample's copies (the chunk,
 * its second copy on 3.11 and 3.14, older chunks and frames outside). The
 * caller checks the first frame, stack top and chunk. */
int pydbg__chain_check_words(const pydbg__sampler *s, const pydbg__thread_track *track);

/* The thread's copy buffers moved: the kept places are stale. */
static inline void pydbg__chain_check_buffers_moved(pydbg__thread_track *track)
{
    track->buffer_epoch++;
}

#endif
