/* Building Region, Usage and image tuples from native lists.
 *
 * Region and Usage are tuple subclasses defined in Python and handed over
 * once by setup(); building them is the hot path of every listing, so what
 * repeats (the 16 permission strings, the kinds, the paths of one file's
 * mappings, page-sized figures, VmFlags sets) is made once per listing and
 * shared.
 */
#include "binding.h"

#include "formats/procmaps.h"

#include <string.h>

static const char *const region_fields[REGION_FIELDS] = {
    "start",     "end",       "perms",      "offset",  "dev_major",
    "dev_minor", "inode",     "path",       "deleted", "kind",
    "usage",     "max_perms", "share_mode", "tag",     "detail",
};

const char *
binding_region_field(Py_ssize_t index)
{
    return index >= 0 && index < REGION_FIELDS ? region_fields[index] : NULL;
}

const char *
binding_usage_field(Py_ssize_t index)
{
    if (index == U_VMFLAGS) {
        return "vmflags";
    }
    if (index == U_EXTRA) {
        return "extra";
    }
    return mm_usage_field_name((mm_usage_field)index);
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
    /* The classes, held for the whole build: the build lets other threads
     * run, and one of them could call setup() meanwhile. */
    PyTypeObject *region_type;
    PyTypeObject *usage_type;
    const mm_list *list;
    text_cache_entry paths[TEXT_CACHE_SIZE];
    text_cache_entry *last_path; /* the entry of the last name, or NULL */
    text_cache_entry vmflags[TEXT_CACHE_SIZE];
    int_cache_entry ints[INT_CACHE_SIZE];
    usage_cache_entry usages[TEXT_CACHE_SIZE];
    /* The end of the region built last: where regions follow each other
     * without a gap (a library's segments, a heap), a region starts where
     * the one before it ends, and both share that int. */
    uint64_t last_end;
    PyObject *last_end_object; /* borrowed, as above; NULL at first */
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
    text_cache_entry *entry;
    PyObject *path;

    /* A file's mappings come one after another: the name of the region
     * before is the first guess, and costs no hashing. */
    if (b->last_path != NULL && text_hit(b->last_path, name, len)) {
        return Py_NewRef(b->last_path->object);
    }
    entry = text_entry(b->paths, name, len);
    b->last_path = entry;
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
    PyTypeObject *type = b->usage_type;
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
    PyTypeObject *type = b->region_type;
    PyObject *region = type->tp_alloc(type, REGION_FIELDS);

    if (region == NULL) {
        return NULL;
    }
    /* Every field is an int, a str, a bool, None or a Usage of those, so a
     * Region can never be part of a reference cycle; keeping it away from
     * the cyclic collector saves walking every region of every listing. */
    PyObject_GC_UnTrack(region);

    if (b->last_end_object != NULL && b->last_end == r->start) {
        SET(region, F_START, Py_NewRef(b->last_end_object));
    }
    else {
        SET(region, F_START, PyLong_FromUnsignedLongLong(r->start));
    }
    SET(region, F_END, PyLong_FromUnsignedLongLong(r->end));
    b->last_end = r->end;
    b->last_end_object = PyTuple_GET_ITEM(region, F_END);
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
    SET(region, F_DETAIL, Py_NewRef(Py_None));
    return region;

error:
    Py_DECREF(region);
    return NULL;
}

/* Regions built between two looks at the clock. */
#define REGIONS_PER_CLOCK 1024

/* How long the build keeps the GIL between two hand-overs: two of the
 * interpreter's switch intervals (binding.h says why). */
static uint64_t
hold_ns(void)
{
    PyObject *get = PySys_GetObject("getswitchinterval"); /* borrowed */
    PyObject *interval = get != NULL ? PyObject_CallNoArgs(get) : NULL;
    double seconds = interval != NULL ? PyFloat_AsDouble(interval) : -1.0;

    Py_XDECREF(interval);
    if (seconds <= 0 || seconds > 1.0) {
        PyErr_Clear();
        seconds = 0.005;
    }
    return (uint64_t)(2 * seconds * 1e9);
}

/* Lets the other threads have the interpreter for a moment, and runs the
 * signal handlers; -1 when one raised.  The collector, kept off for the
 * build, is as the program has it while others run: *gc_off says whether
 * the build turned it off, and is set again after. */
static int
let_others_run(int *gc_off)
{
    int raised;

    if (*gc_off) {
        PyGC_Enable();
    }
    Py_BEGIN_ALLOW_THREADS
    Py_END_ALLOW_THREADS
    raised = PyErr_CheckSignals() < 0;
    *gc_off = PyGC_Disable();
    return raised ? -1 : 0;
}

/* A partly built listing that a signal handler's exception cut short, and
 * how much of it is still to free. */
typedef struct {
    PyObject *tuple; /* the only reference, its items set up to count */
    Py_ssize_t count;
} partial_listing;

/* Freeing a million Regions takes the better part of a tenth of a second:
 * done at once, the exception (KeyboardInterrupt) would wait for it.  So a
 * listing cut short is freed afterwards, a slice at a time, as one of the
 * interpreter's pending calls, which run between two bytecodes of the main
 * thread. */
#define FREED_PER_CALL 32768

static int
free_some(void *arg)
{
    partial_listing *partial = arg;
    Py_ssize_t stop =
        partial->count > FREED_PER_CALL ? partial->count - FREED_PER_CALL : 0;

    while (partial->count > stop) {
        partial->count--;
        Py_CLEAR(PyTuple_GET_ITEM(partial->tuple, partial->count));
    }
    if (partial->count > 0 && Py_AddPendingCall(free_some, partial) == 0) {
        return 0;
    }
    Py_DECREF(partial->tuple); /* what is left, at once */
    PyMem_Free(partial);
    return 0;
}

/* Drops the only reference to a listing the builder had filled up to
 * count, later where it is big and this is the main interpreter, whose main
 * thread runs the pending calls (a subinterpreter's objects are its own). */
static void
drop_partial(PyObject *tuple, Py_ssize_t count)
{
    partial_listing *partial;

    if (count > FREED_PER_CALL &&
        PyThreadState_GetInterpreter(PyThreadState_Get()) ==
            PyInterpreterState_Main() &&
        (partial = PyMem_Malloc(sizeof(*partial))) != NULL) {
        partial->tuple = tuple;
        partial->count = count;
        if (Py_AddPendingCall(free_some, partial) == 0) {
            return;
        }
        PyMem_Free(partial);
    }
    Py_DECREF(tuple);
}

PyObject *
build_regions(module_state *state, const mm_list *list)
{
    PyObject *result = PyTuple_New((Py_ssize_t)list->count);
    builder *b;
    int gc_off;
    uint64_t hold = 0, next_yield_ns = 0;

    if (result == NULL) {
        return NULL;
    }
    /* Of Regions, which hold no cycle: a collection while other threads run
     * has no reason to walk it. */
    PyObject_GC_UnTrack(result);
    b = PyMem_Calloc(1, sizeof(builder));
    if (b == NULL) {
        Py_DECREF(result);
        return PyErr_NoMemory();
    }
    b->state = state;
    b->region_type = (PyTypeObject *)Py_NewRef(state->region_type);
    b->usage_type = (PyTypeObject *)Py_NewRef(state->usage_type);
    b->list = list;
    if (list->count > REGIONS_PER_CLOCK) {
        hold = hold_ns();
        next_yield_ns = binding_now_ns() + hold;
    }
    /* Nothing built here can form a cycle; a collection in the middle would
     * only walk the young objects for nothing.  PyGC_Disable() says whether
     * it was on. */
    gc_off = PyGC_Disable();
    for (size_t i = 0; i < list->count; i++) {
        PyObject *region;

        if (i % REGIONS_PER_CLOCK == REGIONS_PER_CLOCK - 1 &&
            binding_now_ns() >= next_yield_ns) {
            if (let_others_run(&gc_off) < 0) {
                drop_partial(result, (Py_ssize_t)i);
                result = NULL;
                break;
            }
            next_yield_ns = binding_now_ns() + hold;
        }
        region = new_region(b, &list->regions[i]);
        if (region == NULL) {
            Py_CLEAR(result);
            break;
        }
        PyTuple_SET_ITEM(result, (Py_ssize_t)i, region);
    }
    if (gc_off) {
        PyGC_Enable();
    }
    Py_DECREF(b->region_type);
    Py_DECREF(b->usage_type);
    PyMem_Free(b);
    return result;
}

PyObject *
build_listing(module_state *state, const mm_list *list)
{
    PyObject *regions = build_regions(state, list);
    PyObject *partial;

    if (regions == NULL) {
        return NULL;
    }
    partial = list->partial == NULL
                  ? Py_NewRef(Py_None)
                  : PyUnicode_DecodeUTF8(list->partial,
                                         (Py_ssize_t)strlen(list->partial),
                                         "backslashreplace");
    if (partial == NULL) {
        Py_DECREF(regions);
        return NULL;
    }
    return Py_BuildValue("(NN)", regions, partial);
}

/* ---- images ---- */

static const char *const format_names[] = {
    [MM_FORMAT_ELF] = "elf",
    [MM_FORMAT_MACHO] = "macho",
    [MM_FORMAT_PE] = "pe",
};

static PyObject *
text_or_none(const mm_image_list *list, size_t off, uint32_t len)
{
    if (len == 0) {
        return Py_NewRef(Py_None);
    }
    return PyUnicode_DecodeFSDefaultAndSize(list->bytes + off,
                                            (Py_ssize_t)len);
}

static PyObject *
segments_object(module_state *state, const mm_image_list *list, size_t image,
                size_t *next)
{
    size_t first = *next, count = 0;
    PyObject *segments;

    while (first + count < list->segment_count &&
           list->segments[first + count].image == image) {
        count++;
    }
    *next = first + count;
    segments = PyTuple_New((Py_ssize_t)count);
    if (segments == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < count; i++) {
        const mm_image_segment *s = &list->segments[first + i];
        PyObject *item = Py_BuildValue(
            "(KKNO)", (unsigned long long)s->start, (unsigned long long)s->end,
            PyUnicode_DecodeASCII(s->name, (Py_ssize_t)strnlen(s->name, 16),
                                  "backslashreplace"),
            state->max_perms[s->prot & 7]);
        if (item == NULL) {
            Py_DECREF(segments);
            return NULL;
        }
        PyTuple_SET_ITEM(segments, (Py_ssize_t)i, item);
    }
    return segments;
}

PyObject *
build_images(module_state *state, const mm_image_list *list)
{
    PyObject *result = PyTuple_New((Py_ssize_t)list->count);
    size_t next_segment = 0;

    if (result == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < list->count; i++) {
        const mm_image *image = &list->images[i];
        const char *format =
            image->format < sizeof(format_names) / sizeof(format_names[0]) &&
                    format_names[image->format] != NULL
                ? format_names[image->format]
                : "unknown";
        PyObject *build_id =
            image->build_id_len == 0
                ? Py_NewRef(Py_None)
                : PyBytes_FromStringAndSize(
                      (const char *)image->build_id,
                      (Py_ssize_t)(image->build_id_len < MM_BUILD_ID_MAX
                                       ? image->build_id_len
                                       : MM_BUILD_ID_MAX));
        PyObject *item = Py_BuildValue(
            "(NKKKNkkKIsNKNI)",
            text_or_none(list, image->path_off, image->path_len),
            (unsigned long long)image->base, (unsigned long long)image->end,
            (unsigned long long)image->bias, build_id,
            (unsigned long)image->dev_major, (unsigned long)image->dev_minor,
            (unsigned long long)image->inode, (unsigned int)image->flags,
            format, text_or_none(list, image->source_off, image->source_len),
            (unsigned long long)image->header,
            segments_object(state, list, i, &next_segment),
            (unsigned int)image->load_order);
        if (item == NULL) {
            Py_DECREF(result);
            return NULL;
        }
        PyTuple_SET_ITEM(result, (Py_ssize_t)i, item);
    }
    return result;
}

/* ---- what every listing shares ---- */

int
binding_init_objects(PyObject *module, module_state *state)
{
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
        state->kinds[kind] =
            PyUnicode_InternFromString(mm_kind_name((mm_kind)kind));
        if (state->kinds[kind] == NULL) {
            return -1;
        }
    }
    state->empty_tuple = PyTuple_New(0);
    if (state->empty_tuple == NULL) {
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
