/* The /proc/PID/maps text format: a parser that runs on every system, so that
 * text saved on one machine can be read on any other.
 *
 * A line, as fs/proc/task_mmu.c prints it:
 *
 *   start-end perms offset major:minor inode[ padding name]\n
 *
 * Addresses and the offset are lower-case hex of at least 8 digits, the device
 * numbers hex of at least 2, the inode decimal.  When there is a name, the
 * kernel pads the line with spaces to 72 columns (48 on a 32-bit kernel) and
 * writes one more space before it, so a name can start with spaces of its
 * own.  Only a newline in a name is escaped, as \012; spaces, tabs,
 * backslashes and undecodable bytes are written raw, so the name is everything
 * up to the end of the line.
 */
#include "formats/procmaps.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* Where the kernel pads a named line to, by the width of its pointers. */
#define PAD_COLUMN_64 72
#define PAD_COLUMN_32 48

static const signed char hex_value[256] = {
    ['0'] = 1,  ['1'] = 2,  ['2'] = 3,  ['3'] = 4,  ['4'] = 5,  ['5'] = 6,
    ['6'] = 7,  ['7'] = 8,  ['8'] = 9,  ['9'] = 10, ['a'] = 11, ['b'] = 12,
    ['c'] = 13, ['d'] = 14, ['e'] = 15, ['f'] = 16, ['A'] = 11, ['B'] = 12,
    ['C'] = 13, ['D'] = 14, ['E'] = 15, ['F'] = 16,
};

/* Reads hex digits at *p (at most 16); the value is stored one higher in
 * hex_value so that 0 means "not a digit". */
static int
parse_hex(const char **p, const char *end, uint64_t *value)
{
    const char *s = *p;
    uint64_t v = 0;
    int digits = 0;

    while (s < end && hex_value[(unsigned char)*s]) {
        if (++digits > 16) {
            return -1;
        }
        v = (v << 4) | (uint64_t)(hex_value[(unsigned char)*s] - 1);
        s++;
    }
    if (digits == 0) {
        return -1;
    }
    *p = s;
    *value = v;
    return 0;
}

static int
parse_decimal(const char **p, const char *end, uint64_t *value)
{
    const char *s = *p;
    uint64_t v = 0;

    if (s >= end || *s < '0' || *s > '9') {
        return -1;
    }
    while (s < end && *s >= '0' && *s <= '9') {
        uint64_t digit = (uint64_t)(*s - '0');
        if (v > (UINT64_MAX - digit) / 10) {
            return -1;
        }
        v = v * 10 + digit;
        s++;
    }
    *p = s;
    *value = v;
    return 0;
}

static int
expect(const char **p, const char *end, char c)
{
    if (*p >= end || **p != c) {
        return -1;
    }
    (*p)++;
    return 0;
}

/* Skips spaces, eight at a time where it can: the kernel pads columns with
 * runs of them, and this is the inner loop of parsing smaps. */
static const char *
skip_spaces(const char *p, const char *end)
{
    static const char eight_spaces[8] = {' ', ' ', ' ', ' ',
                                         ' ', ' ', ' ', ' '};

    while (end - p >= 8 && memcmp(p, eight_spaces, 8) == 0) {
        p += 8;
    }
    while (p < end && *p == ' ') {
        p++;
    }
    return p;
}

static int
has_prefix(const char *name, size_t len, const char *prefix)
{
    size_t n = strlen(prefix);
    return len >= n && memcmp(name, prefix, n) == 0;
}

static int
equals(const char *name, size_t len, const char *literal)
{
    return len == strlen(literal) && memcmp(name, literal, len) == 0;
}

mm_kind
mm_classify_linux(const char *name, size_t len, uint64_t inode, uint8_t prot,
                  int deleted)
{
    (void)inode;
    if (name == NULL) {
        /* Private and inaccessible: a guard page or a reserved range. */
        if ((prot & (MM_PROT_READ | MM_PROT_WRITE | MM_PROT_EXEC |
                     MM_PROT_SHARED)) == 0) {
            return MM_KIND_GUARD;
        }
        return MM_KIND_ANON;
    }
    if (len > 0 && name[0] == '[') {
        if (equals(name, len, "[heap]")) {
            return MM_KIND_HEAP;
        }
        /* [stack:TID] is how kernels before 4.5 named thread stacks. */
        if (equals(name, len, "[stack]") || has_prefix(name, len, "[stack:")) {
            return MM_KIND_STACK;
        }
        if (equals(name, len, "[vdso]")) {
            return MM_KIND_VDSO;
        }
        if (equals(name, len, "[vvar]") ||
            equals(name, len, "[vvar_vclock]")) {
            return MM_KIND_VVAR;
        }
        if (equals(name, len, "[vsyscall]")) {
            return MM_KIND_VSYSCALL;
        }
        if (has_prefix(name, len, "[anon:")) {
            return MM_KIND_ANON;
        }
        if (has_prefix(name, len, "[anon_shmem:")) {
            return MM_KIND_SHMEM;
        }
        return MM_KIND_SPECIAL;
    }
    if (len > 0 && name[0] == '/') {
        /* The kernel's own objects live on internal mounts and are always
         * unlinked; a real file of the same name is still a file. */
        if (deleted) {
            if (equals(name, len, "/dev/zero")) {
                return MM_KIND_SHMEM;
            }
            if (has_prefix(name, len, "/memfd:")) {
                return MM_KIND_MEMFD;
            }
            if (len == 13 && has_prefix(name, len, "/SYSV")) {
                int all_hex = 1;
                for (size_t i = 5; i < 13; i++) {
                    all_hex &= hex_value[(unsigned char)name[i]] != 0;
                }
                if (all_hex) {
                    return MM_KIND_SYSV;
                }
            }
            if (equals(name, len, "/anon_hugepage")) {
                return MM_KIND_HUGETLB;
            }
        }
        return MM_KIND_FILE;
    }
    return MM_KIND_SPECIAL;
}

/* Turns every \012 back into a newline, in place; returns the new length. */
static size_t
unescape_newlines(char *name, size_t len)
{
    char *read = memchr(name, '\\', len);
    char *write;
    char *end = name + len;

    if (read == NULL) {
        return len;
    }
    write = read;
    while (read < end) {
        if (read[0] == '\\' && end - read >= 4 && read[1] == '0' &&
            read[2] == '1' && read[3] == '2') {
            *write++ = '\n';
            read += 4;
        }
        else {
            *write++ = *read++;
        }
    }
    return (size_t)(write - name);
}

static mm_status
parse_error(mm_err *err, size_t lineno, const char *text, const char *line,
            const char *line_end, const char *what)
{
    err->lineno = lineno;
    err->line_off = (size_t)(line - text);
    err->line_len = (size_t)(line_end - line);
    return mm_err_set(err, MM_ERR_PARSE, 0, "line %zu: %s", lineno, what);
}

/* What a line that stops early lacks, by where it stops.  A file cut short
 * or a line pasted in part says so, instead of failing on the comparison
 * the missing text would have settled (a start address above a truncated
 * end address). */
enum cut_off_where {
    CUT_AFTER_START,
    CUT_AFTER_DASH,
    CUT_AFTER_END,
    CUT_IN_PERMS,
    CUT_AFTER_PERMS,
    CUT_AFTER_OFFSET,
    CUT_IN_DEVICE,
    CUT_AFTER_DEVICE,
};

static const char *const cut_off[] = {
    [CUT_AFTER_START] = "the line is cut off after the start address: the "
                        "end address, permissions, offset, device and inode "
                        "are missing",
    [CUT_AFTER_DASH] = "the line is cut off after the '-': the end address, "
                       "permissions, offset, device and inode are missing",
    [CUT_AFTER_END] = "the line is cut off after the end address: the "
                      "permissions, offset, device and inode are missing",
    [CUT_IN_PERMS] = "the line is cut off in the permissions (4 letters), "
                     "before the offset, device and inode",
    [CUT_AFTER_PERMS] = "the line is cut off after the permissions: the "
                        "offset, device and inode are missing",
    [CUT_AFTER_OFFSET] = "the line is cut off after the offset: the device "
                         "and inode are missing",
    [CUT_IN_DEVICE] = "the line is cut off in the device (hex major:minor), "
                      "before the inode",
    [CUT_AFTER_DEVICE] = "the line is cut off after the device: the inode is "
                         "missing",
};

/* Whether nothing but spaces is left of the line. */
static int
only_spaces_left(const char *p, const char *line_end)
{
    while (p < line_end && *p == ' ') {
        p++;
    }
    return p == line_end;
}

/* Parses the line [line, line_end) into a new region of out.  Names are
 * unescaped in place, which is why the text is writable. */
static const char *
parse_line(char *line, char *line_end, mm_list *out)
{
    const char *p = line;
    uint64_t start, end, offset, major, minor, inode;
    uint8_t prot = 0;
    mm_region *region;
    size_t prefix_len, spaces, name_start;
    const char *base = out->bytes;

    /* The checks for a line cut short run only once a field fails to
     * parse, so that whole lines, the live listing's, pay nothing for them. */
    if (parse_hex(&p, line_end, &start) != 0) {
        return "expected a hex start address";
    }
    if (expect(&p, line_end, '-') != 0) {
        return only_spaces_left(p, line_end)
                   ? cut_off[CUT_AFTER_START]
                   : "expected '-' and a hex end address";
    }
    if (parse_hex(&p, line_end, &end) != 0) {
        return only_spaces_left(p, line_end)
                   ? cut_off[CUT_AFTER_DASH]
                   : "expected '-' and a hex end address";
    }
    if (end < start || expect(&p, line_end, ' ') != 0 || line_end - p < 4) {
        if (only_spaces_left(p, line_end)) {
            return cut_off[CUT_AFTER_END];
        }
        if (end < start) {
            return "the end address is below the start address";
        }
        return p[-1] == ' ' ? cut_off[CUT_IN_PERMS] : "expected permissions";
    }
    if (p[0] == 'r') {
        prot |= MM_PROT_READ;
    }
    else if (p[0] != '-') {
        return "bad permissions: expected 'r' or '-' first";
    }
    if (p[1] == 'w') {
        prot |= MM_PROT_WRITE;
    }
    else if (p[1] != '-') {
        return "bad permissions: expected 'w' or '-' second";
    }
    if (p[2] == 'x') {
        prot |= MM_PROT_EXEC;
    }
    else if (p[2] != '-') {
        return "bad permissions: expected 'x' or '-' third";
    }
    if (p[3] == 's') {
        prot |= MM_PROT_SHARED;
    }
    else if (p[3] != 'p') {
        return "bad permissions: expected 'p' or 's' fourth";
    }
    p += 4;
    if (expect(&p, line_end, ' ') != 0 ||
        parse_hex(&p, line_end, &offset) != 0) {
        return only_spaces_left(p, line_end) ? cut_off[CUT_AFTER_PERMS]
                                             : "expected a hex file offset";
    }
    if (expect(&p, line_end, ' ') != 0 ||
        parse_hex(&p, line_end, &major) != 0) {
        return only_spaces_left(p, line_end)
                   ? cut_off[CUT_AFTER_OFFSET]
                   : "expected a device as hex major:minor";
    }
    if (expect(&p, line_end, ':') != 0 ||
        parse_hex(&p, line_end, &minor) != 0 || major > UINT32_MAX ||
        minor > UINT32_MAX) {
        return only_spaces_left(p, line_end)
                   ? cut_off[CUT_IN_DEVICE]
                   : "expected a device as hex major:minor";
    }
    if (expect(&p, line_end, ' ') != 0 ||
        parse_decimal(&p, line_end, &inode) != 0) {
        return only_spaces_left(p, line_end) ? cut_off[CUT_AFTER_DEVICE]
                                             : "expected a decimal inode";
    }

    region = mm_list_push(out);
    if (region == NULL) {
        return NULL; /* out of memory, told apart by the caller */
    }
    region->start = start;
    region->end = end;
    region->offset = offset;
    region->dev_major = (uint32_t)major;
    region->dev_minor = (uint32_t)minor;
    region->inode = inode;
    region->prot = prot;

    /* A nameless line ends right after the inode, or after one space. */
    if (p == line_end || (p + 1 == line_end && *p == ' ')) {
        region->kind = (uint8_t)mm_classify_linux(NULL, 0, inode, prot, 0);
        return "";
    }
    if (*p != ' ') {
        out->count--;
        return "expected a space after the inode";
    }
    p++;
    prefix_len = (size_t)(p - line);
    spaces = (size_t)(skip_spaces(p, line_end) - p);
    /* The name starts one column past the padding.  Text whose padding was
     * squeezed (copied through a tool that collapses spaces) has no room for
     * leading spaces in names, so the name starts at the first non-space. */
    {
        size_t column64 =
            (prefix_len > PAD_COLUMN_64 ? prefix_len : PAD_COLUMN_64) + 1;
        size_t column32 =
            (prefix_len > PAD_COLUMN_32 ? prefix_len : PAD_COLUMN_32) + 1;
        if (prefix_len + spaces >= column64) {
            name_start = column64;
        }
        else if (prefix_len + spaces >= column32) {
            name_start = column32;
        }
        else {
            name_start = prefix_len + spaces;
        }
    }
    {
        char *name = line + name_start;
        size_t len = (size_t)(line_end - name);
        int deleted = 0;

        if (len >= MM_DELETED_SUFFIX_LEN &&
            memcmp(name + len - MM_DELETED_SUFFIX_LEN, MM_DELETED_SUFFIX,
                   MM_DELETED_SUFFIX_LEN) == 0) {
            len -= MM_DELETED_SUFFIX_LEN;
            deleted = 1;
        }
        {
            size_t unescaped = unescape_newlines(name, len);
            if (unescaped != len) {
                region->flags |= MM_REGION_UNESCAPED;
            }
            len = unescaped;
        }
        if (len > UINT32_MAX) {
            out->count--;
            return "the name is too long";
        }
        region->name_off = (size_t)(name - base);
        region->name_len = (uint32_t)len;
        region->flags |= MM_REGION_NAMED | (deleted ? MM_REGION_DELETED : 0);
        region->kind =
            (uint8_t)mm_classify_linux(name, len, inode, prot, deleted);
    }
    return "";
}

/* The keys of smaps, in the order the kernel prints them, so that the key
 * after the last one found is usually the next. */
static const struct {
    const char *key;
    uint8_t len;
    int8_t field;
    uint8_t in_kb;
} smaps_keys[] = {
#define KEY(name, field, in_kb)                                               \
    {                                                                         \
        name, sizeof(name) - 1, field, in_kb                                  \
    }
    KEY("Size", MM_USAGE_SIZE, 1),
    KEY("KernelPageSize", MM_USAGE_KERNEL_PAGE_SIZE, 1),
    KEY("MMUPageSize", MM_USAGE_MMU_PAGE_SIZE, 1),
    KEY("Rss", MM_USAGE_RSS, 1),
    KEY("Pss", MM_USAGE_PSS, 1),
    KEY("Pss_Dirty", MM_USAGE_PSS_DIRTY, 1),
    KEY("Pss_Anon", MM_USAGE_PSS_ANON, 1),
    KEY("Pss_File", MM_USAGE_PSS_FILE, 1),
    KEY("Pss_Shmem", MM_USAGE_PSS_SHMEM, 1),
    KEY("Shared_Clean", MM_USAGE_SHARED_CLEAN, 1),
    KEY("Shared_Dirty", MM_USAGE_SHARED_DIRTY, 1),
    KEY("Private_Clean", MM_USAGE_PRIVATE_CLEAN, 1),
    KEY("Private_Dirty", MM_USAGE_PRIVATE_DIRTY, 1),
    KEY("Referenced", MM_USAGE_REFERENCED, 1),
    KEY("Anonymous", MM_USAGE_ANONYMOUS, 1),
    KEY("KSM", MM_USAGE_KSM, 1),
    KEY("LazyFree", MM_USAGE_LAZY_FREE, 1),
    KEY("AnonHugePages", MM_USAGE_ANON_HUGE_PAGES, 1),
    KEY("ShmemPmdMapped", MM_USAGE_SHMEM_PMD_MAPPED, 1),
    KEY("FilePmdMapped", MM_USAGE_FILE_PMD_MAPPED, 1),
    KEY("Shared_Hugetlb", MM_USAGE_SHARED_HUGETLB, 1),
    KEY("Private_Hugetlb", MM_USAGE_PRIVATE_HUGETLB, 1),
    KEY("Swap", MM_USAGE_SWAP, 1),
    KEY("SwapPss", MM_USAGE_SWAP_PSS, 1),
    KEY("Locked", MM_USAGE_LOCKED, 1),
    KEY("THPeligible", MM_USAGE_THP_ELIGIBLE, 0),
    KEY("ProtectionKey", MM_USAGE_PROTECTION_KEY, 0),
    KEY("VmFlags", MM_SMAPS_VMFLAGS, 0),
#undef KEY
};

#define SMAPS_KEY_COUNT ((int)(sizeof(smaps_keys) / sizeof(smaps_keys[0])))

/* Looks key up starting from *hint, the entry after the last one found. */
static int
find_smaps_key(const char *key, size_t len, int *hint)
{
    for (int tried = 0, i = *hint; tried < SMAPS_KEY_COUNT; tried++) {
        if (smaps_keys[i].len == len &&
            memcmp(smaps_keys[i].key, key, len) == 0) {
            *hint = i + 1 == SMAPS_KEY_COUNT ? 0 : i + 1;
            return i;
        }
        i = i + 1 == SMAPS_KEY_COUNT ? 0 : i + 1;
    }
    return -1;
}

int
mm_smaps_field(const char *key, size_t len, int *in_kb)
{
    int hint = 0;
    int entry = find_smaps_key(key, len, &hint);

    *in_kb = entry >= 0 && smaps_keys[entry].in_kb;
    return entry >= 0 ? smaps_keys[entry].field : -1;
}

static int
is_key_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
           (c >= '0' && c <= '9') || c == '_';
}

/* The length of the "Key" of a "Key: value" line, or 0 when the line is not
 * one (region lines have a '-' after their first hex number). */
static size_t
field_key_length(const char *line, const char *line_end)
{
    const char *p = line;

    if (p >= line_end ||
        !((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z'))) {
        return 0;
    }
    while (p < line_end && is_key_char(*p)) {
        p++;
    }
    return p < line_end && *p == ':' ? (size_t)(p - line) : 0;
}

/* Parses one "Key: value" line of smaps into the usage of the last region. */
static const char *
parse_field_line(char *line, char *line_end, size_t key_len, int entry,
                 mm_list *out, int *hint)
{
    const char *base = out->bytes;
    const char *p = line + key_len + 1;
    mm_usage *usage;

    if (out->count == 0) {
        return "a field line before any region line";
    }
    if (out->regions[out->count - 1].usage) {
        usage = &out->usages[out->regions[out->count - 1].usage - 1];
    }
    else {
        usage = mm_list_add_usage(out, out->count - 1);
        if (usage == NULL) {
            return NULL;
        }
        usage->block_off = (size_t)(line - base);
    }
    usage->block_len = (size_t)(line_end - base) - usage->block_off;
    p = skip_spaces(p, line_end);
    if (entry < 0) {
        entry = find_smaps_key(line, key_len, hint);
    }
    if (entry < 0) {
        usage->flags |= MM_USAGE_HAS_EXTRA; /* kept, read again by _core.c */
        return "";
    }
    if (smaps_keys[entry].field == MM_SMAPS_VMFLAGS) {
        const char *end = line_end;
        while (end > p && end[-1] == ' ') {
            end--;
        }
        usage->vmflags_off = (size_t)(p - base);
        usage->vmflags_len = (uint32_t)(end - p);
        usage->flags |= MM_USAGE_HAS_VMFLAGS;
        return "";
    }
    {
        uint64_t value;
        int field = smaps_keys[entry].field;

        if (parse_decimal(&p, line_end, &value) != 0) {
            return "expected a decimal figure after the key";
        }
        if (smaps_keys[entry].in_kb) {
            if (expect(&p, line_end, ' ') != 0 || line_end - p < 2 ||
                p[0] != 'k' || p[1] != 'B') {
                return "expected the figure in kB";
            }
            p += 2;
            if (value > UINT64_MAX / 1024) {
                return "the figure is too large";
            }
            value *= 1024;
        }
        p = skip_spaces(p, line_end);
        if (p != line_end) {
            return "unexpected text after the figure";
        }
        usage->value[field] = value;
        usage->present |= 1u << field;
    }
    return "";
}

/* The check of MM_PARSE_STRICT on the region line just parsed, lineno, whose
 * predecessor was on line before_lineno: NULL when it passes, else the
 * message, in buffer. */
static const char *
strict_problem(const mm_list *out, size_t before_lineno, char *buffer,
               size_t size)
{
    const mm_region *here = &out->regions[out->count - 1];
    const mm_region *before = out->count > 1 ? here - 1 : NULL;

    if (here->end == here->start) {
        return "the region is empty: its end address is its start address";
    }
    if (before != NULL && here->start < before->start) {
        snprintf(buffer, size,
                 "the lines are out of order: this region starts at 0x%" PRIx64
                 ", below the start of the one on line %zu (0x%" PRIx64 ")",
                 here->start, before_lineno, before->start);
        return buffer;
    }
    if (before != NULL && here->start < before->end) {
        snprintf(buffer, size,
                 "the lines overlap: this region starts at 0x%" PRIx64
                 ", before the end of the one on line %zu (0x%" PRIx64 ")",
                 here->start, before_lineno, before->end);
        return buffer;
    }
    return NULL;
}

mm_status
mm_parse_maps(const char *text, size_t len, mm_list *out, mm_err *err)
{
    return mm_parse_maps_with(text, len, 0, out, err);
}

mm_status
mm_parse_maps_with(const char *text, size_t len, unsigned flags, mm_list *out,
                   mm_err *err)
{
    char *cursor, *end;
    size_t lineno = 0, region_lineno = 0;
    int hint = 0;
    const int crlf = (flags & MM_PARSE_CRLF) != 0;
    const int strict = (flags & MM_PARSE_STRICT) != 0;
    char strict_message[256];

    if (text != out->bytes) {
        mm_list_clear(out);
        if (mm_list_reserve_bytes(out, len + 1) != 0) {
            return mm_err_set(err, MM_ERR_NOMEM, 0, "out of memory");
        }
        if (len > 0) {
            memcpy(out->bytes, text, len);
        }
        out->bytes_len = len;
    }
    /* One region per line of maps text is a good guess, and saves the
     * regrowing; smaps has about 25 lines a region. */
    {
        size_t guess = len / 48 + 1;
        if (mm_list_reserve(out, guess) != 0) {
            return mm_err_set(err, MM_ERR_NOMEM, 0, "out of memory");
        }
    }
    cursor = out->bytes;
    end = out->bytes + len;
    while (cursor < end) {
        char *newline = memchr(cursor, '\n', (size_t)(end - cursor));
        char *line_end = newline ? newline : end;
        const char *problem;
        size_t key_len;

        lineno++;
        if (crlf && line_end > cursor && line_end[-1] == '\r') {
            line_end--;
        }
        if (line_end == cursor) {
            /* Blank lines are tolerated only at the very end. */
            char *rest = cursor;
            while (rest < end && (*rest == '\n' || *rest == ' ' ||
                                  (crlf && *rest == '\r'))) {
                rest++;
            }
            if (rest == end) {
                break;
            }
            return parse_error(err, lineno, out->bytes, cursor, line_end,
                               "blank line");
        }
        {
            /* Most lines of smaps are the key that came next last time. */
            int entry = hint;

            key_len = smaps_keys[hint].len;
            if ((size_t)(line_end - cursor) <= key_len ||
                cursor[key_len] != ':' ||
                memcmp(cursor, smaps_keys[hint].key, key_len) != 0) {
                key_len = field_key_length(cursor, line_end);
                entry = -1;
            }
            else {
                hint = hint + 1 == SMAPS_KEY_COUNT ? 0 : hint + 1;
            }
            problem = key_len ? parse_field_line(cursor, line_end, key_len,
                                                 entry, out, &hint)
                              : parse_line(cursor, line_end, out);
        }
        if (problem == NULL) {
            return mm_err_set(err, MM_ERR_NOMEM, 0, "out of memory");
        }
        if (problem[0] == '\0' && strict && key_len == 0) {
            const char *refused = strict_problem(
                out, region_lineno, strict_message, sizeof(strict_message));
            problem = refused != NULL ? refused : problem;
            region_lineno = lineno;
        }
        if (problem[0] != '\0') {
            return parse_error(err, lineno, out->bytes, cursor, line_end,
                               problem);
        }
        cursor = newline ? newline + 1 : end;
    }
    return MM_OK;
}

/* ---- the lines of an smaps block that this version does not know ---- */

/* The value of an unknown line: the figure in bytes for "N kB", the number
 * for a bare N, else only the text. */
static void
parse_extra_value(const char *p, const char *end, mm_smaps_extra *out)
{
    const char *digits_end;
    uint64_t value = 0;
    int overflow = 0;

    while (p < end && *p == ' ') {
        p++;
    }
    while (end > p && end[-1] == ' ') {
        end--;
    }
    out->text = p;
    out->text_len = (size_t)(end - p);
    out->is_number = 0;
    out->value = 0;
    digits_end = p;
    while (digits_end < end && *digits_end >= '0' && *digits_end <= '9') {
        uint64_t digit = (uint64_t)(*digits_end - '0');
        overflow |= value > (UINT64_MAX - digit) / 10;
        value = value * 10 + digit;
        digits_end++;
    }
    if (overflow || digits_end == p) {
        return;
    }
    if (digits_end == end) {
        out->is_number = 1;
        out->value = value;
    }
    else if (end - digits_end == 3 && memcmp(digits_end, " kB", 3) == 0 &&
             value <= UINT64_MAX / 1024) {
        out->is_number = 1;
        out->value = value * 1024;
    }
}

int
mm_smaps_next_extra(const char **pos, const char *end, mm_smaps_extra *out)
{
    const char *p = *pos;

    while (p < end) {
        const char *line_end = memchr(p, '\n', (size_t)(end - p));
        const char *colon;
        int in_kb;

        if (line_end == NULL) {
            line_end = end;
        }
        colon = memchr(p, ':', (size_t)(line_end - p));
        if (colon != NULL &&
            mm_smaps_field(p, (size_t)(colon - p), &in_kb) == -1) {
            out->key = p;
            out->key_len = (size_t)(colon - p);
            parse_extra_value(colon + 1, line_end, out);
            *pos = line_end < end ? line_end + 1 : end;
            return 1;
        }
        p = line_end < end ? line_end + 1 : end;
    }
    *pos = end;
    return 0;
}
