/* A read-only view of a 64-bit ELF file: symbols and sections.
 *
 * The file is mapped once; lookups search .dynsym, then .symtab (static
 * symbols such as `interp_head` only live there), with a hash index built on
 * first use so that repeated lookups are cheap. Every offset read from the file
 * is bounds-checked: a truncated or hostile file gives PYDBG_EFORMAT. */
#ifndef PYDBG_ELF_ELF_H
#define PYDBG_ELF_ELF_H

#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

typedef struct pydbg__elf pydbg__elf;

typedef struct pydbg__elf_symbol {
    uint64_t value; /* st_value: a link-time virtual address */
    uint64_t size;
    unsigned char type; /* STT_* */
} pydbg__elf_symbol;

typedef struct pydbg__elf_section {
    const unsigned char *data; /* NULL for SHT_NOBITS (.bss) */
    uint64_t size;
    uint64_t address; /* sh_addr */
    uint64_t file_offset;
} pydbg__elf_section;

/* Opens and maps `path`. Errors: PYDBG_ENOTFOUND (no file), PYDBG_EPERM,
 * PYDBG_EFORMAT (not a 64-bit little-endian ELF, or corrupt), PYDBG_EIO. */
int pydbg__elf_open(pydbg__elf **out, const char *path, pydbg__error *err);

/* Parses an ELF image already in memory (unit tests and fuzzing). The buffer
 * must outlive the handle. */
int pydbg__elf_open_memory(pydbg__elf **out, const void *data, size_t size, pydbg__error *err);

void pydbg__elf_close(pydbg__elf *elf);

/* Finds a symbol by exact name in .dynsym, then .symtab. PYDBG_ENOTFOUND if absent. */
int pydbg__elf_find_symbol(pydbg__elf *elf, const char *name, pydbg__elf_symbol *out);

/* Finds a section by name (".rodata", ".bss", ".data"). PYDBG_ENOTFOUND if absent. */
int pydbg__elf_find_section(const pydbg__elf *elf, const char *name, pydbg__elf_section *out);

/* The lowest p_vaddr of the PT_LOAD segments rounded down to a page, and its
 * file offset: with the start of the file's first mapping this gives the load bias. */
uint64_t pydbg__elf_first_load_vaddr(const pydbg__elf *elf);
uint64_t pydbg__elf_first_load_offset(const pydbg__elf *elf);

/* The ELF type: ET_EXEC (2) or ET_DYN (3). */
int pydbg__elf_type(const pydbg__elf *elf);

/* Load bias of a file mapped at `map_start` with file offset `map_offset`:
 * add it to a symbol's st_value to get its address in the process. */
uint64_t pydbg__elf_load_bias(const pydbg__elf *elf, uint64_t map_start, uint64_t map_offset);

#endif
