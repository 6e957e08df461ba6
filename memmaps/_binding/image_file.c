/* ImageFile: one Python type over the format readers of native/formats.
 *
 * An image is read from a file descriptor (duplicated, read with pread), a
 * bytes-like object, or a process's memory at the address its header was
 * loaded at.  Its format is told by its magic bytes unless the caller names
 * it, and each format fills the same small table of operations, so the
 * Python layer sees one kind of object whatever the system: build-id,
 * segments, header, symbol lookup.
 */
#include "binding.h"

#include "core/reader.h"
#include "core/symindex.h"
#include "formats/elf.h"
#include "formats/macho.h"
#include "formats/pe.h"
#include "pythread.h"

#include <errno.h>
#include <string.h>
#ifdef _WIN32
#include <windows.h>
#else
#include <time.h>
#include <unistd.h>
#endif

/* The bytes of an image: a duplicated descriptor, a buffer of the caller's,
 * or a process's memory; and the lock that makes one call at a time, since
 * the readers cache tables as they go while the GIL is released. */
typedef struct {
    int fd; /* a dup of the caller's descriptor, or -1 */
    Py_buffer bytes;
    mm_buffer buffer;
    mm_target target;        /* whose memory, and at which base: */
    mm_offset_reader memory; /* offsets from the image's header */
    PyThread_type_lock lock;
    mm_read_fn read; /* with ctx and size: what the reader is given */
    void *ctx;
    uint64_t size;
    /* The cancelled callback's state: set when a signal handler raised
     * (the exception is then pending), and when it last looked. */
    int stopped;
    uint64_t last_check_ms;
    int detached; /* load() let go of the bytes: nothing more is read */
} image_source;

/* How often, at most, a reader working without the GIL takes it back to
 * run the signal handlers: often enough that Ctrl-C stops a parse at once
 * for a person, rarely enough that other threads do not feel it. */
#define CANCEL_CHECK_MS 10

static uint64_t
monotonic_ms(void)
{
#ifdef _WIN32
    return (uint64_t)GetTickCount64();
#else
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
#endif
}

/* The readers' cancelled callback (core/reader.h): the handlers of the
 * signals that arrived (SIGINT's raises KeyboardInterrupt) run with the GIL
 * taken for a moment; an exception stops the work and stays pending for
 * the method to raise. */
static int
source_cancelled(void *ctx)
{
    image_source *source = ctx;
    uint64_t now;
    PyGILState_STATE gil;
    int raised;

    if (source->stopped) {
        return 1;
    }
    now = monotonic_ms();
    if (now - source->last_check_ms < CANCEL_CHECK_MS) {
        return 0;
    }
    source->last_check_ms = now;
    gil = PyGILState_Ensure();
    raised = PyErr_CheckSignals() < 0;
    PyGILState_Release(gil);
    source->stopped = raised;
    return raised;
}

/* Before work that may call source_cancelled without the GIL. */
static void
source_begin(image_source *source)
{
    source->stopped = 0;
    source->last_check_ms = monotonic_ms();
}

/* What the readers get: the bytes, their size, and the callback. */
static mm_source
source_for_reader(image_source *source)
{
    mm_source s = {
        .read = source->read,
        .ctx = source->ctx,
        .size = source->size,
        .cancelled = source_cancelled,
        .cancel_ctx = source,
    };
    return s;
}

static int
source_init(image_source *source)
{
    source->fd = -1;
    source->lock = PyThread_allocate_lock();
    if (source->lock == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    return 0;
}

/* Reads from an int (a descriptor, duplicated) or a bytes-like object. */
static int
source_open(image_source *source, PyObject *object, const char *who)
{
    if (PyLong_Check(object)) {
#ifdef _WIN32
        PyErr_Format(PyExc_TypeError,
                     "%s: file descriptors are not read on Windows; pass the "
                     "bytes",
                     who);
        return -1;
#else
        long fd = PyLong_AsLong(object);
        if (fd == -1 && PyErr_Occurred()) {
            return -1;
        }
        if (fd < 0 || fd > INT32_MAX) {
            PyErr_Format(PyExc_ValueError, "%s: %ld is not a file descriptor",
                         who, fd);
            return -1;
        }
        source->fd = dup((int)fd);
        if (source->fd < 0) {
            PyErr_SetFromErrno(PyExc_OSError);
            return -1;
        }
        source->read = mm_read_fd;
        source->ctx = &source->fd;
        source->size = mm_fd_size(source->fd);
        return 0;
#endif
    }
    if (PyObject_GetBuffer(object, &source->bytes, PyBUF_SIMPLE) < 0) {
        return -1;
    }
    source->buffer.data = source->bytes.buf;
    source->buffer.len = (size_t)source->bytes.len;
    source->read = mm_read_buffer;
    source->ctx = &source->buffer;
    source->size = (uint64_t)source->bytes.len;
    return 0;
}

/* Reads process pid's memory, offsets counting from base. */
static void
source_open_memory(image_source *source, const module_state *state, long pid,
                   uint64_t base)
{
    binding_target_init(state, &source->target, pid);
    source->memory.read = mm_read_target;
    source->memory.ctx = &source->target;
    source->memory.base = base;
    source->read = mm_read_offset;
    source->ctx = &source->memory;
    source->size = UINT64_MAX;
}

static void
source_lock(image_source *source)
{
    if (!PyThread_acquire_lock(source->lock, NOWAIT_LOCK)) {
        Py_BEGIN_ALLOW_THREADS
            PyThread_acquire_lock(source->lock, WAIT_LOCK);
        Py_END_ALLOW_THREADS
    }
}

/* Lets go of the descriptor or buffer.  The readers keep the callback and
 * its context, so a read after this fails cleanly: pread on -1, or a
 * buffer of no bytes. */
static void
source_detach(image_source *source)
{
#ifndef _WIN32
    if (source->fd >= 0) {
        close(source->fd);
        source->fd = -1;
    }
#endif
    if (source->bytes.obj != NULL) {
        PyBuffer_Release(&source->bytes);
    }
    source->buffer.data = NULL;
    source->buffer.len = 0;
    source->detached = 1;
}

static void
source_release(image_source *source)
{
    source_detach(source);
    if (source->lock != NULL) {
        PyThread_free_lock(source->lock);
        source->lock = NULL;
    }
}

/* ---- the formats ---- */

/* A symbol the way every format can say it. */
typedef struct {
    uint64_t value;   /* before the load bias (slide) */
    uint64_t size;    /* 0 where the format does not record one */
    const char *kind; /* "function", "object", "tls", "ifunc", "other" */
    int is_global;
    int is_absolute; /* not relative to the image: the bias does not apply */
} image_symbol;

typedef struct image_file image_file;

/* A symbol found by address. */
typedef struct {
    const char *name;    /* valid while the lock is held */
    const char *version; /* appended as name@version, or NULL */
    uint64_t value;
    uint64_t size;
    const char *kind;
} image_match;

typedef struct {
    const char *name;
    mm_status (*open)(image_file *self, int sections, uint32_t cputype,
                      int in_memory, mm_err *err);
    void (*close)(image_file *self);
    size_t (*build_id)(image_file *self, uint8_t *out, size_t cap);
    size_t (*debuglink)(image_file *self, char *out, size_t cap);
    PyObject *(*segments)(image_file *self);
    PyObject *(*header)(image_file *self);
    mm_status (*symbol)(image_file *self, const char *name,
                        uint64_t dynamic_bias, image_symbol *out, mm_err *err);
    /* DT_NEEDED and DT_SONAME into *out (mm_elf_names_free it); NULL for a
     * format that has not got them here. */
    mm_status (*names)(image_file *self, mm_elf_names *out, mm_err *err);
    /* The CRC32 after the debuglink name: 0 with *crc set, or -1. */
    int (*debuglink_crc)(image_file *self, uint32_t *crc);
    /* The symbol that holds vaddr (before the bias): MM_OK,
     * MM_ERR_NOT_FOUND, or an error.  Called without the GIL. */
    mm_status (*symbolize)(image_file *self, uint64_t vaddr, image_match *out,
                           mm_err *err);
    /* Reads every table the lookups need.  Called without the GIL. */
    mm_status (*load)(image_file *self, mm_err *err);
} image_format;

struct image_file {
    PyObject_HEAD
    const image_format *format;
    union {
        mm_elf elf;
        mm_macho macho;
        mm_pe pe;
    } reader;
    int opened;
    image_source source;
    /* What the loader added to DT_* addresses (an image read from memory):
     * for needed and soname, and symbol() when it is given none. */
    uint64_t dynamic_bias;
    PyObject *needed; /* tuple of str, once read */
    PyObject *soname; /* str or None, once read */
    int names_failed; /* the dynamic section is corrupt: names_error says */
    mm_err names_error;
    /* Read once and kept, so that they need no bytes after load(). */
    PyObject *build_id;      /* bytes or None */
    PyObject *debuglink;     /* str or None */
    PyObject *debuglink_crc; /* int or None */
    /* Mach-O: the address index, built on first use. */
    int macho_indexed;
    mm_symindex macho_index;
    /* PE: the exports by address, built on first use. */
    int pe_indexed;
    mm_symindex pe_index;
    /* "#ORDINAL" for each export that has no name, by export index past
     * the named ones: what symbolize() calls it. */
    char (*pe_ordinal_names)[12];
    size_t pe_named_count;
};

/* ELF (the System V gABI's constants, as formats/elf.c spells them). */
#define ELF_STT_OBJECT    1
#define ELF_STT_FUNC      2
#define ELF_STT_TLS       6
#define ELF_STT_GNU_IFUNC 10
#define ELF_STB_LOCAL     0
#define ELF_SHN_ABS       0xfff1

static mm_status
elf_open(image_file *self, int sections, uint32_t cputype, int in_memory,
         mm_err *err)
{
    mm_source source = source_for_reader(&self->source);

    (void)cputype;
    (void)in_memory;
    return mm_elf_open_source(&self->reader.elf, &source,
                              sections ? 0 : MM_ELF_NO_SECTIONS, err);
}

static void
elf_close(image_file *self)
{
    mm_elf_close(&self->reader.elf);
}

static size_t
elf_build_id(image_file *self, uint8_t *out, size_t cap)
{
    return mm_elf_build_id(&self->reader.elf, out, cap);
}

static size_t
elf_debuglink(image_file *self, char *out, size_t cap)
{
    return mm_elf_debuglink(&self->reader.elf, out, cap);
}

/* A tuple of count items, each made by item(items, index). */
static PyObject *
tuple_of(const void *items, size_t count,
         PyObject *(*item)(const void *items, size_t index))
{
    PyObject *tuple = PyTuple_New((Py_ssize_t)count);

    if (tuple == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < count; i++) {
        PyObject *one = item(items, i);
        if (one == NULL) {
            Py_DECREF(tuple);
            return NULL;
        }
        PyTuple_SET_ITEM(tuple, (Py_ssize_t)i, one);
    }
    return tuple;
}

static PyObject *
elf_segment_item(const void *items, size_t index)
{
    const mm_elf_segment *s = (const mm_elf_segment *)items + index;

    return Py_BuildValue(
        "(kkKKKKK)", (unsigned long)s->type, (unsigned long)s->flags,
        (unsigned long long)s->offset, (unsigned long long)s->vaddr,
        (unsigned long long)s->filesz, (unsigned long long)s->memsz,
        (unsigned long long)s->align);
}

static PyObject *
elf_segments(image_file *self)
{
    return tuple_of(self->reader.elf.segments, self->reader.elf.segment_count,
                    elf_segment_item);
}

static PyObject *
elf_header(image_file *self)
{
    const mm_elf *elf = &self->reader.elf;

    return Py_BuildValue("(iiiiK)", elf->is64, elf->big_endian, elf->type,
                         elf->machine, (unsigned long long)elf->entry);
}

static const char *
elf_kind(const mm_elf_symbol *symbol)
{
    return symbol->type == ELF_STT_FUNC        ? "function"
           : symbol->type == ELF_STT_OBJECT    ? "object"
           : symbol->type == ELF_STT_TLS       ? "tls"
           : symbol->type == ELF_STT_GNU_IFUNC ? "ifunc"
                                               : "other";
}

static mm_status
elf_symbol(image_file *self, const char *name, uint64_t dynamic_bias,
           image_symbol *out, mm_err *err)
{
    mm_elf_symbol symbol;
    mm_status status = mm_elf_find_symbol(&self->reader.elf, name,
                                          dynamic_bias, &symbol, err);

    if (status != MM_OK) {
        return status;
    }
    out->value = symbol.value;
    out->size = symbol.size;
    out->kind = elf_kind(&symbol);
    out->is_global = symbol.binding != ELF_STB_LOCAL;
    out->is_absolute = symbol.section == ELF_SHN_ABS;
    return MM_OK;
}

static mm_status
elf_names(image_file *self, mm_elf_names *out, mm_err *err)
{
    return mm_elf_dynamic_names(&self->reader.elf, self->dynamic_bias, out,
                                err);
}

static int
elf_debuglink_crc(image_file *self, uint32_t *crc)
{
    return mm_elf_debuglink_crc(&self->reader.elf, crc);
}

static mm_status
elf_symbolize(image_file *self, uint64_t vaddr, image_match *out, mm_err *err)
{
    mm_elf_match match;
    mm_status status = mm_elf_symbolize(&self->reader.elf, vaddr,
                                        self->dynamic_bias, &match, err);

    if (status != MM_OK) {
        return status;
    }
    out->name = match.name;
    /* A hidden version is named: name@VERSION finds it again with
     * symbol(), where the plain name would find the default one. */
    out->version = match.hidden ? match.version : NULL;
    out->value = match.symbol.value;
    out->size = match.symbol.size;
    out->kind = elf_kind(&match.symbol);
    return MM_OK;
}

static mm_status
elf_load(image_file *self, mm_err *err)
{
    mm_status status =
        mm_elf_load_symbols(&self->reader.elf, self->dynamic_bias, err);

    if (status == MM_OK) {
        mm_elf_freeze(&self->reader.elf);
    }
    return status;
}

static const image_format elf_format = {
    .name = "elf",
    .open = elf_open,
    .close = elf_close,
    .build_id = elf_build_id,
    .debuglink = elf_debuglink,
    .segments = elf_segments,
    .header = elf_header,
    .symbol = elf_symbol,
    .names = elf_names,
    .debuglink_crc = elf_debuglink_crc,
    .symbolize = elf_symbolize,
    .load = elf_load,
};

/* Mach-O (n_type bits of <mach-o/nlist.h>). */
#define MACHO_N_TYPE 0x0eu
#define MACHO_N_EXT  0x01u
#define MACHO_N_ABS  0x02u

static mm_status
macho_open(image_file *self, int sections, uint32_t cputype, int in_memory,
           mm_err *err)
{
    (void)sections;
    return mm_macho_open(&self->reader.macho, self->source.read,
                         self->source.ctx, self->source.size, cputype,
                         in_memory ? MM_MACHO_MEMORY : 0, err);
}

static void
macho_close(image_file *self)
{
    mm_macho_close(&self->reader.macho);
}

static size_t
macho_build_id(image_file *self, uint8_t *out, size_t cap)
{
    const mm_macho *macho = &self->reader.macho;

    if (!macho->has_uuid || cap < sizeof(macho->uuid)) {
        return 0;
    }
    memcpy(out, macho->uuid, sizeof(macho->uuid));
    return sizeof(macho->uuid);
}

static PyObject *
macho_segment_item(const void *items, size_t index)
{
    const mm_macho_segment *s = (const mm_macho_segment *)items + index;

    return Py_BuildValue(
        "(NKKKKkk)",
        PyUnicode_DecodeASCII(s->name, (Py_ssize_t)strlen(s->name),
                              "backslashreplace"),
        (unsigned long long)s->vmaddr, (unsigned long long)s->vmsize,
        (unsigned long long)s->fileoff, (unsigned long long)s->filesize,
        (unsigned long)s->maxprot, (unsigned long)s->initprot);
}

static PyObject *
macho_segments(image_file *self)
{
    return tuple_of(self->reader.macho.segments,
                    self->reader.macho.segment_count, macho_segment_item);
}

static PyObject *
macho_header(image_file *self)
{
    const mm_macho *macho = &self->reader.macho;

    return Py_BuildValue("(ikkkk)", macho->is64, (unsigned long)macho->cputype,
                         (unsigned long)macho->cpusubtype,
                         (unsigned long)macho->filetype,
                         (unsigned long)macho->flags);
}

static mm_status
macho_symbol(image_file *self, const char *name, uint64_t dynamic_bias,
             image_symbol *out, mm_err *err)
{
    mm_macho_symbol symbol;
    mm_status status;

    (void)dynamic_bias; /* dyld does not rewrite the symbol table */
    status = mm_macho_find_symbol(&self->reader.macho, name, &symbol, err);
    if (status != MM_OK) {
        return status;
    }
    out->value = symbol.value;
    out->size = 0; /* nlist records no size */
    out->kind = "other";
    out->is_global = (symbol.type & MACHO_N_EXT) != 0;
    out->is_absolute = (symbol.type & MACHO_N_TYPE) == MACHO_N_ABS;
    return MM_OK;
}

/* The segment that holds vmaddr, or NULL. */
static const mm_macho_segment *
macho_segment_of(const mm_macho *macho, uint64_t vmaddr)
{
    for (size_t i = 0; i < macho->segment_count; i++) {
        const mm_macho_segment *s = &macho->segments[i];
        if (vmaddr >= s->vmaddr && vmaddr - s->vmaddr < s->vmsize) {
            return s;
        }
    }
    return NULL;
}

/* A symbol's address while an address index is made (Mach-O and PE record
 * no sizes: each symbol is sized by the next one), with its place in the
 * image's table and, for Mach-O, its section. */
typedef struct {
    uint64_t value;
    uint32_t id;
    uint8_t section;
} symbol_point;

/* By address, then by place in the table, so aliases keep the table's
 * order whatever qsort does. */
static int
symbol_point_order(const void *a, const void *b)
{
    const symbol_point *x = a, *y = b;

    if (x->value != y->value) {
        return x->value < y->value ? -1 : 1;
    }
    return x->id < y->id ? -1 : x->id > y->id;
}

/* Builds the address index of a Mach-O image.  nlist records no size: a
 * symbol holds the addresses up to the next symbol of the same section,
 * the last one of a section up to the end of that section (of its segment
 * when the section is not known).  N_ABS symbols hold no address of the
 * image; stabs and undefined ones are left out. */
static mm_status
macho_index(image_file *self, mm_err *err)
{
    mm_macho *macho = &self->reader.macho;
    size_t count = 0, n = 0;
    uint64_t next_start[256];
    int has_next[256];
    uint64_t last_start[256];
    int has_last[256];
    symbol_point *points;
    mm_symaddr *entries;
    mm_source source = source_for_reader(&self->source);
    mm_status status;

    if (self->macho_indexed) {
        return MM_OK;
    }
    status = mm_macho_symbol_count(macho, &count, err);
    if (status == MM_ERR_NOT_FOUND) {
        count = 0;
    }
    else if (status != MM_OK) {
        return status;
    }
    points = malloc((count ? count : 1) * sizeof(*points));
    if (points == NULL) {
        return mm_err_set(err, MM_ERR_NOMEM, 0, "out of memory");
    }
    for (size_t i = 0; i < count; i++) {
        const char *name;
        mm_macho_symbol sym;
        mm_err ignored;
        if (i % MM_CANCEL_STRIDE == 0 && mm_source_cancelled(&source)) {
            free(points);
            return mm_cancelled_error(err);
        }
        if (mm_macho_symbol_at(macho, i, &name, &sym, &ignored) != MM_OK ||
            name[0] == '\0' || (sym.type & MACHO_N_TYPE) == MACHO_N_ABS ||
            sym.section == 0) {
            continue;
        }
        points[n].value = sym.value;
        points[n].id = (uint32_t)i;
        points[n].section = sym.section;
        n++;
    }
    qsort(points, n, sizeof(*points), symbol_point_order);
    entries = malloc((n ? n : 1) * sizeof(*entries));
    if (entries == NULL) {
        free(points);
        return mm_err_set(err, MM_ERR_NOMEM, 0, "out of memory");
    }
    memset(has_next, 0, sizeof(has_next));
    memset(has_last, 0, sizeof(has_last));
    /* From the highest address down, the start of the next higher symbol
     * of each section (aliases at one address share their end). */
    for (size_t i = n; i-- > 0;) {
        const symbol_point *p = &points[i];
        const mm_macho_segment *segment = macho_segment_of(macho, p->value);
        mm_symaddr *e = &entries[i];
        const char *name;
        mm_macho_symbol sym;
        mm_err ignored;
        uint8_t k = p->section;
        if (has_last[k] && p->value < last_start[k]) {
            next_start[k] = last_start[k];
            has_next[k] = 1;
        }
        last_start[k] = p->value;
        has_last[k] = 1;
        e->start = p->value;
        e->id = p->id;
        e->flags = MM_SYMADDR_SIZED;
        e->end = p->value;
        if (segment != NULL) {
            e->end = segment->vmaddr + segment->vmsize;
            if (segment->initprot & 4) {
                e->flags |= MM_SYMADDR_FUNCTION;
            }
        }
        if (k <= macho->section_count) {
            /* No further than the end of its section. */
            uint64_t addr = macho->section_addr[k - 1];
            uint64_t size = macho->section_size[k - 1];
            if (p->value >= addr && p->value - addr < size &&
                addr + size < e->end) {
                e->end = addr + size;
            }
        }
        if (has_next[k] && next_start[k] < e->end) {
            e->end = next_start[k];
        }
        if (e->end < e->start) {
            e->end = e->start;
        }
        if (mm_macho_symbol_at(macho, p->id, &name, &sym, &ignored) == MM_OK &&
            (sym.type & MACHO_N_EXT)) {
            e->flags |= MM_SYMADDR_GLOBAL;
        }
    }
    free(points);
    status = mm_symindex_build(&self->macho_index, entries, n, &source, err);
    if (status == MM_OK) {
        self->macho_indexed = 1;
    }
    return status;
}

static mm_status
macho_symbolize(image_file *self, uint64_t vaddr, image_match *out,
                mm_err *err)
{
    const mm_symaddr *found;
    const char *name;
    mm_macho_symbol sym;
    mm_status status = macho_index(self, err);

    if (status != MM_OK) {
        return status;
    }
    found = mm_symindex_find(&self->macho_index, vaddr);
    if (found == NULL) {
        return mm_err_set(err, MM_ERR_NOT_FOUND, 0, "no symbol holds it");
    }
    status =
        mm_macho_symbol_at(&self->reader.macho, found->id, &name, &sym, err);
    if (status != MM_OK) {
        return status;
    }
    out->name = name;
    out->version = NULL;
    out->value = sym.value;
    /* What the index gave it: nlist has no size of its own. */
    out->size = found->end - found->start;
    out->kind = "other";
    return MM_OK;
}

static mm_status
macho_load(image_file *self, mm_err *err)
{
    return macho_index(self, err);
}

static const image_format macho_format = {
    .name = "macho",
    .open = macho_open,
    .close = macho_close,
    .build_id = macho_build_id,
    .segments = macho_segments,
    .header = macho_header,
    .symbol = macho_symbol,
    .symbolize = macho_symbolize,
    .load = macho_load,
};

/* PE: symbols are the export table's, values ImageBase + RVA (so that the
 * bias is load base - ImageBase, as for the other formats). */

static mm_status
pe_open(image_file *self, int sections, uint32_t cputype, int in_memory,
        mm_err *err)
{
    mm_source source = source_for_reader(&self->source);

    (void)sections;
    (void)cputype;
    return mm_pe_open_source(&self->reader.pe, &source,
                             in_memory ? MM_PE_MEMORY : 0, err);
}

static void
pe_close(image_file *self)
{
    mm_pe_close(&self->reader.pe);
}

static size_t
pe_build_id(image_file *self, uint8_t *out, size_t cap)
{
    return mm_pe_build_id(&self->reader.pe, out, cap);
}

/* A name from the image as str: bytes that are not UTF-8 survive as
 * surrogates, as in match_tuple; NULL gives None. */
static PyObject *
pe_text(const char *text)
{
    if (text == NULL) {
        Py_RETURN_NONE;
    }
    return PyUnicode_DecodeUTF8(text, (Py_ssize_t)strlen(text),
                                "surrogateescape");
}

/* (name, vaddr, vsize, raw_offset, raw_size, characteristics, prot) of
 * each section, vaddr = ImageBase + RVA like every other value. */
static PyObject *
pe_segments(image_file *self)
{
    const mm_pe *pe = &self->reader.pe;
    PyObject *tuple = PyTuple_New((Py_ssize_t)pe->section_count);

    if (tuple == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < pe->section_count; i++) {
        const mm_pe_section *s = &pe->sections[i];
        PyObject *one = Py_BuildValue(
            "(NKkkkkk)", pe_text(s->name),
            (unsigned long long)(pe->image_base + s->virtual_address),
            (unsigned long)s->virtual_size, (unsigned long)s->raw_offset,
            (unsigned long)s->raw_size, (unsigned long)s->characteristics,
            (unsigned long)s->prot);
        if (one == NULL) {
            Py_DECREF(tuple);
            return NULL;
        }
        PyTuple_SET_ITEM(tuple, (Py_ssize_t)i, one);
    }
    return tuple;
}

static PyObject *
pe_header(image_file *self)
{
    const mm_pe *pe = &self->reader.pe;

    return Py_BuildValue("(ikkKk)", pe->is64, (unsigned long)pe->machine,
                         (unsigned long)pe->characteristics,
                         (unsigned long long)pe->image_base,
                         (unsigned long)pe->size_of_image);
}

/* "function" for an export in an executable section, else "object". */
static const char *
pe_kind(const mm_pe *pe, uint32_t rva)
{
    const mm_pe_section *s = mm_pe_section_at(pe, rva);

    return s != NULL && (s->prot & MM_PROT_EXEC) ? "function" : "object";
}

static mm_status
pe_symbol(image_file *self, const char *name, uint64_t dynamic_bias,
          image_symbol *out, mm_err *err)
{
    mm_pe *pe = &self->reader.pe;
    mm_pe_export e;
    mm_status status;

    (void)dynamic_bias;
    status = mm_pe_find_export(pe, name, &e, err);
    if (status == MM_ERR_NOT_FOUND && name[0] == '#' && name[1] >= '0' &&
        name[1] <= '9') {
        /* "#12": ordinal 12, as a forwarder string spells it. */
        char *end;
        unsigned long ordinal = strtoul(name + 1, &end, 10);
        if (*end == '\0' && ordinal <= UINT32_MAX) {
            status = mm_pe_find_ordinal(pe, (uint32_t)ordinal, &e, err);
        }
    }
    if (status != MM_OK) {
        return status;
    }
    if (e.forwarder != NULL) {
        /* Its code is another DLL's: exports() names which. */
        return mm_err_set(err, MM_ERR_NOT_FOUND, 0, "%s is forwarded to %s",
                          name, e.forwarder);
    }
    out->value = pe->image_base + e.rva;
    out->size = 0;
    out->kind = pe_kind(pe, e.rva);
    out->is_global = 1;
    out->is_absolute = 0;
    return MM_OK;
}

/* The named exports that are this image's own code or data, by address:
 * each holds the addresses up to the next one, and never past the end of
 * its section. */
static mm_status
pe_index(image_file *self, mm_err *err)
{
    mm_pe *pe = &self->reader.pe;
    mm_source source = source_for_reader(&self->source);
    size_t count = 0, n = 0;
    symbol_point *points;
    mm_symaddr *entries;
    mm_status status;

    if (self->pe_indexed) {
        return MM_OK;
    }
    status = mm_pe_export_count(pe, &count, err);
    if (status == MM_ERR_NOT_FOUND) {
        count = 0;
    }
    else if (status != MM_OK) {
        return status;
    }
    points = malloc((count ? count : 1) * sizeof(*points));
    if (points == NULL) {
        return mm_err_set(err, MM_ERR_NOMEM, 0, "out of memory");
    }
    for (size_t i = 0; i < count; i++) {
        mm_pe_export e;
        mm_err ignored;
        if (mm_pe_export_at(pe, i, &e, &ignored) != MM_OK ||
            e.forwarder != NULL) {
            continue;
        }
        if (e.name == NULL) {
            if (self->pe_ordinal_names == NULL) {
                /* Ordinal-only exports come last: i is the first. */
                self->pe_named_count = i;
                self->pe_ordinal_names =
                    calloc(count - i, sizeof(*self->pe_ordinal_names));
                if (self->pe_ordinal_names == NULL) {
                    free(points);
                    return mm_err_set(err, MM_ERR_NOMEM, 0, "out of memory");
                }
            }
            snprintf(self->pe_ordinal_names[i - self->pe_named_count],
                     sizeof(self->pe_ordinal_names[0]), "#%lu",
                     (unsigned long)e.ordinal);
        }
        points[n].value = pe->image_base + e.rva;
        points[n].id = (uint32_t)i;
        points[n].section = 0;
        n++;
    }
    qsort(points, n, sizeof(*points), symbol_point_order);
    entries = malloc((n ? n : 1) * sizeof(*entries));
    if (entries == NULL) {
        free(points);
        return mm_err_set(err, MM_ERR_NOMEM, 0, "out of memory");
    }
    for (size_t i = n, next = n; i-- > 0;) {
        const symbol_point *p = &points[i];
        uint32_t rva = (uint32_t)(p->value - pe->image_base);
        const mm_pe_section *s = mm_pe_section_at(pe, rva);
        mm_symaddr *e = &entries[i];
        /* next: the first point above this address, aliases skipped. */
        if (i + 1 < n && points[i + 1].value != p->value) {
            next = i + 1;
        }
        e->start = p->value;
        e->id = p->id;
        e->flags = MM_SYMADDR_SIZED | MM_SYMADDR_GLOBAL;
        e->end = p->value;
        if (s != NULL) {
            uint32_t extent = s->virtual_size ? s->virtual_size : s->raw_size;
            e->end = pe->image_base + s->virtual_address + extent;
            if (s->prot & MM_PROT_EXEC) {
                e->flags |= MM_SYMADDR_FUNCTION;
            }
        }
        if (next < n && points[next].value < e->end) {
            e->end = points[next].value;
        }
        if (e->end < e->start) {
            e->end = e->start;
        }
    }
    free(points);
    status = mm_symindex_build(&self->pe_index, entries, n, &source, err);
    if (status == MM_OK) {
        self->pe_indexed = 1;
    }
    return status;
}

static mm_status
pe_symbolize(image_file *self, uint64_t vaddr, image_match *out, mm_err *err)
{
    const mm_symaddr *found;
    mm_pe_export e;
    mm_status status = pe_index(self, err);

    if (status != MM_OK) {
        return status;
    }
    found = mm_symindex_find(&self->pe_index, vaddr);
    if (found == NULL) {
        return mm_err_set(err, MM_ERR_NOT_FOUND, 0, "no export holds it");
    }
    status = mm_pe_export_at(&self->reader.pe, found->id, &e, err);
    if (status != MM_OK) {
        return status;
    }
    out->name = e.name != NULL
                    ? e.name
                    : self->pe_ordinal_names[found->id - self->pe_named_count];
    out->version = NULL;
    out->value = found->start;
    out->size = found->end - found->start;
    out->kind = pe_kind(&self->reader.pe, e.rva);
    return MM_OK;
}

static mm_status
pe_load(image_file *self, mm_err *err)
{
    return pe_index(self, err);
}

static const image_format pe_format = {
    .name = "pe",
    .open = pe_open,
    .close = pe_close,
    .build_id = pe_build_id,
    .segments = pe_segments,
    .header = pe_header,
    .symbol = pe_symbol,
    .symbolize = pe_symbolize,
    .load = pe_load,
};

/* The format named, or told by the first four bytes of the source. */
static const image_format *
choose_format(const image_source *source, const char *named)
{
    static const uint32_t macho_magics[] = {
        0xfeedfaceu, 0xfeedfacfu, 0xcefaedfeu,
        0xcffaedfeu, 0xcafebabeu, 0xbebafecau,
    };
    uint8_t magic[4];
    uint32_t big;

    if (named != NULL) {
        if (strcmp(named, "elf") == 0) {
            return &elf_format;
        }
        if (strcmp(named, "macho") == 0) {
            return &macho_format;
        }
        if (strcmp(named, "pe") == 0) {
            return &pe_format;
        }
        PyErr_Format(PyExc_ValueError,
                     "ImageFile: format must be 'elf', 'macho', 'pe' or None, "
                     "not "
                     "'%.50s'",
                     named);
        return NULL;
    }
    if (source->read(source->ctx, 0, magic, sizeof(magic)) != 0) {
        return &elf_format; /* let the reader say what is wrong */
    }
    if (memcmp(magic,
               "\x7f"
               "ELF",
               4) == 0) {
        return &elf_format;
    }
    big = (uint32_t)magic[0] << 24 | (uint32_t)magic[1] << 16 |
          (uint32_t)magic[2] << 8 | magic[3];
    for (size_t i = 0; i < sizeof(macho_magics) / sizeof(macho_magics[0]);
         i++) {
        if (big == macho_magics[i]) {
            return &macho_format;
        }
    }
    if (mm_pe_magic(magic, sizeof(magic))) {
        return &pe_format;
    }
    return &elf_format; /* it will name what it found instead of ELF */
}

/* ---- the type ---- */

/* Raises what a reader's failure means: the pending exception of a signal
 * handler for MM_ERR_CANCELLED, else the memmaps error for err. */
static PyObject *
raise_failure(image_file *self, mm_status status, const mm_err *err)
{
    module_state *state = PyType_GetModuleState(Py_TYPE(self));

    if (status == MM_ERR_CANCELLED || self->source.stopped) {
        if (PyErr_Occurred()) {
            return NULL;
        }
        PyErr_SetString(PyExc_KeyboardInterrupt, "interrupted");
        return NULL;
    }
    return raise_native_error(state, err, -1, NULL, 0);
}

/* Takes the ImageFile's lock (other threads may use it) and readies the
 * cancelled callback; the GIL is still held. */
static void
begin_call(image_file *self)
{
    source_lock(&self->source);
    source_begin(&self->source);
}

static void
end_call(image_file *self)
{
    PyThread_release_lock(self->source.lock);
}

static PyObject *
image_file_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"source",       "format", "sections",
                               "cputype",      "pid",    "load_address",
                               "dynamic_bias", "memory", NULL};
    PyObject *object = Py_None, *pid_object = Py_None;
    const char *format_name = NULL;
    int sections = 1, in_memory = 0;
    unsigned long cputype = MM_MACHO_CPU_ANY;
    unsigned long long load_address = 0, dynamic_bias = 0;
    image_file *self;
    mm_err err;
    mm_status status;

    if (!PyArg_ParseTupleAndKeywords(
            args, kwargs, "|O$zpkOKKp:ImageFile", keywords, &object,
            &format_name, &sections, &cputype, &pid_object, &load_address,
            &dynamic_bias, &in_memory)) {
        return NULL;
    }
    if ((object == Py_None) == (pid_object == Py_None)) {
        PyErr_SetString(PyExc_TypeError,
                        "ImageFile: give either a source or a pid");
        return NULL;
    }
    self = (image_file *)type->tp_alloc(type, 0);
    if (self == NULL) {
        return NULL;
    }
    self->dynamic_bias = dynamic_bias;
    if (source_init(&self->source) < 0) {
        Py_DECREF(self);
        return NULL;
    }
    if (pid_object != Py_None) {
        long pid = PyLong_AsLong(pid_object);
        if (pid == -1 && PyErr_Occurred()) {
            Py_DECREF(self);
            return NULL;
        }
        source_open_memory(&self->source, PyType_GetModuleState(Py_TYPE(self)),
                           pid, load_address);
        in_memory = 1;
    }
    else if (source_open(&self->source, object, "ImageFile") < 0) {
        Py_DECREF(self);
        return NULL;
    }
    self->format = choose_format(&self->source, format_name);
    if (self->format == NULL) {
        Py_DECREF(self);
        return NULL;
    }
    memset(&err, 0, sizeof(err));
    source_begin(&self->source);
    Py_BEGIN_ALLOW_THREADS
        status = self->format->open(self, sections, (uint32_t)cputype,
                                    in_memory, &err);
    Py_END_ALLOW_THREADS
    if (status != MM_OK) {
        PyObject *type_, *value, *traceback;
        raise_failure(self, status, &err);
        PyErr_Fetch(&type_, &value, &traceback);
        Py_DECREF(self);
        PyErr_Restore(type_, value, traceback);
        return NULL;
    }
    self->opened = 1;
    return (PyObject *)self;
}

static void
image_file_dealloc(image_file *self)
{
    PyTypeObject *type = Py_TYPE(self);

    if (self->opened) {
        self->format->close(self);
    }
    mm_symindex_free(&self->macho_index);
    mm_symindex_free(&self->pe_index);
    free(self->pe_ordinal_names);
    Py_CLEAR(self->needed);
    Py_CLEAR(self->soname);
    Py_CLEAR(self->build_id);
    Py_CLEAR(self->debuglink);
    Py_CLEAR(self->debuglink_crc);
    source_release(&self->source);
    type->tp_free((PyObject *)self);
    Py_DECREF(type);
}

PyDoc_STRVAR(image_file_symbol_doc,
             "symbol($self, name, dynamic_bias=None, /)\n--\n\n"
             "(value, size, kind, is_global, is_absolute) of the defined\n"
             "symbol with that name, or None.  name is a plain name, or\n"
             "name@VERSION (that version, hidden or default) or\n"
             "name@@VERSION (only the default one).  value is before the\n"
             "load bias; is_absolute (SHN_ABS, Mach-O N_ABS) says the bias\n"
             "does not apply.  size is 0 where the format records none\n"
             "(Mach-O); kind is 'function', 'object', 'tls', 'ifunc' or\n"
             "'other'.  dynamic_bias is what the loader added to the dynamic\n"
             "section's addresses of an ELF image read from memory (the\n"
             "ImageFile's own dynamic_bias when it is not given).");

static PyObject *
image_file_symbol(image_file *self, PyObject *args)
{
    const char *name;
    Py_ssize_t name_len;
    unsigned long long dynamic_bias = self->dynamic_bias;
    PyObject *bias_object = Py_None;
    image_symbol symbol;
    mm_err err;
    mm_status status;

    if (!PyArg_ParseTuple(args, "s#|O:symbol", &name, &name_len,
                          &bias_object)) {
        return NULL;
    }
    if (bias_object != Py_None) {
        dynamic_bias = PyLong_AsUnsignedLongLong(bias_object);
        if (dynamic_bias == (unsigned long long)-1 && PyErr_Occurred()) {
            return NULL;
        }
    }
    if ((size_t)name_len != strlen(name)) {
        PyErr_SetString(PyExc_ValueError, "symbol: name has a NUL character");
        return NULL;
    }
    memset(&err, 0, sizeof(err));
    begin_call(self);
    Py_BEGIN_ALLOW_THREADS
        status = self->format->symbol(self, name, dynamic_bias, &symbol, &err);
    Py_END_ALLOW_THREADS
    end_call(self);
    if (status == MM_ERR_NOT_FOUND && !self->source.stopped) {
        Py_RETURN_NONE;
    }
    if (status != MM_OK) {
        return raise_failure(self, status, &err);
    }
    return Py_BuildValue("(KKsOO)", (unsigned long long)symbol.value,
                         (unsigned long long)symbol.size, symbol.kind,
                         symbol.is_global ? Py_True : Py_False,
                         symbol.is_absolute ? Py_True : Py_False);
}

/* (name, value, size, kind) for a match. */
static PyObject *
match_tuple(const image_match *m)
{
    PyObject *name;

    if (m->version != NULL) {
        name = PyUnicode_FromFormat("%s@%s", m->name, m->version);
    }
    else {
        name = PyUnicode_DecodeUTF8(m->name, (Py_ssize_t)strlen(m->name),
                                    "surrogateescape");
    }
    if (name == NULL) {
        return NULL;
    }
    return Py_BuildValue("(NKKs)", name, (unsigned long long)m->value,
                         (unsigned long long)m->size, m->kind);
}

/* Looks count addresses up, without the GIL: found[i] says whether out[i]
 * was filled.  MM_OK, or the first failure that is not "not found". */
static mm_status
symbolize_all(image_file *self, const uint64_t *vaddrs, size_t count,
              image_match *out, char *found, mm_err *err)
{
    mm_status status = MM_OK;

    Py_BEGIN_ALLOW_THREADS
        for (size_t i = 0; i < count; i++) {
            mm_status one =
                self->format->symbolize(self, vaddrs[i], &out[i], err);
            found[i] = one == MM_OK;
            if (one != MM_OK && one != MM_ERR_NOT_FOUND) {
                status = one;
                break;
            }
        }
    Py_END_ALLOW_THREADS
    return status;
}

PyDoc_STRVAR(image_file_symbolize_doc,
             "symbolize($self, vaddr, /)\n--\n\n"
             "(name, value, size, kind) of the symbol that holds vaddr, a\n"
             "virtual address of the file (the runtime address minus the\n"
             "load bias), or None.  Of several, a global one over a local\n"
             "one, a function over anything else, then the smallest.  A\n"
             "symbol of no size in code holds the addresses up to the next\n"
             "symbol, and never past the end of its section (ELF).  A\n"
             "hidden version from .dynsym is named name@VERSION.  Mach-O:\n"
             "a symbol holds the addresses up to the next one of its\n"
             "section; size says how many, kind is 'other'.  The tables\n"
             "are indexed by address on first use.");

static PyObject *
image_file_symbolize(image_file *self, PyObject *arg)
{
    unsigned long long vaddr = PyLong_AsUnsignedLongLong(arg);
    uint64_t address;
    image_match match;
    char found = 0;
    mm_err err;
    mm_status status;

    if (vaddr == (unsigned long long)-1 && PyErr_Occurred()) {
        return NULL;
    }
    address = vaddr;
    memset(&err, 0, sizeof(err));
    begin_call(self);
    status = symbolize_all(self, &address, 1, &match, &found, &err);
    if (status != MM_OK || self->source.stopped) {
        end_call(self);
        return raise_failure(self, status, &err);
    }
    if (!found) {
        end_call(self);
        Py_RETURN_NONE;
    }
    /* The name points into the tables: copied while the lock holds
     * them. */
    {
        PyObject *result = match_tuple(&match);
        end_call(self);
        return result;
    }
}

PyDoc_STRVAR(image_file_symbolize_many_doc,
             "symbolize_many($self, vaddrs, /)\n--\n\n"
             "[symbolize(v) for v in vaddrs], in one call that searches\n"
             "without the GIL: a list of (name, value, size, kind) or None.");

static PyObject *
image_file_symbolize_many(image_file *self, PyObject *arg)
{
    PyObject *seq = PySequence_Fast(arg, "symbolize_many: vaddrs must be an "
                                         "iterable of int");
    Py_ssize_t count;
    uint64_t *vaddrs = NULL;
    image_match *matches = NULL;
    char *found = NULL;
    PyObject *result = NULL;
    mm_err err;
    mm_status status;

    if (seq == NULL) {
        return NULL;
    }
    count = PySequence_Fast_GET_SIZE(seq);
    vaddrs = PyMem_Malloc((size_t)(count ? count : 1) * sizeof(*vaddrs));
    matches = PyMem_Malloc((size_t)(count ? count : 1) * sizeof(*matches));
    found = PyMem_Malloc((size_t)(count ? count : 1));
    if (vaddrs == NULL || matches == NULL || found == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *item = PySequence_Fast_GET_ITEM(seq, i);
        unsigned long long v = PyLong_AsUnsignedLongLong(item);
        if (v == (unsigned long long)-1 && PyErr_Occurred()) {
            goto done;
        }
        vaddrs[i] = v;
    }
    memset(&err, 0, sizeof(err));
    begin_call(self);
    status = symbolize_all(self, vaddrs, (size_t)count, matches, found, &err);
    if (status != MM_OK || self->source.stopped) {
        end_call(self);
        raise_failure(self, status, &err);
        goto done;
    }
    result = PyList_New(count);
    for (Py_ssize_t i = 0; result != NULL && i < count; i++) {
        PyObject *one =
            found[i] ? match_tuple(&matches[i]) : Py_NewRef(Py_None);
        if (one == NULL) {
            Py_CLEAR(result);
            break;
        }
        PyList_SET_ITEM(result, i, one);
    }
    end_call(self);

done:
    PyMem_Free(vaddrs);
    PyMem_Free(matches);
    PyMem_Free(found);
    Py_DECREF(seq);
    return result;
}

static PyObject *
image_file_get_format(image_file *self, void *closure)
{
    (void)closure;
    return PyUnicode_FromString(self->format->name);
}

/* Reads the build-id, the debuglink and its CRC once into the object (a
 * few hundred bytes; the notes search is bounded); 0, or -1 with an
 * exception set. */
static int
read_identity(image_file *self)
{
    uint8_t id[MM_BUILD_ID_MAX];
    char name[MM_ELF_DEBUGLINK_MAX + 1];
    size_t id_len = 0, name_len = 0;
    uint32_t crc = 0;
    int has_crc = 0;

    if (self->build_id != NULL) {
        return 0;
    }
    begin_call(self);
    Py_BEGIN_ALLOW_THREADS
        id_len = self->format->build_id(self, id, sizeof(id));
        if (self->format->debuglink != NULL) {
            name_len = self->format->debuglink(self, name, sizeof(name));
        }
        if (self->format->debuglink_crc != NULL) {
            has_crc = self->format->debuglink_crc(self, &crc) == 0;
        }
    Py_END_ALLOW_THREADS
    end_call(self);
    if (self->source.stopped) {
        raise_failure(self, MM_ERR_CANCELLED, NULL);
        return -1;
    }
    self->debuglink =
        name_len > 0 ? PyUnicode_DecodeFSDefault(name) : Py_NewRef(Py_None);
    self->debuglink_crc =
        has_crc ? PyLong_FromUnsignedLong(crc) : Py_NewRef(Py_None);
    if (id_len > sizeof(id)) {
        id_len = sizeof(id);
    }
    self->build_id = id_len > 0 ? PyBytes_FromStringAndSize((const char *)id,
                                                            (Py_ssize_t)id_len)
                                : Py_NewRef(Py_None);
    if (self->build_id == NULL || self->debuglink == NULL ||
        self->debuglink_crc == NULL) {
        Py_CLEAR(self->build_id);
        Py_CLEAR(self->debuglink);
        Py_CLEAR(self->debuglink_crc);
        return -1;
    }
    return 0;
}

static PyObject *
image_file_get_build_id(image_file *self, void *closure)
{
    (void)closure;
    return read_identity(self) < 0 ? NULL : Py_NewRef(self->build_id);
}

static PyObject *
image_file_get_debuglink(image_file *self, void *closure)
{
    (void)closure;
    return read_identity(self) < 0 ? NULL : Py_NewRef(self->debuglink);
}

static PyObject *
image_file_get_debuglink_crc(image_file *self, void *closure)
{
    (void)closure;
    return read_identity(self) < 0 ? NULL : Py_NewRef(self->debuglink_crc);
}

/* Reads DT_NEEDED and DT_SONAME once into self->needed and self->soname;
 * 0, or -1 with an exception set. */
static int
read_names(image_file *self)
{
    mm_elf_names names;
    PyObject *needed, *soname;
    mm_err err;
    mm_status status;

    if (self->needed != NULL) {
        return 0;
    }
    if (self->names_failed) {
        raise_failure(self, MM_ERR_PARSE, &self->names_error);
        return -1;
    }
    if (self->format->names == NULL) {
        PyErr_Format(PyExc_NotImplementedError,
                     "ImageFile: the needed libraries and soname of a %s "
                     "image are not read",
                     self->format->name);
        return -1;
    }
    memset(&err, 0, sizeof(err));
    begin_call(self);
    Py_BEGIN_ALLOW_THREADS
        status = self->format->names(self, &names, &err);
    Py_END_ALLOW_THREADS
    end_call(self);
    if (status != MM_OK || self->source.stopped) {
        if (status == MM_OK) {
            mm_elf_names_free(&names);
        }
        if (status == MM_ERR_PARSE && !self->source.stopped) {
            self->names_failed = 1;
            self->names_error = err;
        }
        raise_failure(self, status, &err);
        return -1;
    }
    needed = PyTuple_New((Py_ssize_t)names.needed_count);
    soname = NULL;
    for (size_t i = 0; needed != NULL && i < names.needed_count; i++) {
        PyObject *one = PyUnicode_DecodeFSDefault(names.needed[i]);
        if (one == NULL) {
            Py_CLEAR(needed);
            break;
        }
        PyTuple_SET_ITEM(needed, (Py_ssize_t)i, one);
    }
    if (needed != NULL) {
        soname = names.soname != NULL ? PyUnicode_DecodeFSDefault(names.soname)
                                      : Py_NewRef(Py_None);
    }
    mm_elf_names_free(&names);
    if (soname == NULL) {
        Py_XDECREF(needed);
        return -1;
    }
    self->needed = needed;
    self->soname = soname;
    return 0;
}

static PyObject *
image_file_get_needed(image_file *self, void *closure)
{
    (void)closure;
    if (read_names(self) < 0) {
        return NULL;
    }
    return Py_NewRef(self->needed);
}

static PyObject *
image_file_get_soname(image_file *self, void *closure)
{
    (void)closure;
    if (read_names(self) < 0) {
        return NULL;
    }
    return Py_NewRef(self->soname);
}

PyDoc_STRVAR(image_file_load_doc,
             "load($self, /)\n--\n\n"
             "Reads now everything later questions need (the symbol tables\n"
             "and their indexes, build-id, debuglink, needed and soname),\n"
             "then lets go of the descriptor or buffer: the ImageFile holds\n"
             "no file open after it.  Bounded like every read, and Ctrl-C\n"
             "stops it (KeyboardInterrupt).  A corrupt table stays so (its\n"
             "lookups raise ParseError); a corrupt dynamic section makes\n"
             "needed raise it.  Calling it again does nothing.");

static PyObject *
image_file_load(image_file *self, PyObject *unused)
{
    mm_err err;
    mm_status status;

    (void)unused;
    if (self->source.detached) {
        Py_RETURN_NONE;
    }
    if (read_identity(self) < 0) {
        return NULL;
    }
    if (self->format->names != NULL && read_names(self) < 0) {
        /* A corrupt dynamic section is kept as such: needed raises its
         * error each time it is asked. */
        if (!self->names_failed) {
            return NULL;
        }
        PyErr_Clear();
    }
    memset(&err, 0, sizeof(err));
    begin_call(self);
    Py_BEGIN_ALLOW_THREADS
        status = self->format->load(self, &err);
    Py_END_ALLOW_THREADS
    if (status != MM_OK || self->source.stopped) {
        end_call(self);
        return raise_failure(self, status, &err);
    }
    source_detach(&self->source);
    end_call(self);
    Py_RETURN_NONE;
}

static PyObject *
image_file_get_loaded(image_file *self, void *closure)
{
    (void)closure;
    return PyBool_FromLong(self->source.detached);
}

static PyObject *
image_file_get_segments(image_file *self, void *closure)
{
    (void)closure;
    return self->format->segments(self);
}

static PyObject *
image_file_get_header(image_file *self, void *closure)
{
    (void)closure;
    return self->format->header(self);
}

PyDoc_STRVAR(
    image_file_exports_doc,
    "exports($self, /)\n--\n\n"
    "The export table of a PE image: a list of (name, ordinal, value,\n"
    "forwarder), named exports first in the order of the name table, then\n"
    "the ones that have only an ordinal (name None; symbol('#5') finds\n"
    "ordinal 5, symbolize() names it '#5').  value is ImageBase +\n"
    "RVA, before the bias; None for a forwarder, whose forwarder is the\n"
    "'DLL.Func' or 'DLL.#12' string the loader follows (never followed\n"
    "here).  An entry that is corrupt on its own is left out.  Other\n"
    "formats raise NotImplementedError.");

static PyObject *
image_file_exports(image_file *self, PyObject *unused)
{
    mm_pe *pe = &self->reader.pe;
    PyObject *list;
    size_t count = 0;
    mm_err err;
    mm_status status;

    (void)unused;
    if (self->format != &pe_format) {
        PyErr_Format(PyExc_NotImplementedError,
                     "exports: a %s image has no export table to list",
                     self->format->name);
        return NULL;
    }
    memset(&err, 0, sizeof(err));
    begin_call(self);
    Py_BEGIN_ALLOW_THREADS
        status = mm_pe_export_count(pe, &count, &err);
    Py_END_ALLOW_THREADS
    if (status == MM_ERR_NOT_FOUND && !self->source.stopped) {
        end_call(self);
        return PyList_New(0);
    }
    if (status != MM_OK || self->source.stopped) {
        end_call(self);
        return raise_failure(self, status, &err);
    }
    list = PyList_New(0);
    for (size_t i = 0; list != NULL && i < count; i++) {
        mm_pe_export e;
        mm_err ignored;
        PyObject *item;
        if (mm_pe_export_at(pe, i, &e, &ignored) != MM_OK) {
            continue;
        }
        if (e.forwarder != NULL) {
            item = Py_BuildValue("(NkON)", pe_text(e.name),
                                 (unsigned long)e.ordinal, Py_None,
                                 pe_text(e.forwarder));
        }
        else {
            item = Py_BuildValue(
                "(NkKO)", pe_text(e.name), (unsigned long)e.ordinal,
                (unsigned long long)(pe->image_base + e.rva), Py_None);
        }
        if (item == NULL || PyList_Append(list, item) < 0) {
            Py_XDECREF(item);
            Py_CLEAR(list);
            break;
        }
        Py_DECREF(item);
    }
    end_call(self);
    return list;
}

static PyMethodDef image_file_methods[] = {
    {"exports", (PyCFunction)image_file_exports, METH_NOARGS,
     image_file_exports_doc},
    {"symbol", (PyCFunction)image_file_symbol, METH_VARARGS,
     image_file_symbol_doc},
    {"symbolize", (PyCFunction)image_file_symbolize, METH_O,
     image_file_symbolize_doc},
    {"symbolize_many", (PyCFunction)image_file_symbolize_many, METH_O,
     image_file_symbolize_many_doc},
    {"load", (PyCFunction)image_file_load, METH_NOARGS, image_file_load_doc},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef image_file_getset[] = {
    {"format", (getter)image_file_get_format, NULL, "'elf', 'macho' or 'pe'.",
     NULL},
    {"build_id", (getter)image_file_get_build_id, NULL,
     "The GNU build-id (ELF), LC_UUID (Mach-O) or CodeView RSDS record\n"
     "(PE: the PDB's GUID, Data1-3 most significant byte first as the GUID\n"
     "is written, then the age as 4 bytes, most significant first) as\n"
     "bytes, or None.",
     NULL},
    {"debuglink", (getter)image_file_get_debuglink, NULL,
     "The .gnu_debuglink file name (ELF), or None.", NULL},
    {"loaded", (getter)image_file_get_loaded, NULL,
     "Whether load() has read everything and let go of the bytes.", NULL},
    {"debuglink_crc", (getter)image_file_get_debuglink_crc, NULL,
     "The CRC32 of the debug file stored after the .gnu_debuglink name\n"
     "(ELF), or None.",
     NULL},
    {"needed", (getter)image_file_get_needed, NULL,
     "The DT_NEEDED names of the dynamic section, in order, as a tuple of\n"
     "str (empty when there is no dynamic section).  ELF only: a Mach-O\n"
     "image raises NotImplementedError; a corrupt dynamic section raises\n"
     "ParseError.",
     NULL},
    {"soname", (getter)image_file_get_soname, NULL,
     "The DT_SONAME of the dynamic section as str, or None (ELF only, as\n"
     "needed).",
     NULL},
    {"segments", (getter)image_file_get_segments, NULL,
     "ELF: every program header, (type, flags, offset, vaddr, filesz, "
     "memsz, align); Mach-O: every segment, (name, vmaddr, vmsize, fileoff, "
     "filesize, maxprot, initprot); PE: every section, (name, vaddr, vsize, "
     "raw_offset, raw_size, characteristics, prot), vaddr = ImageBase + "
     "RVA, prot MM_PROT_* bits (1 read, 2 write, 4 execute, 8 shared).",
     NULL},
    {"header", (getter)image_file_get_header, NULL,
     "ELF: (is64, big_endian, type, machine, entry); Mach-O: (is64, "
     "cputype, cpusubtype, filetype, flags); PE: (is64, machine, "
     "characteristics, image_base, size_of_image).",
     NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot image_file_slots[] = {
    {Py_tp_new, image_file_new},
    {Py_tp_dealloc, image_file_dealloc},
    {Py_tp_methods, image_file_methods},
    {Py_tp_getset, image_file_getset},
    {Py_tp_doc,
     "ImageFile(source=None, *, format=None, sections=True, cputype=0, "
     "pid=None, load_address=0, dynamic_bias=0, memory=False)\n--\n\n"
     "An executable image read from a file descriptor (an int, which is\n"
     "duplicated), a bytes-like object, or, with pid, that process's memory\n"
     "at load_address, where the loader put its header.  format is 'elf',\n"
     "'macho', or None to tell it by the magic bytes.  sections=False\n"
     "ignores ELF section headers (not mapped in memory); cputype picks\n"
     "the architecture of a fat Mach-O file.  dynamic_bias is what the\n"
     "dynamic loader added to the DT_* addresses of an ELF image read from\n"
     "memory (its load bias; 0 for a file): needed and soname use it, and\n"
     "symbol() when it is not given one.  memory=True says a bytes source\n"
     "holds the image as the loader laid it out (a PE image at its RVAs,\n"
     "a Mach-O one at its vmaddrs), as a pid source always does.  A PE\n"
     "image's symbols are its exports, valued ImageBase + RVA; a forwarded\n"
     "one is not found by symbol() (exports() lists it)."},
    {0, NULL},
};

static PyType_Spec image_file_spec = {
    .name = "memmaps._core.ImageFile",
    .basicsize = sizeof(image_file),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = image_file_slots,
};

int
binding_add_image_file(PyObject *module, module_state *state)
{
    state->image_file_type = (PyTypeObject *)PyType_FromModuleAndSpec(
        module, &image_file_spec, NULL);
    if (state->image_file_type == NULL) {
        return -1;
    }
    return PyModule_AddType(module, state->image_file_type);
}
