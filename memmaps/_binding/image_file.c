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
#include "formats/elf.h"
#include "formats/macho.h"
#include "pythread.h"

#include <errno.h>
#include <string.h>
#ifndef _WIN32
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
} image_source;

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
source_open_memory(image_source *source, long pid, uint64_t base)
{
    source->target.pid = pid < 0 ? MM_PID_SELF : pid;
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

static void
source_release(image_source *source)
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
} image_format;

struct image_file {
    PyObject_HEAD
    const image_format *format;
    union {
        mm_elf elf;
        mm_macho macho;
    } reader;
    int opened;
    image_source source;
    /* What the loader added to DT_* addresses (an image read from memory):
     * for needed and soname, and symbol() when it is given none. */
    uint64_t dynamic_bias;
    PyObject *needed; /* tuple of str, once read */
    PyObject *soname; /* str or None, once read */
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
    (void)cputype;
    (void)in_memory;
    return mm_elf_open_flags(&self->reader.elf, self->source.read,
                             self->source.ctx, self->source.size,
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
    out->kind = symbol.type == ELF_STT_FUNC        ? "function"
                : symbol.type == ELF_STT_OBJECT    ? "object"
                : symbol.type == ELF_STT_TLS       ? "tls"
                : symbol.type == ELF_STT_GNU_IFUNC ? "ifunc"
                                                   : "other";
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

static const image_format macho_format = {
    .name = "macho",
    .open = macho_open,
    .close = macho_close,
    .build_id = macho_build_id,
    .segments = macho_segments,
    .header = macho_header,
    .symbol = macho_symbol,
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
        PyErr_Format(PyExc_ValueError,
                     "ImageFile: format must be 'elf', 'macho' or None, not "
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
    return &elf_format; /* it will name what it found instead of ELF */
}

/* ---- the type ---- */

static PyObject *
image_file_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"source",       "format", "sections",
                               "cputype",      "pid",    "load_address",
                               "dynamic_bias", NULL};
    PyObject *object = Py_None, *pid_object = Py_None;
    const char *format_name = NULL;
    int sections = 1, in_memory = 0;
    unsigned long cputype = MM_MACHO_CPU_ANY;
    unsigned long long load_address = 0, dynamic_bias = 0;
    module_state *state = PyType_GetModuleState(type);
    image_file *self;
    mm_err err;
    mm_status status;

    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|O$zpkOKK:ImageFile",
                                     keywords, &object, &format_name,
                                     &sections, &cputype, &pid_object,
                                     &load_address, &dynamic_bias)) {
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
        source_open_memory(&self->source, pid, load_address);
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
    Py_BEGIN_ALLOW_THREADS
        status = self->format->open(self, sections, (uint32_t)cputype,
                                    in_memory, &err);
    Py_END_ALLOW_THREADS
    if (status != MM_OK) {
        raise_native_error(state, &err, -1, NULL, 0);
        Py_DECREF(self);
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
    Py_CLEAR(self->needed);
    Py_CLEAR(self->soname);
    source_release(&self->source);
    type->tp_free((PyObject *)self);
    Py_DECREF(type);
}

PyDoc_STRVAR(image_file_symbol_doc,
             "symbol($self, name, dynamic_bias=0, /)\n--\n\n"
             "(value, size, kind, is_global, is_absolute) of the defined\n"
             "symbol with that exact name, or None.  value is before the\n"
             "load bias; size is 0 where the format records none (Mach-O);\n"
             "kind is 'function', 'object', 'tls', 'ifunc' or 'other'.\n"
             "dynamic_bias is what the loader added to the dynamic\n"
             "section's addresses of an ELF image read from memory (the\n"
             "ImageFile's own dynamic_bias when it is not given).");

static PyObject *
image_file_symbol(image_file *self, PyObject *args)
{
    module_state *state = PyType_GetModuleState(Py_TYPE(self));
    const char *name;
    Py_ssize_t name_len;
    unsigned long long dynamic_bias = self->dynamic_bias;
    image_symbol symbol;
    mm_err err;
    mm_status status;

    if (!PyArg_ParseTuple(args, "s#|K:symbol", &name, &name_len,
                          &dynamic_bias)) {
        return NULL;
    }
    if ((size_t)name_len != strlen(name)) {
        PyErr_SetString(PyExc_ValueError, "symbol: name has a NUL character");
        return NULL;
    }
    memset(&err, 0, sizeof(err));
    source_lock(&self->source);
    Py_BEGIN_ALLOW_THREADS
        status = self->format->symbol(self, name, dynamic_bias, &symbol, &err);
    Py_END_ALLOW_THREADS
    PyThread_release_lock(self->source.lock);
    if (status == MM_ERR_NOT_FOUND) {
        Py_RETURN_NONE;
    }
    if (status != MM_OK) {
        return raise_native_error(state, &err, -1, NULL, 0);
    }
    return Py_BuildValue("(KKsOO)", (unsigned long long)symbol.value,
                         (unsigned long long)symbol.size, symbol.kind,
                         symbol.is_global ? Py_True : Py_False,
                         symbol.is_absolute ? Py_True : Py_False);
}

static PyObject *
image_file_get_format(image_file *self, void *closure)
{
    (void)closure;
    return PyUnicode_FromString(self->format->name);
}

static PyObject *
image_file_get_build_id(image_file *self, void *closure)
{
    uint8_t id[MM_BUILD_ID_MAX];
    size_t len;

    (void)closure;
    source_lock(&self->source);
    len = self->format->build_id(self, id, sizeof(id));
    PyThread_release_lock(self->source.lock);
    if (len == 0) {
        Py_RETURN_NONE;
    }
    return PyBytes_FromStringAndSize(
        (const char *)id, (Py_ssize_t)(len < sizeof(id) ? len : sizeof(id)));
}

static PyObject *
image_file_get_debuglink(image_file *self, void *closure)
{
    char name[4096];
    size_t len = 0;

    (void)closure;
    if (self->format->debuglink == NULL) {
        Py_RETURN_NONE;
    }
    source_lock(&self->source);
    len = self->format->debuglink(self, name, sizeof(name));
    PyThread_release_lock(self->source.lock);
    if (len == 0) {
        Py_RETURN_NONE;
    }
    return PyUnicode_DecodeFSDefault(name);
}

/* Reads DT_NEEDED and DT_SONAME once into self->needed and self->soname;
 * 0, or -1 with an exception set. */
static int
read_names(image_file *self)
{
    module_state *state = PyType_GetModuleState(Py_TYPE(self));
    mm_elf_names names;
    PyObject *needed, *soname;
    mm_err err;
    mm_status status;

    if (self->needed != NULL) {
        return 0;
    }
    if (self->format->names == NULL) {
        PyErr_Format(PyExc_NotImplementedError,
                     "ImageFile: the needed libraries and soname of a %s "
                     "image are not read",
                     self->format->name);
        return -1;
    }
    memset(&err, 0, sizeof(err));
    source_lock(&self->source);
    Py_BEGIN_ALLOW_THREADS
        status = self->format->names(self, &names, &err);
    Py_END_ALLOW_THREADS
    PyThread_release_lock(self->source.lock);
    if (status != MM_OK) {
        raise_native_error(state, &err, -1, NULL, 0);
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
        if (names.soname != NULL) {
            soname = PyUnicode_DecodeFSDefault(names.soname);
        }
        else {
            soname = Py_NewRef(Py_None);
        }
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

static PyObject *
image_file_get_debuglink_crc(image_file *self, void *closure)
{
    uint32_t crc;
    int found;

    (void)closure;
    if (self->format->debuglink_crc == NULL) {
        Py_RETURN_NONE;
    }
    source_lock(&self->source);
    found = self->format->debuglink_crc(self, &crc) == 0;
    PyThread_release_lock(self->source.lock);
    if (!found) {
        Py_RETURN_NONE;
    }
    return PyLong_FromUnsignedLong((unsigned long)crc);
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

static PyMethodDef image_file_methods[] = {
    {"symbol", (PyCFunction)image_file_symbol, METH_VARARGS,
     image_file_symbol_doc},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef image_file_getset[] = {
    {"format", (getter)image_file_get_format, NULL, "'elf' or 'macho'.", NULL},
    {"build_id", (getter)image_file_get_build_id, NULL,
     "The GNU build-id (ELF) or LC_UUID (Mach-O) as bytes, or None.", NULL},
    {"debuglink", (getter)image_file_get_debuglink, NULL,
     "The .gnu_debuglink file name (ELF), or None.", NULL},
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
     "filesize, maxprot, initprot).",
     NULL},
    {"header", (getter)image_file_get_header, NULL,
     "ELF: (is64, big_endian, type, machine, entry); Mach-O: (is64, "
     "cputype, cpusubtype, filetype, flags).",
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
     "pid=None, load_address=0, dynamic_bias=0)\n--\n\n"
     "An executable image read from a file descriptor (an int, which is\n"
     "duplicated), a bytes-like object, or, with pid, that process's memory\n"
     "at load_address, where the loader put its header.  format is 'elf',\n"
     "'macho', or None to tell it by the magic bytes.  sections=False\n"
     "ignores ELF section headers (not mapped in memory); cputype picks\n"
     "the architecture of a fat Mach-O file.  dynamic_bias is what the\n"
     "dynamic loader added to the DT_* addresses of an ELF image read from\n"
     "memory (its load bias; 0 for a file): needed and soname use it, and\n"
     "symbol() when it is not given one."},
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
