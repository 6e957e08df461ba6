/* memmaps._core: the only file that speaks to Python.
 *
 * It parses arguments, releases the GIL around the native calls, and turns
 * mm_list records into Region and Usage objects.  Both are tuple subclasses
 * defined in Python and handed over once by setup(); building them is the hot
 * path of every listing, so what repeats (the 16 permission strings, the
 * kinds, the paths of one file's mappings, page-sized figures, VmFlags sets)
 * is made once per listing and shared.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "core/mm.h"
#include "core/reader.h"
#include "core/switches.h"
#include "formats/dyld.h"
#include "formats/elf.h"
#include "formats/macho.h"
#include "formats/procmaps.h"
#ifdef __APPLE__
#include "backends/macos.h"
#include "formats/mach_regions.h"
#endif
#include "pythread.h"

#include <errno.h>
#include <string.h>
#ifndef _WIN32
#include <unistd.h>
#endif

/* The fields of Region, in order; memmaps/region.py has the same list. */
enum {
    F_START,
    F_END,
    F_PERMS,
    F_OFFSET,
    F_DEV_MAJOR,
    F_DEV_MINOR,
    F_INODE,
    F_PATH,
    F_DELETED,
    F_KIND,
    F_USAGE,
    F_MAX_PERMS,
    F_SHARE_MODE,
    F_TAG,
    REGION_FIELDS
};

/* Usage is the mm_usage_field figures, then these two; memmaps/usage.py has
 * the same list. */
enum { U_VMFLAGS = MM_USAGE_FIELDS, U_EXTRA, USAGE_FIELDS };

static const char *const kind_names[MM_KIND_COUNT] = {
    [MM_KIND_FILE] = "file",         [MM_KIND_ANON] = "anon",
    [MM_KIND_HEAP] = "heap",         [MM_KIND_STACK] = "stack",
    [MM_KIND_VDSO] = "vdso",         [MM_KIND_VVAR] = "vvar",
    [MM_KIND_VSYSCALL] = "vsyscall", [MM_KIND_SHMEM] = "shmem",
    [MM_KIND_MEMFD] = "memfd",       [MM_KIND_SYSV] = "sysv",
    [MM_KIND_HUGETLB] = "hugetlb",   [MM_KIND_GUARD] = "guard",
    [MM_KIND_SPECIAL] = "special",
};

typedef struct {
    PyTypeObject *region_type; /* memmaps.region.Region, from setup() */
    PyTypeObject *usage_type;  /* memmaps.usage.Usage, from setup() */
    PyObject *make_error;      /* memmaps.errors._from_native, from setup() */
    PyObject *perms[16];       /* "---p" ... "rwxs", by MM_PROT_* bits */
    PyObject *max_perms[8];    /* "---" ... "rwx": a ceiling has no sharing */
    PyObject *kinds[MM_KIND_COUNT];
    PyObject *empty_tuple;
    PyTypeObject *elf_type;   /* ElfFile */
    PyTypeObject *macho_type; /* MachOFile */
} module_state;

static inline module_state *
get_state(PyObject *module)
{
    return (module_state *)PyModule_GetState(module);
}

/* ---- building objects: what repeats within one listing is shared ---- */

#define TEXT_CACHE_SIZE 256 /* powers of two */
#define INT_CACHE_SIZE  256

typedef struct {
    const char *bytes; /* into the mm_list being converted */
    uint32_t len;
    PyObject *object; /* borrowed: an object built earlier holds it */
} text_cache_entry;

typedef struct {
    uint64_t value;
    PyObject *object; /* borrowed, as above */
} int_cache_entry;

typedef struct {
    const mm_usage *usage;
    PyObject *object; /* borrowed, as above */
} usage_cache_entry;

typedef struct {
    const char *text; /* a static string of the backend */
    PyObject *object; /* borrowed, as above */
} static_text_entry;

typedef struct {
    module_state *state;
    const mm_list *list;
    text_cache_entry paths[TEXT_CACHE_SIZE];
    text_cache_entry vmflags[TEXT_CACHE_SIZE];
    int_cache_entry ints[INT_CACHE_SIZE];
    usage_cache_entry usages[TEXT_CACHE_SIZE];
    static_text_entry labels[TEXT_CACHE_SIZE]; /* tags and share modes */
} builder;

static uint32_t
hash_bytes(const char *bytes, uint32_t len)
{
    /* FNV-1a: the texts are short and this runs once per region. */
    uint32_t hash = 2166136261u;
    for (uint32_t i = 0; i < len; i++) {
        hash = (hash ^ (unsigned char)bytes[i]) * 16777619u;
    }
    return hash;
}

/* The cache entry for a text; a hit when entry->object is set and equal. */
static text_cache_entry *
text_entry(text_cache_entry *cache, const char *bytes, uint32_t len)
{
    return &cache[hash_bytes(bytes, len) & (TEXT_CACHE_SIZE - 1)];
}

static int
text_hit(const text_cache_entry *entry, const char *bytes, uint32_t len)
{
    return entry->object != NULL && entry->len == len &&
           memcmp(entry->bytes, bytes, len) == 0;
}

/* A new reference to the str of a name. */
static PyObject *
path_object(builder *b, const char *name, uint32_t len)
{
    text_cache_entry *entry = text_entry(b->paths, name, len);
    PyObject *path;

    if (text_hit(entry, name, len)) {
        return Py_NewRef(entry->object);
    }
    /* The file system encoding with surrogateescape, as os.fsdecode does, so
     * undecodable bytes survive a round trip through os.fsencode. */
    path = PyUnicode_DecodeFSDefaultAndSize(name, (Py_ssize_t)len);
    if (path != NULL) {
        entry->bytes = name;
        entry->len = len;
        entry->object = path;
    }
    return path;
}

/* A new reference to an int; figures like 4096 repeat across regions. */
static PyObject *
int_object(builder *b, uint64_t value)
{
    int_cache_entry *entry;
    PyObject *object;

    if (value <= 256) {
        return PyLong_FromUnsignedLongLong(value); /* CPython shares these */
    }
    entry = &b->ints[((value >> 10) * 2654435761u) & (INT_CACHE_SIZE - 1)];
    if (entry->object != NULL && entry->value == value) {
        return Py_NewRef(entry->object);
    }
    object = PyLong_FromUnsignedLongLong(value);
    if (object != NULL) {
        entry->value = value;
        entry->object = object;
    }
    return object;
}

/* A new reference to the tuple of VmFlags codes, e.g. ("rd", "wr", "mr"). */
static PyObject *
vmflags_object(builder *b, const char *text, uint32_t len)
{
    text_cache_entry *entry = text_entry(b->vmflags, text, len);
    PyObject *codes, *tuple;
    const char *p = text, *end = text + len;

    if (text_hit(entry, text, len)) {
        return Py_NewRef(entry->object);
    }
    codes = PyList_New(0);
    if (codes == NULL) {
        return NULL;
    }
    while (p < end) {
        const char *code_end = memchr(p, ' ', (size_t)(end - p));
        PyObject *code;
        if (code_end == NULL) {
            code_end = end;
        }
        if (code_end > p) {
            code = PyUnicode_DecodeASCII(p, code_end - p, "backslashreplace");
            if (code == NULL) {
                Py_DECREF(codes);
                return NULL;
            }
            PyUnicode_InternInPlace(&code);
            if (PyList_Append(codes, code) < 0) {
                Py_DECREF(code);
                Py_DECREF(codes);
                return NULL;
            }
            Py_DECREF(code);
        }
        p = code_end + 1;
    }
    tuple = PyList_AsTuple(codes);
    Py_DECREF(codes);
    if (tuple != NULL) {
        entry->bytes = text;
        entry->len = len;
        entry->object = tuple;
    }
    return tuple;
}

/* ((key, value), ...) for the lines of a region's smaps block whose keys are
 * not known here: kept, so that a newer kernel's figures are not lost. */
static PyObject *
extras_object(builder *b, const mm_usage *usage)
{
    const char *p = b->list->bytes + usage->block_off;
    const char *end = p + usage->block_len;
    PyObject *pairs = PyList_New(0);
    PyObject *result;
    mm_smaps_extra extra;

    if (pairs == NULL) {
        return NULL;
    }
    while (mm_smaps_next_extra(&p, end, &extra)) {
        PyObject *pair = Py_BuildValue(
            "(NN)",
            PyUnicode_DecodeFSDefaultAndSize(extra.key,
                                             (Py_ssize_t)extra.key_len),
            extra.is_number ? PyLong_FromUnsignedLongLong(extra.value)
                            : PyUnicode_DecodeFSDefaultAndSize(
                                  extra.text, (Py_ssize_t)extra.text_len));
        if (pair == NULL || PyList_Append(pairs, pair) < 0) {
            Py_XDECREF(pair);
            Py_DECREF(pairs);
            return NULL;
        }
        Py_DECREF(pair);
    }
    result = PyList_AsTuple(pairs);
    Py_DECREF(pairs);
    return result;
}

/* Fills a freshly allocated tuple subclass instance item by item. */
#define SET(tuple, index, value)                                              \
    do {                                                                      \
        PyObject *item_ = (value);                                            \
        if (item_ == NULL) {                                                  \
            goto error;                                                       \
        }                                                                     \
        PyTuple_SET_ITEM((tuple), (index), item_);                            \
    } while (0)

static PyObject *
new_usage(builder *b, const mm_usage *u)
{
    PyTypeObject *type = b->state->usage_type;
    PyObject *usage = type->tp_alloc(type, USAGE_FIELDS);

    if (usage == NULL) {
        return NULL;
    }
    /* Only ints, bools, None, strs and tuples of those: no cycles. */
    PyObject_GC_UnTrack(usage);
    for (int field = 0; field < MM_USAGE_FIELDS; field++) {
        if (!(u->present & (1u << field))) {
            SET(usage, field, Py_NewRef(Py_None));
        }
        else if (field == MM_USAGE_THP_ELIGIBLE) {
            SET(usage, field, PyBool_FromLong(u->value[field] != 0));
        }
        else {
            SET(usage, field, int_object(b, u->value[field]));
        }
    }
    if (u->flags & MM_USAGE_HAS_VMFLAGS) {
        SET(usage, U_VMFLAGS,
            vmflags_object(b, b->list->bytes + u->vmflags_off,
                           u->vmflags_len));
    }
    else {
        SET(usage, U_VMFLAGS, Py_NewRef(Py_None));
    }
    if (u->flags & MM_USAGE_HAS_EXTRA) {
        SET(usage, U_EXTRA, extras_object(b, u));
    }
    else {
        SET(usage, U_EXTRA, Py_NewRef(b->state->empty_tuple));
    }
    return usage;

error:
    Py_DECREF(usage);
    return NULL;
}

static uint64_t
hash_usage(const mm_usage *u)
{
    uint64_t hash = u->present ^ ((uint64_t)u->vmflags_len << 32);

    for (int field = 0; field < MM_USAGE_FIELDS; field++) {
        hash = (hash ^ u->value[field]) * 0x100000001b3ull;
    }
    return hash ^ (hash >> 29);
}

static int
same_usage(const mm_list *list, const mm_usage *a, const mm_usage *b)
{
    return a->present == b->present && a->flags == b->flags &&
           memcmp(a->value, b->value, sizeof(a->value)) == 0 &&
           a->vmflags_len == b->vmflags_len &&
           memcmp(list->bytes + a->vmflags_off, list->bytes + b->vmflags_off,
                  a->vmflags_len) == 0;
}

/* A new reference to the Usage of u.  Regions with the very same figures
 * (the untouched ones, guard pages, a library's read-only pieces) share one
 * immutable Usage, as they share their path. */
static PyObject *
usage_object(builder *b, const mm_usage *u)
{
    usage_cache_entry *entry;
    PyObject *usage;

    if (u->flags & MM_USAGE_HAS_EXTRA) {
        return new_usage(b, u); /* rare; and its extras would need comparing */
    }
    entry = &b->usages[hash_usage(u) & (TEXT_CACHE_SIZE - 1)];
    if (entry->object != NULL && same_usage(b->list, entry->usage, u)) {
        return Py_NewRef(entry->object);
    }
    usage = new_usage(b, u);
    if (usage != NULL) {
        entry->usage = u;
        entry->object = usage;
    }
    return usage;
}

/* A new reference to the str of one of the backend's static strings (a
 * macOS user tag, a share mode), or None for NULL. */
static PyObject *
label_object(builder *b, const char *text)
{
    static_text_entry *entry;
    PyObject *object;

    if (text == NULL) {
        return Py_NewRef(Py_None);
    }
    entry = &b->labels[((uintptr_t)text >> 3) & (TEXT_CACHE_SIZE - 1)];
    if (entry->text == text && entry->object != NULL) {
        return Py_NewRef(entry->object);
    }
    object = PyUnicode_DecodeASCII(text, (Py_ssize_t)strlen(text),
                                   "backslashreplace");
    if (object != NULL) {
        entry->text = text;
        entry->object = object;
    }
    return object;
}

static PyObject *
new_region(builder *b, const mm_region *r)
{
    module_state *state = b->state;
    PyTypeObject *type = state->region_type;
    PyObject *region = type->tp_alloc(type, REGION_FIELDS);

    if (region == NULL) {
        return NULL;
    }
    /* Every field is an int, a str, a bool, None or a Usage of those, so a
     * Region can never be part of a reference cycle; keeping it away from
     * the cyclic collector saves walking every region of every listing. */
    PyObject_GC_UnTrack(region);

    SET(region, F_START, PyLong_FromUnsignedLongLong(r->start));
    SET(region, F_END, PyLong_FromUnsignedLongLong(r->end));
    SET(region, F_PERMS, Py_NewRef(state->perms[r->prot & 15]));
    SET(region, F_OFFSET, int_object(b, r->offset));
    SET(region, F_DEV_MAJOR, int_object(b, r->dev_major));
    SET(region, F_DEV_MINOR, int_object(b, r->dev_minor));
    SET(region, F_INODE, int_object(b, r->inode));
    if (r->flags & MM_REGION_NAMED) {
        SET(region, F_PATH,
            path_object(b, b->list->bytes + r->name_off, r->name_len));
    }
    else {
        SET(region, F_PATH, Py_NewRef(Py_None));
    }
    SET(region, F_DELETED, PyBool_FromLong(r->flags & MM_REGION_DELETED));
    SET(region, F_KIND,
        Py_NewRef(state->kinds[r->kind < MM_KIND_COUNT ? r->kind
                                                       : MM_KIND_SPECIAL]));
    if (r->usage != 0 && r->usage <= b->list->usage_count) {
        SET(region, F_USAGE, usage_object(b, &b->list->usages[r->usage - 1]));
    }
    else {
        SET(region, F_USAGE, Py_NewRef(Py_None));
    }
    if (r->max_prot == MM_PROT_UNKNOWN) {
        SET(region, F_MAX_PERMS, Py_NewRef(Py_None));
    }
    else {
        SET(region, F_MAX_PERMS, Py_NewRef(state->max_perms[r->max_prot & 7]));
    }
    SET(region, F_SHARE_MODE, label_object(b, r->share_mode));
    SET(region, F_TAG, label_object(b, r->tag));
    return region;

error:
    Py_DECREF(region);
    return NULL;
}

#undef SET

static PyObject *
build_regions(module_state *state, const mm_list *list)
{
    PyObject *result = PyTuple_New((Py_ssize_t)list->count);
    builder *b;
    int gc_was_enabled;

    if (result == NULL) {
        return NULL;
    }
    b = PyMem_Calloc(1, sizeof(builder));
    if (b == NULL) {
        Py_DECREF(result);
        return PyErr_NoMemory();
    }
    b->state = state;
    b->list = list;
    /* Nothing built here can form a cycle; a collection in the middle would
     * only walk the young objects for nothing. */
    gc_was_enabled = PyGC_Disable();
    for (size_t i = 0; i < list->count; i++) {
        PyObject *region = new_region(b, &list->regions[i]);
        if (region == NULL) {
            Py_CLEAR(result);
            break;
        }
        PyTuple_SET_ITEM(result, (Py_ssize_t)i, region);
    }
    if (gc_was_enabled) {
        PyGC_Enable();
    }
    PyMem_Free(b);
    return result;
}

/* Raises the memmaps exception for err.  input is what line_off indexes. */
static PyObject *
raise_native_error(module_state *state, const mm_err *err, long pid,
                   const char *input, size_t input_len)
{
    static const char *const names[] = {
        [MM_OK] = "ok",
        [MM_ERR_NOMEM] = "nomem",
        [MM_ERR_NO_PROCESS] = "no_process",
        [MM_ERR_ZOMBIE] = "zombie",
        [MM_ERR_ACCESS] = "access",
        [MM_ERR_PARSE] = "parse",
        [MM_ERR_UNSUPPORTED] = "unsupported",
        [MM_ERR_ARGUMENT] = "argument",
        [MM_ERR_OS] = "os",
        [MM_ERR_NOT_FOUND] = "not_found",
    };
    PyObject *line, *pid_object, *exc;

    if (err->status == MM_ERR_NOMEM) {
        return PyErr_NoMemory();
    }
    if (err->status == MM_ERR_PARSE && input != NULL &&
        err->line_off <= input_len &&
        err->line_len <= input_len - err->line_off) {
        line = PyBytes_FromStringAndSize(input + err->line_off,
                                         (Py_ssize_t)err->line_len);
    }
    else {
        line = Py_NewRef(Py_None);
    }
    if (line == NULL) {
        return NULL;
    }
    pid_object = pid < 0 ? Py_NewRef(Py_None) : PyLong_FromLong(pid);
    if (pid_object == NULL) {
        Py_DECREF(line);
        return NULL;
    }
    exc = PyObject_CallFunction(state->make_error, "ssOinO",
                                names[err->status], err->message, pid_object,
                                err->os_errno, (Py_ssize_t)err->lineno, line);
    Py_DECREF(pid_object);
    Py_DECREF(line);
    if (exc != NULL) {
        PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
        Py_DECREF(exc);
    }
    return NULL;
}

static int
check_setup(module_state *state)
{
    if (state->region_type == NULL || state->usage_type == NULL ||
        state->make_error == NULL) {
        PyErr_SetString(PyExc_RuntimeError,
                        "memmaps._core.setup() has not been called; "
                        "import memmaps instead");
        return -1;
    }
    return 0;
}

static int
check_tuple_subclass(PyObject *type, const char *what)
{
    if (!PyType_Check(type) ||
        !PyType_IsSubtype((PyTypeObject *)type, &PyTuple_Type)) {
        PyErr_Format(PyExc_TypeError, "setup(): %s must be a tuple subclass",
                     what);
        return -1;
    }
    return 0;
}

PyDoc_STRVAR(setup_doc,
             "setup($module, region_type, usage_type, make_error, /)\n--\n\n"
             "Hands over the Region and Usage classes and the factory of\n"
             "exceptions.  memmaps calls this once when it is imported.");

static PyObject *
core_setup(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    module_state *state = get_state(module);

    if (nargs != 3) {
        PyErr_Format(PyExc_TypeError, "setup() takes 3 arguments (%zd given)",
                     nargs);
        return NULL;
    }
    if (check_tuple_subclass(args[0], "region_type") < 0 ||
        check_tuple_subclass(args[1], "usage_type") < 0) {
        return NULL;
    }
    if (!PyCallable_Check(args[2])) {
        PyErr_SetString(PyExc_TypeError,
                        "setup(): make_error must be callable");
        return NULL;
    }
    Py_XSETREF(state->region_type, (PyTypeObject *)Py_NewRef(args[0]));
    Py_XSETREF(state->usage_type, (PyTypeObject *)Py_NewRef(args[1]));
    Py_XSETREF(state->make_error, Py_NewRef(args[2]));
    Py_RETURN_NONE;
}

/* Runs a backend call without the GIL and converts what it found. */
typedef mm_status (*backend_call)(const mm_target *, unsigned, mm_list *,
                                  mm_err *);

static PyObject *
call_backend(PyObject *module, PyObject *args, const char *format,
             backend_call call)
{
    module_state *state = get_state(module);
    long pid;
    unsigned int flags = 0;
    mm_target target;
    mm_list list;
    mm_err err;
    mm_status status;
    PyObject *result;

    if (!PyArg_ParseTuple(args, format, &pid, &flags)) {
        return NULL;
    }
    if (check_setup(state) < 0) {
        return NULL;
    }
    target.pid = pid < 0 ? MM_PID_SELF : pid;
    mm_list_init(&list);
    memset(&err, 0, sizeof(err));
    Py_BEGIN_ALLOW_THREADS
        status = call(&target, flags, &list, &err);
    Py_END_ALLOW_THREADS
    if (status != MM_OK) {
        result =
            raise_native_error(state, &err, pid, list.bytes, list.bytes_len);
    }
    else {
        result = build_regions(state, &list);
    }
    mm_list_free(&list);
    return result;
}

PyDoc_STRVAR(
    regions_doc,
    "regions($module, pid, flags=0, /)\n--\n\n"
    "The regions of process pid (-1 for the calling process) as a tuple of\n"
    "Region, sorted and never overlapping.");

static PyObject *
core_regions(PyObject *module, PyObject *args)
{
    return call_backend(module, args, "l|I:regions", mm_regions);
}

PyDoc_STRVAR(
    process_usage_doc,
    "process_usage($module, pid, flags=0, /)\n--\n\n"
    "The whole process's usage, as a tuple of one Region whose usage holds\n"
    "the totals (Linux: the [rollup] of smaps_rollup).");

static PyObject *
core_process_usage(PyObject *module, PyObject *args)
{
    return call_backend(module, args, "l|I:process_usage", mm_process_usage);
}

PyDoc_STRVAR(region_at_doc,
             "region_at($module, pid, addr, flags=0, /)\n--\n\n"
             "The region of process pid holding addr, as a tuple of one\n"
             "Region, or an empty tuple when addr is not mapped.");

static PyObject *
core_region_at(PyObject *module, PyObject *args)
{
    module_state *state = get_state(module);
    long pid;
    unsigned long long addr;
    unsigned int flags = 0;
    mm_target target;
    mm_list list;
    mm_err err;
    mm_status status;
    PyObject *result;

    if (!PyArg_ParseTuple(args, "lK|I:region_at", &pid, &addr, &flags)) {
        return NULL;
    }
    if (check_setup(state) < 0) {
        return NULL;
    }
    target.pid = pid < 0 ? MM_PID_SELF : pid;
    mm_list_init(&list);
    memset(&err, 0, sizeof(err));
    Py_BEGIN_ALLOW_THREADS
        status = mm_region_at(&target, (uint64_t)addr, flags, &list, &err);
    Py_END_ALLOW_THREADS
    if (status != MM_OK) {
        result =
            raise_native_error(state, &err, pid, list.bytes, list.bytes_len);
    }
    else {
        result = build_regions(state, &list);
    }
    mm_list_free(&list);
    return result;
}

PyDoc_STRVAR(read_memory_doc,
             "read_memory($module, pid, addr, size, /)\n--\n\n"
             "Up to size bytes of process pid's memory at addr: fewer when\n"
             "the range runs into memory that is not mapped or readable.");

static PyObject *
core_read_memory(PyObject *module, PyObject *args)
{
    module_state *state = get_state(module);
    long pid;
    unsigned long long addr;
    Py_ssize_t size;
    size_t got = 0;
    mm_target target;
    mm_err err;
    mm_status status;
    PyObject *bytes;
    char *buffer;

    if (!PyArg_ParseTuple(args, "lKn:read_memory", &pid, &addr, &size)) {
        return NULL;
    }
    if (check_setup(state) < 0) {
        return NULL;
    }
    if (size < 0) {
        PyErr_SetString(PyExc_ValueError, "read_memory: size is negative");
        return NULL;
    }
    buffer = PyMem_Malloc(size > 0 ? (size_t)size : 1);
    if (buffer == NULL) {
        return PyErr_NoMemory();
    }
    target.pid = pid < 0 ? MM_PID_SELF : pid;
    memset(&err, 0, sizeof(err));
    Py_BEGIN_ALLOW_THREADS
        status = mm_read_memory(&target, (uint64_t)addr, buffer, (size_t)size,
                                &got, &err);
    Py_END_ALLOW_THREADS
    if (status != MM_OK) {
        PyMem_Free(buffer);
        return raise_native_error(state, &err, pid, NULL, 0);
    }
    bytes = PyBytes_FromStringAndSize(buffer, (Py_ssize_t)got);
    PyMem_Free(buffer);
    return bytes;
}

PyDoc_STRVAR(
    parse_maps_doc,
    "parse_maps($module, text, /)\n--\n\n"
    "Regions from /proc/PID/maps or smaps text (a bytes-like object), as a\n"
    "tuple of Region, sorted and never overlapping.");

static PyObject *
core_parse_maps(PyObject *module, PyObject *arg)
{
    module_state *state = get_state(module);
    Py_buffer view;
    mm_list list;
    mm_err err;
    mm_status status;
    PyObject *result;

    if (check_setup(state) < 0) {
        return NULL;
    }
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    mm_list_init(&list);
    memset(&err, 0, sizeof(err));
    Py_BEGIN_ALLOW_THREADS
        status = mm_parse_maps(view.buf, (size_t)view.len, &list, &err);
        if (status == MM_OK) {
            mm_list_normalize(&list);
        }
    Py_END_ALLOW_THREADS
    if (status != MM_OK) {
        result =
            raise_native_error(state, &err, -1, view.buf, (size_t)view.len);
    }
    else {
        result = build_regions(state, &list);
    }
    mm_list_free(&list);
    PyBuffer_Release(&view);
    return result;
}

/* ---- where an ElfFile or MachOFile reads its bytes ---- */

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

/* ---- ElfFile: the ELF reader over a descriptor or a buffer ---- */

typedef struct {
    PyObject_HEAD
    mm_elf elf;
    int opened;
    image_source source;
} elf_object;

static PyObject *
elf_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"source", "sections", NULL};
    PyObject *object;
    int sections = 1;
    module_state *state = PyType_GetModuleState(type);
    elf_object *self;
    mm_err err;
    mm_status status;

    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O|$p:ElfFile", keywords,
                                     &object, &sections)) {
        return NULL;
    }
    self = (elf_object *)type->tp_alloc(type, 0);
    if (self == NULL) {
        return NULL;
    }
    if (source_init(&self->source) < 0 ||
        source_open(&self->source, object, "ElfFile") < 0) {
        Py_DECREF(self);
        return NULL;
    }
    memset(&err, 0, sizeof(err));
    Py_BEGIN_ALLOW_THREADS
        status = mm_elf_open_flags(&self->elf, self->source.read,
                                   self->source.ctx, self->source.size,
                                   sections ? 0 : MM_ELF_NO_SECTIONS, &err);
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
elf_dealloc(elf_object *self)
{
    PyTypeObject *type = Py_TYPE(self);

    if (self->opened) {
        mm_elf_close(&self->elf);
    }
    source_release(&self->source);
    type->tp_free((PyObject *)self);
    Py_DECREF(type);
}

PyDoc_STRVAR(elf_symbol_doc,
             "symbol($self, name, dynamic_bias=0, /)\n--\n\n"
             "(value, size, type, binding, section, from_dynsym) of the\n"
             "defined symbol name, or None.  value is before the load bias.");

static PyObject *
elf_symbol(elf_object *self, PyObject *args)
{
    module_state *state = PyType_GetModuleState(Py_TYPE(self));
    const char *name;
    Py_ssize_t name_len;
    unsigned long long dynamic_bias = 0;
    mm_elf_symbol symbol;
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
        status =
            mm_elf_find_symbol(&self->elf, name, dynamic_bias, &symbol, &err);
    Py_END_ALLOW_THREADS
    PyThread_release_lock(self->source.lock);
    if (status == MM_ERR_NOT_FOUND) {
        Py_RETURN_NONE;
    }
    if (status != MM_OK) {
        return raise_native_error(state, &err, -1, NULL, 0);
    }
    return Py_BuildValue("(KKiiiO)", (unsigned long long)symbol.value,
                         (unsigned long long)symbol.size, symbol.type,
                         symbol.binding, symbol.section,
                         symbol.from_dynsym ? Py_True : Py_False);
}

static PyObject *
elf_get_build_id(elf_object *self, void *closure)
{
    uint8_t id[64];
    size_t len;

    (void)closure;
    source_lock(&self->source);
    len = mm_elf_build_id(&self->elf, id, sizeof(id));
    PyThread_release_lock(self->source.lock);
    if (len == 0) {
        Py_RETURN_NONE;
    }
    return PyBytes_FromStringAndSize(
        (const char *)id, (Py_ssize_t)(len < sizeof(id) ? len : sizeof(id)));
}

static PyObject *
elf_get_debuglink(elf_object *self, void *closure)
{
    char name[4096];
    size_t len;

    (void)closure;
    source_lock(&self->source);
    len = mm_elf_debuglink(&self->elf, name, sizeof(name));
    PyThread_release_lock(self->source.lock);
    if (len == 0) {
        Py_RETURN_NONE;
    }
    return PyUnicode_DecodeFSDefault(name);
}

static PyObject *
elf_get_segments(elf_object *self, void *closure)
{
    PyObject *segments;

    (void)closure;
    segments = PyTuple_New((Py_ssize_t)self->elf.segment_count);
    if (segments == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < self->elf.segment_count; i++) {
        const mm_elf_segment *s = &self->elf.segments[i];
        PyObject *item = Py_BuildValue(
            "(kkKKKKK)", (unsigned long)s->type, (unsigned long)s->flags,
            (unsigned long long)s->offset, (unsigned long long)s->vaddr,
            (unsigned long long)s->filesz, (unsigned long long)s->memsz,
            (unsigned long long)s->align);
        if (item == NULL) {
            Py_DECREF(segments);
            return NULL;
        }
        PyTuple_SET_ITEM(segments, (Py_ssize_t)i, item);
    }
    return segments;
}

static PyObject *
elf_get_header(elf_object *self, void *closure)
{
    (void)closure;
    return Py_BuildValue("(iiiiK)", self->elf.is64, self->elf.big_endian,
                         self->elf.type, self->elf.machine,
                         (unsigned long long)self->elf.entry);
}

static PyMethodDef elf_methods[] = {
    {"symbol", (PyCFunction)elf_symbol, METH_VARARGS, elf_symbol_doc},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef elf_getset[] = {
    {"build_id", (getter)elf_get_build_id, NULL,
     "The GNU build-id as bytes, or None.", NULL},
    {"debuglink", (getter)elf_get_debuglink, NULL,
     "The .gnu_debuglink file name, or None.", NULL},
    {"segments", (getter)elf_get_segments, NULL,
     "Every program header: (type, flags, offset, vaddr, filesz, memsz, "
     "align).",
     NULL},
    {"header", (getter)elf_get_header, NULL,
     "(is64, big_endian, type, machine, entry).", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot elf_slots[] = {
    {Py_tp_new, elf_new},
    {Py_tp_dealloc, elf_dealloc},
    {Py_tp_methods, elf_methods},
    {Py_tp_getset, elf_getset},
    {Py_tp_doc,
     "ElfFile(source, *, sections=True)\n--\n\n"
     "An ELF image read from a file descriptor (an int, which is\n"
     "duplicated) or a bytes-like object.  sections=False ignores the\n"
     "section headers, as for an image read from memory, where they are\n"
     "not mapped."},
    {0, NULL},
};

static PyType_Spec elf_spec = {
    .name = "memmaps._core.ElfFile",
    .basicsize = sizeof(elf_object),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = elf_slots,
};

/* ---- MachOFile: the Mach-O reader over a descriptor, a buffer, or an
 * image in a process's memory ---- */

typedef struct {
    PyObject_HEAD
    mm_macho macho;
    int opened;
    image_source source;
} macho_object;

static PyObject *
macho_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"source", "cputype", "pid", "load_address",
                               NULL};
    PyObject *object = Py_None, *pid_object = Py_None;
    unsigned long cputype = MM_MACHO_CPU_ANY;
    unsigned long long load_address = 0;
    unsigned flags = 0;
    module_state *state = PyType_GetModuleState(type);
    macho_object *self;
    mm_err err;
    mm_status status;

    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|O$kOK:MachOFile",
                                     keywords, &object, &cputype, &pid_object,
                                     &load_address)) {
        return NULL;
    }
    self = (macho_object *)type->tp_alloc(type, 0);
    if (self == NULL) {
        return NULL;
    }
    if (source_init(&self->source) < 0) {
        Py_DECREF(self);
        return NULL;
    }
    if (pid_object != Py_None) {
        /* In memory: offsets count from the mach_header dyld loaded. */
        long pid = PyLong_AsLong(pid_object);
        if (pid == -1 && PyErr_Occurred()) {
            Py_DECREF(self);
            return NULL;
        }
        source_open_memory(&self->source, pid, load_address);
        flags = MM_MACHO_MEMORY;
    }
    else if (source_open(&self->source, object, "MachOFile") < 0) {
        Py_DECREF(self);
        return NULL;
    }
    memset(&err, 0, sizeof(err));
    Py_BEGIN_ALLOW_THREADS
        status =
            mm_macho_open(&self->macho, self->source.read, self->source.ctx,
                          self->source.size, (uint32_t)cputype, flags, &err);
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
macho_dealloc(macho_object *self)
{
    PyTypeObject *type = Py_TYPE(self);

    if (self->opened) {
        mm_macho_close(&self->macho);
    }
    source_release(&self->source);
    type->tp_free((PyObject *)self);
    Py_DECREF(type);
}

PyDoc_STRVAR(macho_symbol_doc,
             "symbol($self, name, /)\n--\n\n"
             "(value, type, section, desc) of the defined symbol with that\n"
             "exact name (C names start with '_'), or None.  value is\n"
             "unslid.");

static PyObject *
macho_symbol(macho_object *self, PyObject *args)
{
    module_state *state = PyType_GetModuleState(Py_TYPE(self));
    const char *name;
    Py_ssize_t name_len;
    mm_macho_symbol symbol;
    mm_err err;
    mm_status status;

    if (!PyArg_ParseTuple(args, "s#:symbol", &name, &name_len)) {
        return NULL;
    }
    if ((size_t)name_len != strlen(name)) {
        PyErr_SetString(PyExc_ValueError, "symbol: name has a NUL character");
        return NULL;
    }
    memset(&err, 0, sizeof(err));
    source_lock(&self->source);
    Py_BEGIN_ALLOW_THREADS
        status = mm_macho_find_symbol(&self->macho, name, &symbol, &err);
    Py_END_ALLOW_THREADS
    PyThread_release_lock(self->source.lock);
    if (status == MM_ERR_NOT_FOUND) {
        Py_RETURN_NONE;
    }
    if (status != MM_OK) {
        return raise_native_error(state, &err, -1, NULL, 0);
    }
    return Py_BuildValue("(Kiii)", (unsigned long long)symbol.value,
                         symbol.type, symbol.section, symbol.desc);
}

static PyObject *
macho_get_header(macho_object *self, void *closure)
{
    (void)closure;
    return Py_BuildValue(
        "(ikkkk)", self->macho.is64, (unsigned long)self->macho.cputype,
        (unsigned long)self->macho.cpusubtype,
        (unsigned long)self->macho.filetype, (unsigned long)self->macho.flags);
}

static PyObject *
macho_get_uuid(macho_object *self, void *closure)
{
    (void)closure;
    if (!self->macho.has_uuid) {
        Py_RETURN_NONE;
    }
    return PyBytes_FromStringAndSize((const char *)self->macho.uuid, 16);
}

static PyObject *
macho_get_segments(macho_object *self, void *closure)
{
    PyObject *segments;

    (void)closure;
    segments = PyTuple_New((Py_ssize_t)self->macho.segment_count);
    if (segments == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < self->macho.segment_count; i++) {
        const mm_macho_segment *s = &self->macho.segments[i];
        PyObject *item = Py_BuildValue(
            "(NKKKKkk)",
            PyUnicode_DecodeASCII(s->name, (Py_ssize_t)strlen(s->name),
                                  "backslashreplace"),
            (unsigned long long)s->vmaddr, (unsigned long long)s->vmsize,
            (unsigned long long)s->fileoff, (unsigned long long)s->filesize,
            (unsigned long)s->maxprot, (unsigned long)s->initprot);
        if (item == NULL) {
            Py_DECREF(segments);
            return NULL;
        }
        PyTuple_SET_ITEM(segments, (Py_ssize_t)i, item);
    }
    return segments;
}

static PyMethodDef macho_methods[] = {
    {"symbol", (PyCFunction)macho_symbol, METH_VARARGS, macho_symbol_doc},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef macho_getset[] = {
    {"header", (getter)macho_get_header, NULL,
     "(is64, cputype, cpusubtype, filetype, flags).", NULL},
    {"uuid", (getter)macho_get_uuid, NULL, "LC_UUID as bytes, or None.", NULL},
    {"segments", (getter)macho_get_segments, NULL,
     "Every segment: (name, vmaddr, vmsize, fileoff, filesize, maxprot, "
     "initprot).",
     NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot macho_slots[] = {
    {Py_tp_new, macho_new},
    {Py_tp_dealloc, macho_dealloc},
    {Py_tp_methods, macho_methods},
    {Py_tp_getset, macho_getset},
    {Py_tp_doc,
     "MachOFile(source=None, *, cputype=0, pid=None, load_address=0)\n--\n\n"
     "A Mach-O image read from a file descriptor (an int, duplicated), a\n"
     "bytes-like object (cputype picks the architecture of a fat file), or,\n"
     "with pid, from that process's memory at load_address, where dyld put\n"
     "its mach_header."},
    {0, NULL},
};

static PyType_Spec macho_spec = {
    .name = "memmaps._core.MachOFile",
    .basicsize = sizeof(macho_object),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = macho_slots,
};

PyDoc_STRVAR(
    dyld_images_doc,
    "dyld_images($module, pid, /)\n--\n\n"
    "dyld's list of loaded images of process pid (macOS): (version,\n"
    "shared_cache_slide, shared_cache_base, ((load_address, path, is_dyld),\n"
    "...)); the shared cache figures are None where the version lacks them.");

static PyObject *
core_dyld_images(PyObject *module, PyObject *args)
{
    module_state *state = get_state(module);
    long pid;

    if (!PyArg_ParseTuple(args, "l:dyld_images", &pid)) {
        return NULL;
    }
#ifdef __APPLE__
    {
        mm_target target;
        mm_dyld_list list;
        mm_err err;
        mm_status status;
        PyObject *images, *result = NULL;

        memset(&err, 0, sizeof(err));
        target.pid = pid < 0 ? MM_PID_SELF : pid;
        mm_dyld_list_init(&list);
        Py_BEGIN_ALLOW_THREADS
            status = mm_macos_dyld_list(&target, &list, &err);
        Py_END_ALLOW_THREADS
        if (status != MM_OK) {
            mm_dyld_list_free(&list);
            return raise_native_error(state, &err, pid, NULL, 0);
        }
        images = PyTuple_New((Py_ssize_t)list.count);
        if (images != NULL) {
            for (size_t i = 0; i < list.count; i++) {
                const mm_dyld_image *image = &list.images[i];
                PyObject *path = image->flags & MM_DYLD_IMAGE_HAS_PATH
                                     ? PyUnicode_DecodeFSDefaultAndSize(
                                           list.bytes + image->path_off,
                                           (Py_ssize_t)image->path_len)
                                     : Py_NewRef(Py_None);
                PyObject *item = Py_BuildValue(
                    "(KNO)", (unsigned long long)image->load_address, path,
                    image->flags & MM_DYLD_IMAGE_IS_DYLD ? Py_True : Py_False);
                if (item == NULL) {
                    Py_CLEAR(images);
                    break;
                }
                PyTuple_SET_ITEM(images, (Py_ssize_t)i, item);
            }
        }
        if (images != NULL) {
            PyObject *slide =
                list.present & MM_DYLD_HAS_SHARED_CACHE_SLIDE
                    ? PyLong_FromUnsignedLongLong(list.shared_cache_slide)
                    : Py_NewRef(Py_None);
            PyObject *base =
                list.present & MM_DYLD_HAS_SHARED_CACHE_BASE
                    ? PyLong_FromUnsignedLongLong(list.shared_cache_base)
                    : Py_NewRef(Py_None);
            result = Py_BuildValue("(kNNN)", (unsigned long)list.version,
                                   slide, base, images);
        }
        mm_dyld_list_free(&list);
        return result;
    }
#else
    {
        mm_err err;
        memset(&err, 0, sizeof(err));
        mm_err_set(&err, MM_ERR_UNSUPPORTED, 0,
                   "dyld's image list exists only on macOS");
        return raise_native_error(state, &err, pid, NULL, 0);
    }
#endif
}

static PyMethodDef core_methods[] = {
    {"setup", (PyCFunction)(void (*)(void))core_setup, METH_FASTCALL,
     setup_doc},
    {"regions", core_regions, METH_VARARGS, regions_doc},
    {"process_usage", core_process_usage, METH_VARARGS, process_usage_doc},
    {"region_at", core_region_at, METH_VARARGS, region_at_doc},
    {"read_memory", core_read_memory, METH_VARARGS, read_memory_doc},
    {"dyld_images", core_dyld_images, METH_VARARGS, dyld_images_doc},
    {"parse_maps", core_parse_maps, METH_O, parse_maps_doc},
    {NULL, NULL, 0, NULL},
};

static int
add_int_constants(PyObject *module)
{
    if (PyModule_AddIntConstant(module, "TEXT_ONLY", MM_SWITCH_TEXT_ONLY) <
            0 ||
        PyModule_AddIntConstant(module, "USAGE", MM_REGIONS_USAGE) < 0 ||
        PyModule_AddIntConstant(module, "NO_ROLLUP", MM_SWITCH_NO_ROLLUP) <
            0 ||
        PyModule_AddIntConstant(module, "FROM_LISTING",
                                MM_SWITCH_FROM_LISTING) < 0) {
        return -1;
    }
    return 0;
}

static int
core_exec(PyObject *module)
{
    module_state *state = get_state(module);
    PyObject *kinds;
    int rc;

    for (int prot = 0; prot < 16; prot++) {
        char text[5] = {
            prot & MM_PROT_READ ? 'r' : '-',
            prot & MM_PROT_WRITE ? 'w' : '-',
            prot & MM_PROT_EXEC ? 'x' : '-',
            prot & MM_PROT_SHARED ? 's' : 'p',
            '\0',
        };
        state->perms[prot] = PyUnicode_InternFromString(text);
        if (state->perms[prot] == NULL) {
            return -1;
        }
        if (prot < 8) {
            text[3] = '\0';
            state->max_perms[prot] = PyUnicode_InternFromString(text);
            if (state->max_perms[prot] == NULL) {
                return -1;
            }
        }
    }
    for (int kind = 0; kind < MM_KIND_COUNT; kind++) {
        state->kinds[kind] = PyUnicode_InternFromString(kind_names[kind]);
        if (state->kinds[kind] == NULL) {
            return -1;
        }
    }
    state->empty_tuple = PyTuple_New(0);
    if (state->empty_tuple == NULL) {
        return -1;
    }
    state->elf_type =
        (PyTypeObject *)PyType_FromModuleAndSpec(module, &elf_spec, NULL);
    if (state->elf_type == NULL ||
        PyModule_AddType(module, state->elf_type) < 0) {
        return -1;
    }
    state->macho_type =
        (PyTypeObject *)PyType_FromModuleAndSpec(module, &macho_spec, NULL);
    if (state->macho_type == NULL ||
        PyModule_AddType(module, state->macho_type) < 0) {
        return -1;
    }
    if (PyModule_AddStringConstant(module, "BACKEND", mm_backend_name()) < 0 ||
        add_int_constants(module) < 0) {
        return -1;
    }
    kinds = PyTuple_New(MM_KIND_COUNT);
    if (kinds == NULL) {
        return -1;
    }
    for (int kind = 0; kind < MM_KIND_COUNT; kind++) {
        PyTuple_SET_ITEM(kinds, kind, Py_NewRef(state->kinds[kind]));
    }
    rc = PyModule_AddObjectRef(module, "KINDS", kinds);
    Py_DECREF(kinds);
    return rc;
}

static int
core_traverse(PyObject *module, visitproc visit, void *arg)
{
    module_state *state = get_state(module);
    Py_VISIT(state->region_type);
    Py_VISIT(state->usage_type);
    Py_VISIT(state->make_error);
    Py_VISIT(state->elf_type);
    Py_VISIT(state->macho_type);
    return 0;
}

static int
core_clear(PyObject *module)
{
    module_state *state = get_state(module);
    Py_CLEAR(state->region_type);
    Py_CLEAR(state->usage_type);
    Py_CLEAR(state->make_error);
    Py_CLEAR(state->empty_tuple);
    Py_CLEAR(state->elf_type);
    Py_CLEAR(state->macho_type);
    for (int i = 0; i < 16; i++) {
        Py_CLEAR(state->perms[i]);
    }
    for (int i = 0; i < 8; i++) {
        Py_CLEAR(state->max_perms[i]);
    }
    for (int i = 0; i < MM_KIND_COUNT; i++) {
        Py_CLEAR(state->kinds[i]);
    }
    return 0;
}

static void
core_free(void *module)
{
    core_clear((PyObject *)module);
}

static PyModuleDef_Slot core_slots[] = {
    {Py_mod_exec, core_exec},
    {0, NULL},
};

static struct PyModuleDef core_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "memmaps._core",
    .m_doc = "The native core of memmaps: reads memory maps, returns Regions.",
    .m_size = sizeof(module_state),
    .m_methods = core_methods,
    .m_slots = core_slots,
    .m_traverse = core_traverse,
    .m_clear = core_clear,
    .m_free = core_free,
};

PyMODINIT_FUNC
PyInit__core(void)
{
    return PyModuleDef_Init(&core_module);
}
