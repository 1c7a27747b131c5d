/* The sampler's choice of which code keys to revalidate first
 * (pydbg__sampler_reported_key, lib/sample/sampler.c): going round the last
 * sample's frames, every key a stack shows comes up within one round of the
 * key runs (a recursion is one run), whatever the stacks. That is what bounds
 * how long a code object replaced at the same address can be reported under
 * its old name: by the keys in the stacks, not by every key ever seen. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "sample/sampler.h"

#define MAX_THREADS 8
#define MAX_FRAMES 64

typedef struct stacks {
    pydbg__sampled_thread threads[MAX_THREADS];
    pydbg__sampled_frame frames[MAX_THREADS][MAX_FRAMES];
    size_t count;
} stacks;

/* A thread with the given keys (none: a torn thread, no frames). */
static void add_thread(stacks *s, const uint64_t *keys, size_t n)
{
    pydbg__sampled_thread *t = &s->threads[s->count];
    memset(t, 0, sizeof *t);
    for (size_t i = 0; i < n; i++)
        s->frames[s->count][i].key = keys[i];
    t->frame_count = n;
    t->frames = n ? s->frames[s->count] : NULL;
    s->count++;
}

static void test_no_frames(void **state)
{
    stacks s = {0};
    size_t cursor = 7;
    (void)state;
    assert_int_equal(pydbg__sampler_reported_key(s.threads, 0, &cursor), 0);
    add_thread(&s, NULL, 0);
    s.threads[0].frame_count = 3; /* torn: a count but no frames */
    assert_int_equal(pydbg__sampler_reported_key(s.threads, s.count, &cursor), 0);
}

static void test_runs_in_order(void **state)
{
    stacks s = {0};
    const uint64_t a[] = {5, 5, 5, 7}, c[] = {9};
    size_t cursor = 0;
    (void)state;
    add_thread(&s, a, 4);
    add_thread(&s, NULL, 0);
    add_thread(&s, c, 1);
    for (int round = 0; round < 3; round++) {
        assert_int_equal(pydbg__sampler_reported_key(s.threads, s.count, &cursor), 5);
        assert_int_equal(pydbg__sampler_reported_key(s.threads, s.count, &cursor), 7);
        assert_int_equal(pydbg__sampler_reported_key(s.threads, s.count, &cursor), 9);
    }
    cursor = 1000003; /* left by a sample with more frames */
    uint64_t key = pydbg__sampler_reported_key(s.threads, s.count, &cursor);
    assert_true(key == 5 || key == 7 || key == 9);
}

static void test_one_key(void **state)
{
    stacks s = {0};
    const uint64_t a[] = {4, 4, 4}, b[] = {4};
    size_t cursor = 0;
    (void)state;
    add_thread(&s, a, 3);
    add_thread(&s, b, 1);
    for (int i = 0; i < 10; i++)
        assert_int_equal(pydbg__sampler_reported_key(s.threads, s.count, &cursor), 4);
}

/* Random stacks: every key shown comes up within as many picks as there are runs. */
static void test_every_key_within_a_round(void **state)
{
    uint64_t seed = 0x9e3779b97f4a7c15ull;
    (void)state;
    for (int trial = 0; trial < 2000; trial++) {
        stacks s = {0};
        size_t threads = 1 + (size_t)((seed >> 33) % MAX_THREADS), runs = 0, cursor;
        uint64_t last = 0, shown[MAX_THREADS * MAX_FRAMES];
        size_t shown_count = 0;
        for (size_t t = 0; t < threads; t++) {
            uint64_t keys[MAX_FRAMES];
            size_t n;
            seed = seed * 6364136223846793005ull + 1442695040888963407ull;
            n = (size_t)((seed >> 40) % (MAX_FRAMES + 1)) / (t % 3 == 2 ? 8 : 1);
            for (size_t i = 0; i < n; i++) {
                seed = seed * 6364136223846793005ull + 1442695040888963407ull;
                /* few distinct keys, in runs, as recursions make them */
                keys[i] = (seed >> 60) < 10 && i ? keys[i - 1] : 1 + (seed >> 59) % 12;
            }
            add_thread(&s, keys, n);
            for (size_t i = 0; i < n; i++) {
                int seen = 0;
                runs += keys[i] != last;
                last = keys[i];
                for (size_t k = 0; k < shown_count; k++)
                    seen |= shown[k] == keys[i];
                if (!seen)
                    shown[shown_count++] = keys[i];
            }
        }
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        cursor = (size_t)(seed >> 20);
        for (size_t k = 0; k < shown_count; k++) {
            int picked = 0;
            size_t c = cursor;
            for (size_t i = 0; i < runs + 1 && !picked; i++)
                picked = pydbg__sampler_reported_key(s.threads, s.count, &c) == shown[k];
            assert_true(picked);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_frames),
        cmocka_unit_test(test_runs_in_order),
        cmocka_unit_test(test_one_key),
        cmocka_unit_test(test_every_key_within_a_round),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
