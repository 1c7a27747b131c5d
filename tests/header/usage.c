/* What a user of the public headers writes, compiled as C (c99, c11) and as C++ (c++11) by
 * check_headers.py: the macros must expand to valid code in every one of them, and the
 * promises below must hold at compile time. It is only compiled, never linked. */
#include <pydebug.h>

#include <stddef.h>

/* A static assertion that is valid C99, C11 and C++11 alike. */
#define PYDBG_HT_ASSERT(name, cond) typedef char pydbg_ht_assert_##name[(cond) ? 1 : -1]

/* The enumerators of pydbg_error and the X-macro list must agree, name by name. */
#define PYDBG_HT_SAME_VALUE(name, value, text) \
    PYDBG_HT_ASSERT(value_##name, PYDBG_##name == (value) && sizeof(text) > 1);
PYDBG_ERROR_LIST(PYDBG_HT_SAME_VALUE)

/* Errors are zero for success and negative otherwise. */
#define PYDBG_HT_SIGN(name, value, text) \
    PYDBG_HT_ASSERT(sign_##name, (value) < 0 || PYDBG_##name == PYDBG_OK);
PYDBG_ERROR_LIST(PYDBG_HT_SIGN)

/* What a binding generates from the list: a switch, which also rejects duplicated values. */
const char *pydbg_ht_name(int code);
const char *pydbg_ht_name(int code)
{
    switch (code) {
#define PYDBG_HT_CASE(name, value, text) \
    case value:                          \
        return "PYDBG_" #name;
        PYDBG_ERROR_LIST(PYDBG_HT_CASE)
#undef PYDBG_HT_CASE
    default:
        return NULL;
    }
}

PYDBG_HT_ASSERT(version_number, PYDBG_VERSION_NUMBER == PYDBG_VERSION_MAJOR * 10000 +
                                                            PYDBG_VERSION_MINOR * 100 +
                                                            PYDBG_VERSION_RELEASE);
PYDBG_HT_ASSERT(version_fields, PYDBG_VERSION_MINOR < 100 && PYDBG_VERSION_RELEASE < 100);
static const char pydbg_ht_version[] = PYDBG_VERSION_STRING;
PYDBG_HT_ASSERT(version_string, sizeof(pydbg_ht_version) >= sizeof("1.0.0"));

/* Options structures begin with struct_size, which their INIT macro sets. */
PYDBG_HT_ASSERT(attach_size_first, offsetof(pydbg_attach_options, struct_size) == 0);
PYDBG_HT_ASSERT(capture_size_first, offsetof(pydbg_capture_options, struct_size) == 0);

int pydbg_ht_options(void);
int pydbg_ht_options(void)
{
    pydbg_attach_options attach = PYDBG_ATTACH_OPTIONS_INIT;
    pydbg_capture_options capture = PYDBG_CAPTURE_OPTIONS_INIT;
    attach.flags |= PYDBG_ATTACH_PAUSED | PYDBG_ATTACH_PROC_MEM;
    capture.flags |= PYDBG_CAPTURE_PAUSE | PYDBG_CAPTURE_NO_THREAD_NAMES;
    capture.max_depth = PYDBG_DEFAULT_MAX_DEPTH;
    return attach.struct_size == sizeof attach && capture.struct_size == sizeof capture &&
           attach.flags != 0 && capture.flags != 0 && pydbg_ht_version[0] != '\0';
}
