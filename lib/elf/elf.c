/* ELF64 little-endian files: sections, symbols and the load layout.
 *
 * Everything the lookups touch is validated once when the file is opened
 * (header, section and program header tables, the section name table, the
 * symbol tables and their string tables), so the lookups themselves need only
 * cheap index checks. Structures are copied out with memcpy because an image
 * given to pydbg__elf_open_memory need not be aligned. */
#include "elf/elf.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* Index of the two symbol tables, in lookup order. */
enum { TABLE_DYNSYM, TABLE_SYMTAB, TABLE_COUNT };

typedef struct symbol_table {
    const unsigned char *symbols; /* count entries of sizeof(Elf64_Sym) */
    size_t count;
    const char *strings; /* ends with a NUL, checked */
    size_t strings_size;
    const unsigned char *versym; /* .gnu.version (dynsym only), count uint16 entries, or NULL */
} symbol_table;

typedef struct load_segment {
    uint64_t vaddr;
    uint64_t offset;
} load_segment;

struct pydbg__elf {
    const unsigned char *data;
    size_t size;
    void *mapping; /* from mmap, or NULL for an image in memory */
    unsigned type;
    Elf64_Shdr *sections;
    size_t section_count;
    const char *section_names;
    size_t section_names_size;
    symbol_table tables[TABLE_COUNT];
    load_segment *loads; /* PT_LOAD segments in program header order */
    size_t load_count;
    size_t first_load; /* index in `loads` of the lowest p_vaddr */
    /* Lazily built open-addressing index: slot = (table << 31 | index) + 1, 0 = empty. */
    uint32_t *index;
    size_t index_mask;
    int index_state; /* 0 not built, 1 built, else the error building it gave */
};

static int fail_format(pydbg__error *err, const char *what)
{
    return pydbg__fail(err, PYDBG_EFORMAT, "malformed ELF file: %s", what);
}

/* True if [offset, offset+length) lies inside a file of `size` bytes. */
static int in_file(uint64_t offset, uint64_t length, size_t size)
{
    return offset <= size && length <= size - offset;
}

static uint64_t page_size(void)
{
    long page = sysconf(_SC_PAGESIZE);
    return page > 0 ? (uint64_t)page : 4096;
}

static const char *section_name(const pydbg__elf *elf, const Elf64_Shdr *sh)
{
    if (!elf->section_names || sh->sh_name >= elf->section_names_size)
        return NULL;
    return elf->section_names + sh->sh_name;
}

static int parse_sections(pydbg__elf *elf, const Elf64_Ehdr *eh, pydbg__error *err)
{
    uint64_t count = eh->e_shnum;
    uint64_t names_index = eh->e_shstrndx;
    if (eh->e_shoff == 0)
        return PYDBG_OK; /* no section table: allowed, nothing to look up */
    if (eh->e_shentsize != sizeof(Elf64_Shdr))
        return fail_format(err, "unexpected section header size");
    if (!in_file(eh->e_shoff, sizeof(Elf64_Shdr), elf->size))
        return fail_format(err, "section header table outside the file");
    /* Extended numbering: the real values live in section header 0. */
    if (count == 0 || names_index == SHN_XINDEX) {
        Elf64_Shdr first;
        memcpy(&first, elf->data + eh->e_shoff, sizeof first);
        if (count == 0)
            count = first.sh_size;
        if (names_index == SHN_XINDEX)
            names_index = first.sh_link;
    }
    if (count == 0 || count > (elf->size - eh->e_shoff) / sizeof(Elf64_Shdr))
        return fail_format(err, "section header table outside the file");
    elf->sections = malloc((size_t)count * sizeof(Elf64_Shdr));
    if (!elf->sections)
        return pydbg__fail(err, PYDBG_ENOMEM, "out of memory reading ELF sections");
    memcpy(elf->sections, elf->data + eh->e_shoff, (size_t)count * sizeof(Elf64_Shdr));
    elf->section_count = (size_t)count;

    for (size_t i = 0; i < elf->section_count; i++) {
        const Elf64_Shdr *sh = &elf->sections[i];
        if (sh->sh_type != SHT_NOBITS && sh->sh_type != SHT_NULL &&
            !in_file(sh->sh_offset, sh->sh_size, elf->size))
            return fail_format(err, "section data outside the file");
    }
    if (names_index != SHN_UNDEF) {
        const Elf64_Shdr *sh;
        if (names_index >= elf->section_count)
            return fail_format(err, "bad section name table index");
        sh = &elf->sections[names_index];
        if (sh->sh_type != SHT_STRTAB || sh->sh_size == 0 ||
            elf->data[sh->sh_offset + sh->sh_size - 1] != '\0')
            return fail_format(err, "bad section name table");
        elf->section_names = (const char *)elf->data + sh->sh_offset;
        elf->section_names_size = (size_t)sh->sh_size;
    }
    return PYDBG_OK;
}

/* Validates one symbol table section and its string table. */
static int parse_symbol_table(pydbg__elf *elf, size_t section, symbol_table *table,
                              pydbg__error *err)
{
    const Elf64_Shdr *sh = &elf->sections[section];
    const Elf64_Shdr *strings;
    if (sh->sh_entsize != sizeof(Elf64_Sym) && sh->sh_entsize != 0)
        return fail_format(err, "unexpected symbol size");
    if (sh->sh_size % sizeof(Elf64_Sym) != 0)
        return fail_format(err, "symbol table size is not a multiple of the symbol size");
    if (sh->sh_link == SHN_UNDEF || sh->sh_link >= elf->section_count)
        return fail_format(err, "bad string table index of a symbol table");
    strings = &elf->sections[sh->sh_link];
    if (strings->sh_type != SHT_STRTAB || strings->sh_size == 0 ||
        elf->data[strings->sh_offset + strings->sh_size - 1] != '\0')
        return fail_format(err, "bad symbol string table");
    table->symbols = elf->data + sh->sh_offset;
    table->count = (size_t)(sh->sh_size / sizeof(Elf64_Sym));
    table->strings = (const char *)elf->data + strings->sh_offset;
    table->strings_size = (size_t)strings->sh_size;
    /* Every name must start inside the string table, which ends with a NUL,
     * so every name is a terminated string. */
    for (size_t i = 0; i < table->count; i++) {
        Elf64_Sym sym;
        memcpy(&sym, table->symbols + i * sizeof sym, sizeof sym);
        if (sym.st_name >= table->strings_size)
            return fail_format(err, "symbol name outside its string table");
    }
    return PYDBG_OK;
}

static int parse_symbols(pydbg__elf *elf, pydbg__error *err)
{
    size_t versym_section = 0;
    for (size_t i = 0; i < elf->section_count; i++) {
        const Elf64_Shdr *sh = &elf->sections[i];
        int which;
        int rc;
        if (sh->sh_type == SHT_GNU_versym) {
            versym_section = i;
            continue;
        }
        if (sh->sh_type == SHT_DYNSYM)
            which = TABLE_DYNSYM;
        else if (sh->sh_type == SHT_SYMTAB)
            which = TABLE_SYMTAB;
        else
            continue;
        if (elf->tables[which].symbols)
            return fail_format(err, "two symbol tables of the same kind");
        rc = parse_symbol_table(elf, i, &elf->tables[which], err);
        if (rc != PYDBG_OK)
            return rc;
    }
    /* Symbol versions are only a preference between duplicate names, so a
     * table that does not match .dynsym is ignored rather than fatal. */
    if (versym_section && elf->tables[TABLE_DYNSYM].symbols) {
        const Elf64_Shdr *sh = &elf->sections[versym_section];
        if (sh->sh_size == elf->tables[TABLE_DYNSYM].count * sizeof(uint16_t))
            elf->tables[TABLE_DYNSYM].versym = elf->data + sh->sh_offset;
    }
    return PYDBG_OK;
}

static int parse_program_headers(pydbg__elf *elf, const Elf64_Ehdr *eh, pydbg__error *err)
{
    uint64_t count = eh->e_phnum;
    if (eh->e_phoff == 0 || count == 0)
        return PYDBG_OK;
    if (count == PN_XNUM && elf->section_count > 0)
        count = elf->sections[0].sh_info;
    if (eh->e_phentsize != sizeof(Elf64_Phdr))
        return fail_format(err, "unexpected program header size");
    if (!in_file(eh->e_phoff, 0, elf->size) ||
        count > (elf->size - eh->e_phoff) / sizeof(Elf64_Phdr))
        return fail_format(err, "program header table outside the file");
    elf->loads = malloc((size_t)count * sizeof *elf->loads);
    if (!elf->loads && count)
        return pydbg__fail(err, PYDBG_ENOMEM, "out of memory reading ELF program headers");
    for (size_t i = 0; i < count; i++) {
        Elf64_Phdr ph;
        memcpy(&ph, elf->data + eh->e_phoff + i * sizeof ph, sizeof ph);
        if (ph.p_type != PT_LOAD)
            continue;
        /* Segment contents are not checked against the file size: a separate
         * debug file keeps the program headers of the stripped original. */
        elf->loads[elf->load_count].vaddr = ph.p_vaddr;
        elf->loads[elf->load_count].offset = ph.p_offset;
        if (elf->load_count == 0 || ph.p_vaddr < elf->loads[elf->first_load].vaddr)
            elf->first_load = elf->load_count;
        elf->load_count++;
    }
    return PYDBG_OK;
}

static int parse_image(pydbg__elf *elf, pydbg__error *err)
{
    Elf64_Ehdr eh;
    int rc;
    if (elf->size < EI_NIDENT || memcmp(elf->data, ELFMAG, SELFMAG) != 0)
        return fail_format(err, "not an ELF file");
    if (elf->data[EI_CLASS] != ELFCLASS64)
        return fail_format(err, "not a 64-bit ELF file");
    if (elf->data[EI_DATA] != ELFDATA2LSB)
        return fail_format(err, "not a little-endian ELF file");
    if (elf->size < sizeof eh)
        return fail_format(err, "truncated ELF header");
    memcpy(&eh, elf->data, sizeof eh);
    if (eh.e_ident[EI_VERSION] != EV_CURRENT || eh.e_version != EV_CURRENT)
        return fail_format(err, "unknown ELF version");
    elf->type = eh.e_type;
    if ((rc = parse_sections(elf, &eh, err)) != PYDBG_OK ||
        (rc = parse_symbols(elf, err)) != PYDBG_OK ||
        (rc = parse_program_headers(elf, &eh, err)) != PYDBG_OK)
        return rc;
    return PYDBG_OK;
}

int pydbg__elf_open_memory(pydbg__elf **out, const void *data, size_t size, pydbg__error *err)
{
    pydbg__elf *elf;
    int rc;
    if (!out || (!data && size))
        return pydbg__fail(err, PYDBG_EINVAL, "invalid arguments to pydbg__elf_open_memory");
    *out = NULL;
    elf = calloc(1, sizeof *elf);
    if (!elf)
        return pydbg__fail(err, PYDBG_ENOMEM, "out of memory opening an ELF image");
    elf->data = data;
    elf->size = size;
    rc = parse_image(elf, err);
    if (rc != PYDBG_OK) {
        pydbg__elf_close(elf);
        return rc;
    }
    *out = elf;
    return PYDBG_OK;
}

int pydbg__elf_open(pydbg__elf **out, const char *path, pydbg__error *err)
{
    struct stat st;
    pydbg__elf *elf;
    void *mapping;
    int fd;
    int rc;
    if (!out || !path)
        return pydbg__fail(err, PYDBG_EINVAL, "invalid arguments to pydbg__elf_open");
    *out = NULL;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        if (e == ENOENT || e == ENOTDIR)
            return pydbg__fail(err, PYDBG_ENOTFOUND, "%s: no such file", path);
        if (e == EACCES || e == EPERM)
            return pydbg__fail(err, PYDBG_EPERM, "%s: permission denied", path);
        return pydbg__fail(err, PYDBG_EIO, "%s: cannot open (errno %d)", path, e);
    }
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return pydbg__fail(err, PYDBG_EIO, "%s: cannot stat (errno %d)", path, e);
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return pydbg__fail(err, PYDBG_EFORMAT, "%s: not a regular file", path);
    }
    if ((uint64_t)st.st_size < sizeof(Elf64_Ehdr)) {
        close(fd);
        return pydbg__fail(err, PYDBG_EFORMAT, "%s: too short for an ELF file", path);
    }
    if ((uint64_t)st.st_size > SIZE_MAX) {
        close(fd);
        return pydbg__fail(err, PYDBG_EFORMAT, "%s: too large", path);
    }
    /* Shared, so that the mapping reads "r--s" in /proc/self/maps: the kernel
     * and ld.so map ELF files private, and pydbg__maps_file_base skips shared
     * mappings, so inspecting our own process does not mistake this mapping
     * for the file's load base. Read-only either way. */
    mapping = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    if (mapping == MAP_FAILED)
        return pydbg__fail(err, errno == ENOMEM ? PYDBG_ENOMEM : PYDBG_EIO,
                           "%s: cannot map (errno %d)", path, errno);
    rc = pydbg__elf_open_memory(&elf, mapping, (size_t)st.st_size, err);
    if (rc != PYDBG_OK) {
        munmap(mapping, (size_t)st.st_size);
        if (err)
            pydbg__fail_context(err, "%s", path);
        return rc;
    }
    elf->mapping = mapping;
    *out = elf;
    return PYDBG_OK;
}

void pydbg__elf_close(pydbg__elf *elf)
{
    if (!elf)
        return;
    if (elf->mapping)
        munmap(elf->mapping, elf->size);
    free(elf->sections);
    free(elf->loads);
    free(elf->index);
    free(elf);
}

/* ---- symbols ------------------------------------------------------------------------ */

static uint32_t hash_name(const char *name)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        h = (h ^ *p) * 16777619u;
    return h;
}

static void get_symbol(const symbol_table *table, size_t i, Elf64_Sym *sym)
{
    memcpy(sym, table->symbols + i * sizeof *sym, sizeof *sym);
}

/* A version marked hidden is an old, non-default version of a name
 * ("memcpy@GLIBC_2.2.5" beside the default "memcpy@@GLIBC_2.14"). */
static int version_hidden(const symbol_table *table, size_t i)
{
    uint16_t v;
    if (!table->versym)
        return 0;
    memcpy(&v, table->versym + i * sizeof v, sizeof v);
    return (v & 0x8000) != 0;
}

static int indexable(const Elf64_Sym *sym)
{
    unsigned type = ELF64_ST_TYPE(sym->st_info);
    return sym->st_shndx != SHN_UNDEF && sym->st_name != 0 && type != STT_SECTION &&
           type != STT_FILE;
}

static int build_index(pydbg__elf *elf)
{
    size_t total = 0, slots = 16;
    for (int t = 0; t < TABLE_COUNT; t++)
        total += elf->tables[t].count;
    if (total >= (size_t)1 << 31)
        return PYDBG_ELIMIT; /* the slot encoding has 31 bits for the index */
    while (slots < 2 * total)
        slots *= 2;
    elf->index = calloc(slots, sizeof *elf->index);
    if (!elf->index)
        return PYDBG_ENOMEM;
    elf->index_mask = slots - 1;
    for (int t = 0; t < TABLE_COUNT; t++) {
        const symbol_table *table = &elf->tables[t];
        for (size_t i = 0; i < table->count; i++) {
            Elf64_Sym sym;
            const char *name;
            size_t slot;
            get_symbol(table, i, &sym);
            if (!indexable(&sym))
                continue;
            name = table->strings + sym.st_name;
            /* Linear probing; the table is at most half full, so it ends. */
            for (slot = hash_name(name) & elf->index_mask; elf->index[slot];
                 slot = (slot + 1) & elf->index_mask) {
                uint32_t entry = elf->index[slot] - 1;
                int other_table = (int)(entry >> 31);
                size_t other = entry & 0x7fffffffu;
                Elf64_Sym other_sym;
                get_symbol(&elf->tables[other_table], other, &other_sym);
                if (strcmp(elf->tables[other_table].strings + other_sym.st_name, name) != 0)
                    continue;
                /* The first definition wins (.dynsym before .symtab), except
                 * that a default version replaces a hidden one. */
                if (other_table == t && t == TABLE_DYNSYM && version_hidden(table, other) &&
                    !version_hidden(table, i))
                    elf->index[slot] = ((uint32_t)t << 31 | (uint32_t)i) + 1;
                break;
            }
            if (!elf->index[slot])
                elf->index[slot] = ((uint32_t)t << 31 | (uint32_t)i) + 1;
        }
    }
    return PYDBG_OK;
}

int pydbg__elf_find_symbol(pydbg__elf *elf, const char *name, pydbg__elf_symbol *out)
{
    if (!elf || !name || !out)
        return PYDBG_EINVAL;
    if (elf->index_state == 0) {
        int rc = build_index(elf);
        elf->index_state = rc == PYDBG_OK ? 1 : rc;
    }
    if (elf->index_state != 1)
        return elf->index_state;
    for (size_t slot = hash_name(name) & elf->index_mask; elf->index[slot];
         slot = (slot + 1) & elf->index_mask) {
        uint32_t entry = elf->index[slot] - 1;
        const symbol_table *table = &elf->tables[entry >> 31];
        Elf64_Sym sym;
        get_symbol(table, entry & 0x7fffffffu, &sym);
        if (strcmp(table->strings + sym.st_name, name) == 0) {
            out->value = sym.st_value;
            out->size = sym.st_size;
            out->type = (unsigned char)ELF64_ST_TYPE(sym.st_info);
            return PYDBG_OK;
        }
    }
    return PYDBG_ENOTFOUND;
}

/* ---- sections and load layout ------------------------------------------------------- */

int pydbg__elf_find_section(const pydbg__elf *elf, const char *name, pydbg__elf_section *out)
{
    if (!elf || !name || !out)
        return PYDBG_EINVAL;
    for (size_t i = 0; i < elf->section_count; i++) {
        const Elf64_Shdr *sh = &elf->sections[i];
        const char *this_name = section_name(elf, sh);
        if (sh->sh_type == SHT_NULL || !this_name || strcmp(this_name, name) != 0)
            continue;
        out->data = sh->sh_type == SHT_NOBITS ? NULL : elf->data + sh->sh_offset;
        out->size = sh->sh_size;
        out->address = sh->sh_addr;
        out->file_offset = sh->sh_offset;
        return PYDBG_OK;
    }
    return PYDBG_ENOTFOUND;
}

uint64_t pydbg__elf_first_load_vaddr(const pydbg__elf *elf)
{
    if (!elf || elf->load_count == 0)
        return 0;
    return elf->loads[elf->first_load].vaddr & ~(page_size() - 1);
}

uint64_t pydbg__elf_first_load_offset(const pydbg__elf *elf)
{
    if (!elf || elf->load_count == 0)
        return 0;
    return elf->loads[elf->first_load].offset & ~(page_size() - 1);
}

int pydbg__elf_type(const pydbg__elf *elf)
{
    return elf ? (int)elf->type : 0;
}

uint64_t pydbg__elf_load_bias(const pydbg__elf *elf, uint64_t map_start, uint64_t map_offset)
{
    const load_segment *segment;
    uint64_t mask = ~(page_size() - 1);
    /* A non-PIE executable is loaded at its link-time addresses. */
    if (!elf || elf->type == ET_EXEC)
        return 0;
    if (elf->load_count == 0)
        return map_start - map_offset;
    /* The kernel and ld.so map each PT_LOAD from its page-aligned offset to
     * bias + its page-aligned vaddr. The file's lowest mapping normally is the
     * first segment; if the caller passes another mapping, use the segment
     * that starts at that file offset. */
    segment = &elf->loads[elf->first_load];
    if ((segment->offset & mask) != map_offset) {
        for (size_t i = 0; i < elf->load_count; i++) {
            if ((elf->loads[i].offset & mask) == map_offset) {
                segment = &elf->loads[i];
                break;
            }
        }
    }
    return map_start - map_offset - ((segment->vaddr & mask) - (segment->offset & mask));
}
