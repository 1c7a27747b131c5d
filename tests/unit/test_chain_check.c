/* The sampler's fast check (lib/sample/chain_check.c) on synthetic chains laid
 * out with the real 3.11 - 3.14 frame layouts.
 *
 * Its claim: a kept chain is found unchanged exactly when every word the walk's
 * checks depend on (code, caller, instruction, the word holding owner and
 * stacktop) reads as it did, in every frame; on 3.11 and 3.14, when also the
 * callers (not the top frame's instruction) read the same in the chunk's second
 * copy. So: a byte changed in any compared word of any frame is seen, a byte
 * changed elsewhere in a header is not, and a moved buffer disables the check.
 * The integration tests (tests/integration/sampling) check the sampler's results
 * against the stacks live interpreters record; this one checks the compare on
 * its own, byte by byte. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "layout/layout.h"
#include "layout/layout_handwritten.h"
#include "sample/chain_check.h"

#define FRAMES 40
#define FRAME_BYTES 136 /* not a multiple of 64: headers straddle cache lines */
#define CHUNK_BASE 0x7f0000010000ull
#define CHUNK_HEADER 24
#define CHUNK_SIZE (CHUNK_HEADER + FRAMES * FRAME_BYTES + 256)

typedef struct fixture {
    pydbg__target target;
    pydbg__sampler sampler;
    pydbg__thread_track track;
    pydbg__sampled_thread out;
    pydbg__sampled_frame frames[FRAMES];
    unsigned char chunk[CHUNK_SIZE];
    unsigned char again[CHUNK_SIZE];
    pydbg__chain_link links[FRAMES];
} fixture;

static int32_t max4(int32_t a, int32_t b, int32_t c, int32_t d)
{
    int32_t m = a > b ? a : b;
    m = m > c ? m : c;
    return m > d ? m : d;
}

static void put_u64(unsigned char *at, int32_t offset, uint64_t value)
{
    memcpy(at + offset, &value, sizeof value);
}

/* A chain of FRAMES frames in one chunk, innermost (highest) first, as a walk of
 * the sampler would have kept it; the chunk copied twice. */
static fixture *make(int minor)
{
    fixture *f = calloc(1, sizeof *f);
    /* 3.14 has no generated table: its layout comes from _Py_DebugOffsets on top
     * of the hand-written base the library uses. */
    const pydbg__layout *l =
        minor == 14 ? &pydbg__layout_3_14 : pydbg__layout_for_version(3, minor);
    pydbg__layout *layout;
    assert_non_null(f);
    assert_non_null(l);
    f->target.layout = *l;
    layout = &f->target.layout;
    f->sampler.t = &f->target;
    f->sampler.iframe_span = (size_t)max4(layout->iframe.previous, layout->iframe.executable,
                                          layout->iframe.instr_ptr, layout->iframe.owner) +
                             8;
    f->sampler.frames = f->frames;
    f->sampler.frame_capacity = FRAMES;
    pydbg__chain_check_setup(&f->sampler);

    for (size_t i = 0; i < sizeof f->chunk; i++)
        f->chunk[i] = (unsigned char)(i * 7 + 3); /* locals and padding: anything */
    for (int d = 0; d < FRAMES; d++) {
        /* depth d = 0 is the innermost frame, highest in the chunk */
        uint64_t offset = CHUNK_HEADER + (uint64_t)(FRAMES - 1 - d) * FRAME_BYTES;
        uint64_t frame = CHUNK_BASE + offset;
        unsigned char *at = f->chunk + offset;
        pydbg__chain_link *link = &f->links[d];
        link->frame = frame;
        link->code_word = 0x7f0000900000ull + (uint64_t)d * 0x1000;
        link->instr_word = link->code_word + 0x100 + (uint64_t)d * 2;
        link->previous = d + 1 < FRAMES ? frame - FRAME_BYTES : 0;
        link->owner = 0;
        link->emits = 1;
        link->in_chunk = 1;
        put_u64(at, layout->iframe.executable, link->code_word);
        put_u64(at, layout->iframe.previous, link->previous);
        put_u64(at, layout->iframe.instr_ptr, link->instr_word);
        at[layout->iframe.owner] = 0;
        f->frames[d].key = (uint64_t)d + 1;
        f->frames[d].line = 100 + d;
    }
    memcpy(f->again, f->chunk, sizeof f->chunk);

    f->track.links = f->links;
    f->track.link_count = FRAMES;
    f->track.link_capacity = FRAMES;
    f->track.chunk = CHUNK_BASE;
    f->track.chunk_copy = f->chunk;
    f->track.chunk_length = sizeof f->chunk;
    f->track.chunk_capacity = sizeof f->chunk;
    f->track.verify_copy = f->again;
    f->track.verify_capacity = sizeof f->again;
    f->track.verify_read = pydbg__sample_needs_second_copy(layout);
    put_u64(f->track.state, layout->tstate.datastack_top,
            f->links[0].frame + FRAME_BYTES);
    f->out.frame_count = FRAMES;
    f->out.first_frame = 0;
    pydbg__chain_check_build(&f->sampler, &f->track, &f->out);
    return f;
}

static void destroy(fixture *f)
{
    /* The track's arrays here are the fixture's own, but for what build made. */
    free(f->track.checks);
    free(f->track.check_frames);
    free(f);
}

/* The header words the walk depends on, as offsets in a frame header. */
static void compared_words(const pydbg__layout *l, int32_t words[4])
{
    words[0] = l->iframe.executable;
    words[1] = l->iframe.previous;
    words[2] = l->iframe.instr_ptr;
    words[3] = l->iframe.owner & ~7;
}

static int covered(const pydbg__layout *l, int32_t byte)
{
    int32_t words[4];
    compared_words(l, words);
    for (int w = 0; w < 4; w++)
        if (byte >= words[w] && byte < words[w] + 8)
            return 1;
    return 0;
}

static void check_version(int minor)
{
    fixture *f = make(minor);
    const pydbg__layout *l = &f->target.layout;
    size_t span = f->sampler.iframe_span;
    int32_t words[4];

    /* The windows cover every compared word, inside the bytes read of a header. */
    compared_words(l, words);
    assert_true(f->sampler.check_window_count >= 2);
    assert_true(f->sampler.check_window_count <= PYDBG__CHECK_WINDOWS);
    for (int w = 0; w < 4; w++) {
        int found = 0;
        for (int k = 0; k < f->sampler.check_window_count; k++) {
            const pydbg__check_window *win = &f->sampler.check_windows[k];
            unsigned char mask[16];
            memcpy(mask, win->mask, sizeof mask);
            assert_true(win->start >= 0 && (size_t)win->start + 16 <= span);
            if (words[w] >= win->start && words[w] + 8 <= win->start + 16 &&
                memcmp(mask + (words[w] - win->start), "\xff\xff\xff\xff\xff\xff\xff\xff",
                       8) == 0)
                found = 1; /* compared here (a word in two windows is compared once) */
        }
        assert_true(found);
    }

    /* The layouts of 3.11 - 3.13 get the compare loops written for them (so
     * the flips below test those loops, not the general one). */
    if (minor == 11)
        assert_int_equal(f->sampler.check_shape, PYDBG__CHECK_SHAPE_WORD_PAIR_WORD);
    else if (minor == 12 || minor == 13)
        assert_int_equal(f->sampler.check_shape, PYDBG__CHECK_SHAPE_PAIRS);

    /* Kept, and found unchanged as it is. */
    assert_int_equal(f->track.check_count, FRAMES);
    assert_int_equal(f->track.check_frame_count, FRAMES);
    assert_memory_equal(f->track.check_frames, f->frames, sizeof f->frames);
    assert_true(pydbg__chain_check_words(&f->sampler, &f->track));

    /* Any byte of any compared word of any frame, changed, is seen; any other
     * byte of the headers is not. */
    for (int d = 0; d < FRAMES; d++) {
        unsigned char *at = f->chunk + (f->links[d].frame - CHUNK_BASE);
        for (int32_t b = 0; b < (int32_t)span; b++) {
            at[b] ^= 0x40;
            assert_int_equal(pydbg__chain_check_words(&f->sampler, &f->track), !covered(l, b));
            at[b] ^= 0x40;
        }
    }
    assert_true(pydbg__chain_check_words(&f->sampler, &f->track));

    /* 3.11, 3.14: the second copy too, where the callers must hold still; the top
     * frame's instruction may move between the copies, nothing else may. */
    if (f->track.verify_read) {
        for (int d = 0; d < FRAMES; d++) {
            unsigned char *at = f->again + (f->links[d].frame - CHUNK_BASE);
            at[l->iframe.instr_ptr] ^= 1;
            assert_int_equal(pydbg__chain_check_words(&f->sampler, &f->track), d == 0);
            at[l->iframe.instr_ptr] ^= 1;
            at[l->iframe.executable] ^= 1;
            assert_false(pydbg__chain_check_words(&f->sampler, &f->track));
            at[l->iframe.executable] ^= 1;
        }
        /* A quiet read takes no second copy: the kept words alone decide. */
        f->track.verify_read = 0;
        f->again[f->links[3].frame - CHUNK_BASE + l->iframe.executable] ^= 1;
        assert_true(pydbg__chain_check_words(&f->sampler, &f->track));
    }

    /* Copy buffers that moved since the chain was kept: no check. */
    pydbg__chain_check_buffers_moved(&f->track);
    assert_false(pydbg__chain_check_words(&f->sampler, &f->track));
    destroy(f);
}

static void test_311(void **state)
{
    (void)state;
    check_version(11);
}

static void test_312(void **state)
{
    (void)state;
    check_version(12);
}

static void test_313(void **state)
{
    (void)state;
    check_version(13);
}

static void test_314(void **state)
{
    (void)state;
    check_version(14);
}

/* A chain the walk cut at the depth limit, or read partly on its own, is not kept. */
static void test_not_kept(void **state)
{
    fixture *f = make(12);
    (void)state;
    f->out.truncated = 1;
    pydbg__chain_check_build(&f->sampler, &f->track, &f->out);
    assert_int_equal(f->track.check_count, 0);
    f->out.truncated = 0;
    f->track.read_apart = 1;
    pydbg__chain_check_build(&f->sampler, &f->track, &f->out);
    assert_int_equal(f->track.check_count, 0);
    /* A kept word that no longer matches the link the walk accepted. */
    f->track.read_apart = 0;
    f->links[5].instr_word ^= 2;
    pydbg__chain_check_build(&f->sampler, &f->track, &f->out);
    assert_int_equal(f->track.check_count, 0);
    destroy(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_311), cmocka_unit_test(test_312), cmocka_unit_test(test_313),
        cmocka_unit_test(test_314), cmocka_unit_test(test_not_kept),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
