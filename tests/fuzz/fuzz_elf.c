/* libFuzzer target for the ELF reader: any bytes as an ELF image.
 *
 * Nothing may crash or read outside the image, and what a successful open
 * hands out must lie inside it: section data, and symbol names reachable
 * through the lookup. Seeds are small real ELF files (seeds/fuzz_elf: a shared
 * object and an executable with .dynsym, .symtab and versioned symbols). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "elf/elf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const section_names[] = {".text", ".data", ".bss", ".rodata", ".dynsym",
                                            ".symtab", ".dynstr", ".strtab", ".gnu.version",
                                            ".PyRuntime", ""};
static const char *const symbol_names[] = {"_PyRuntime", "Py_Version", "interp_head", "malloc",
                                           "memcpy", "seed_function", "seed_variable", "api", "",
                                           "x"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pydbg__elf *elf;
    pydbg__error err;
    volatile unsigned sink = 0;
    if (pydbg__elf_open_memory(&elf, data, size, &err) != PYDBG_OK) {
        if (err.message[0] == '\0')
            abort(); /* every failure explains itself */
        return 0;
    }
    for (size_t i = 0; i < sizeof section_names / sizeof section_names[0]; i++) {
        pydbg__elf_section section;
        if (pydbg__elf_find_section(elf, section_names[i], &section) != PYDBG_OK || !section.data)
            continue;
        if (section.data < data || section.size > size ||
            (size_t)(section.data - data) > size - section.size)
            abort();
        /* Touch the first and last byte so ASan checks the range. */
        if (section.size)
            sink += section.data[0] + section.data[section.size - 1];
    }
    for (size_t i = 0; i < sizeof symbol_names / sizeof symbol_names[0]; i++) {
        pydbg__elf_symbol symbol;
        (void)pydbg__elf_find_symbol(elf, symbol_names[i], &symbol);
    }
    /* Names made of the input's own bytes reach more of the hash index. */
    for (size_t at = 0; at + 8 <= size && at < 4096; at += 509) {
        char name[9];
        pydbg__elf_symbol symbol;
        memcpy(name, data + at, 8);
        name[8] = '\0';
        (void)pydbg__elf_find_symbol(elf, name, &symbol);
    }
    (void)pydbg__elf_type(elf);
    (void)pydbg__elf_first_load_vaddr(elf);
    (void)pydbg__elf_first_load_offset(elf);
    (void)pydbg__elf_load_bias(elf, UINT64_C(0x7f1234560000), 0);
    (void)pydbg__elf_load_bias(elf, UINT64_C(0x7f1234561000), 0x1000);
    pydbg__elf_close(elf);
    (void)sink;
    return 0;
}
