/* JSON strings: see json.h. */
#include "util/json.h"

size_t pydbg__utf8_decode(const unsigned char *s, size_t n, uint32_t *code_point)
{
    size_t len;
    uint32_t cp;
    if (n == 0)
        return 0;
    if (s[0] < 0x80) {
        *code_point = s[0];
        return 1;
    }
    if ((s[0] & 0xE0) == 0xC0) {
        len = 2;
        cp = s[0] & 0x1F;
    } else if ((s[0] & 0xF0) == 0xE0) {
        len = 3;
        cp = s[0] & 0x0F;
    } else if ((s[0] & 0xF8) == 0xF0) {
        len = 4;
        cp = s[0] & 0x07;
    } else {
        return 0;
    }
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3F);
    }
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
        cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    *code_point = cp;
    return len;
}

void pydbg__json_string(pydbg__json_sink sink, void *context, const char *text, size_t length)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *s = (const unsigned char *)text;
    size_t run = 0, i = 0;
    sink(context, "\"", 1);
    while (i < length) {
        unsigned char c = s[i];
        const char *esc = NULL;
        char u[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
        size_t esc_length = 2, n;
        uint32_t cp;
        if (c == '"')
            esc = "\\\"";
        else if (c == '\\')
            esc = "\\\\";
        else if (c == '\n')
            esc = "\\n";
        else if (c == '\r')
            esc = "\\r";
        else if (c == '\t')
            esc = "\\t";
        else if (c < 0x20 || c == 0x7F)
            esc = u, esc_length = sizeof u;
        else if ((n = pydbg__utf8_decode(s + i, length - i, &cp)) != 0) {
            i += n;
            continue;
        } else {
            esc = "\\ufffd", esc_length = 6;
        }
        sink(context, text + run, i - run);
        sink(context, esc, esc_length);
        i++;
        run = i;
    }
    sink(context, text + run, i - run);
    sink(context, "\"", 1);
}
