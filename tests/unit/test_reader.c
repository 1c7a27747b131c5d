/* Memory readers: the buffer reader against its own regions, and the process
 * reader against a forked child whose memory holds known bytes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "mem/reader.h"
#include "pydebug/errors.h"

/* ---- buffer reader -------------------------------------------------------------- */

static void test_buffer_read_inside_and_outside(void **state)
{
    (void)state;
    pydbg__reader *r;
    unsigned char image[64];
    unsigned char out[64];
    for (size_t i = 0; i < sizeof image; i++)
        image[i] = (unsigned char)(i * 7 + 1);
    assert_int_equal(pydbg__reader_open_buffer(&r), PYDBG_OK);
    assert_int_equal(pydbg__reader_buffer_add(r, 0x1000, image, sizeof image), PYDBG_OK);

    assert_int_equal(pydbg__read(r, 0x1000, out, 64), PYDBG_OK);
    assert_memory_equal(out, image, 64);
    assert_int_equal(pydbg__read(r, 0x1010, out, 16), PYDBG_OK);
    assert_memory_equal(out, image + 16, 16);
    /* One byte before, one byte after, straddling the end. */
    assert_int_equal(pydbg__read(r, 0xfff, out, 1), PYDBG_EREAD);
    assert_int_equal(pydbg__read(r, 0x1040, out, 1), PYDBG_EREAD);
    assert_int_equal(pydbg__read(r, 0x1039, out, 8), PYDBG_EREAD);
    /* An address near the top of the space must not wrap into the region. */
    assert_int_equal(pydbg__read(r, UINT64_MAX - 3, out, 8), PYDBG_EREAD);
    /* Length 0 succeeds anywhere. */
    assert_int_equal(pydbg__read(r, 0xdead0000, out, 0), PYDBG_OK);
    pydbg__reader_destroy(r);
}

static void test_buffer_copy_is_private(void **state)
{
    (void)state;
    pydbg__reader *r;
    unsigned char image[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    unsigned char out[8];
    assert_int_equal(pydbg__reader_open_buffer(&r), PYDBG_OK);
    assert_int_equal(pydbg__reader_buffer_add(r, 0x10, image, sizeof image), PYDBG_OK);
    memset(image, 0, sizeof image);
    assert_int_equal(pydbg__read(r, 0x10, out, 8), PYDBG_OK);
    assert_int_equal(out[0], 1);
    assert_int_equal(out[7], 8);
    pydbg__reader_destroy(r);
}

static void test_buffer_read_ptr_little_endian(void **state)
{
    (void)state;
    pydbg__reader *r;
    const unsigned char bytes[8] = {0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11};
    uint64_t value = 0;
    assert_int_equal(pydbg__reader_open_buffer(&r), PYDBG_OK);
    assert_int_equal(pydbg__reader_buffer_add(r, 0x7f0000001000, bytes, 8), PYDBG_OK);
    assert_int_equal(pydbg__read_ptr(r, 0x7f0000001000, &value), PYDBG_OK);
    assert_true(value == UINT64_C(0x1122334455667788));
    assert_int_equal(pydbg__read_ptr(r, 0x7f0000001001, &value), PYDBG_EREAD);
    pydbg__reader_destroy(r);
}

static void test_buffer_regions_and_partial(void **state)
{
    (void)state;
    pydbg__reader *r;
    unsigned char a[16], b[16], c[16], out[64];
    size_t got = 99;
    memset(a, 'a', sizeof a);
    memset(b, 'b', sizeof b);
    memset(c, 'c', sizeof c);
    assert_int_equal(pydbg__reader_open_buffer(&r), PYDBG_OK);
    assert_int_equal(pydbg__reader_buffer_add(r, 0x100, a, 16), PYDBG_OK);
    assert_int_equal(pydbg__reader_buffer_add(r, 0x110, b, 16), PYDBG_OK); /* adjacent */
    assert_int_equal(pydbg__reader_buffer_add(r, 0x200, c, 16), PYDBG_OK);

    /* A full read may not span two regions, even adjacent ones. */
    assert_int_equal(pydbg__read(r, 0x108, out, 16), PYDBG_EREAD);
    /* A partial read does continue into an adjacent region, then stops. */
    assert_int_equal(pydbg__read_partial(r, 0x108, out, 64, &got), PYDBG_OK);
    assert_int_equal(got, 24);
    assert_memory_equal(out, a, 8);
    assert_memory_equal(out + 8, b, 16);
    assert_int_equal(pydbg__read_partial(r, 0x204, out, 4, &got), PYDBG_OK);
    assert_int_equal(got, 4);
    assert_int_equal(pydbg__read_partial(r, 0x300, out, 4, &got), PYDBG_EREAD);
    assert_int_equal(got, 0);
    assert_int_equal(pydbg__read_partial(r, 0x300, out, 0, &got), PYDBG_OK);
    assert_int_equal(got, 0);

    /* A later region overrides an earlier one where they overlap. */
    {
        const unsigned char patch[2] = {'X', 'Y'};
        assert_int_equal(pydbg__reader_buffer_add(r, 0x104, patch, 2), PYDBG_OK);
        assert_int_equal(pydbg__read(r, 0x104, out, 2), PYDBG_OK);
        assert_memory_equal(out, "XY", 2);
        assert_int_equal(pydbg__read(r, 0x100, out, 8), PYDBG_OK);
        assert_memory_equal(out, "aaaaaaaa", 8);
    }
    pydbg__reader_destroy(r);
}

static void test_buffer_read_many(void **state)
{
    (void)state;
    pydbg__reader *r;
    unsigned char image[32];
    unsigned char x[4], y[8], z[4];
    for (size_t i = 0; i < sizeof image; i++)
        image[i] = (unsigned char)i;
    assert_int_equal(pydbg__reader_open_buffer(&r), PYDBG_OK);
    assert_int_equal(pydbg__reader_buffer_add(r, 0x5000, image, sizeof image), PYDBG_OK);
    {
        pydbg__read_piece pieces[3] = {
            {0x5000, x, 4}, {0x5010, y, 8}, {0x501c, z, 4}};
        uint64_t before = r->read_calls;
        assert_int_equal(pydbg__read_many(r, pieces, 3), PYDBG_OK);
        assert_int_equal(r->read_calls - before, 1);
        assert_memory_equal(x, image, 4);
        assert_memory_equal(y, image + 16, 8);
        assert_memory_equal(z, image + 28, 4);
    }
    {
        pydbg__read_piece pieces[2] = {{0x5000, x, 4}, {0x501e, z, 4}};
        assert_int_equal(pydbg__read_many(r, pieces, 2), PYDBG_EREAD);
        assert_int_equal(pydbg__reader_read_many_loop(r, pieces, 2), PYDBG_EREAD);
        pieces[1].address = 0x5004;
        assert_int_equal(pydbg__reader_read_many_loop(r, pieces, 2), PYDBG_OK);
        assert_memory_equal(z, image + 4, 4);
    }
    pydbg__reader_destroy(r);
}

static void test_buffer_bad_arguments(void **state)
{
    (void)state;
    pydbg__reader *r;
    unsigned char byte = 0;
    assert_int_equal(pydbg__reader_open_buffer(NULL), PYDBG_EINVAL);
    assert_int_equal(pydbg__reader_open_buffer(&r), PYDBG_OK);
    assert_int_equal(pydbg__reader_buffer_add(r, UINT64_MAX, &byte, 2), PYDBG_EINVAL);
    assert_int_equal(pydbg__reader_buffer_add(r, 0x10, NULL, 2), PYDBG_EINVAL);
    assert_int_equal(pydbg__reader_buffer_add(r, UINT64_MAX, &byte, 1), PYDBG_OK);
    assert_int_equal(pydbg__read(r, UINT64_MAX, &byte, 1), PYDBG_OK);
    pydbg__reader_destroy(r);
    pydbg__reader_destroy(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buffer_read_inside_and_outside),
        cmocka_unit_test(test_buffer_copy_is_private),
        cmocka_unit_test(test_buffer_read_ptr_little_endian),
        cmocka_unit_test(test_buffer_regions_and_partial),
        cmocka_unit_test(test_buffer_read_many),
        cmocka_unit_test(test_buffer_bad_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
