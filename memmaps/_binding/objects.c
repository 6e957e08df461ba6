/* Building Region, Usage and image tuples from native lists.
 *
 * Region and Usage are tuple subclasses defined in Python and handed over
 * once by setup(); building them is the hot path of every listing, so what
 * repeats (the 16 permission strings, the kinds, the paths of one file's
 * mappings, page-sized figures, VmFlags sets) is made once per listing and
 * shared.  A listing's Regions are made when first asked for
 * (region_list.c), so a builder lives as long as the listing it serves.
 */
#include "binding.h"

#include "formats/procmaps.h"

#include <string.h>

static const char *const region_fields[REGION_FIELDS] = {
    "start",      "end",       "perms",  "offset",
    "dev_major",  "dev_minor", "inode",  "path",
    "deleted",    "kind",      "usage",  "max_perms",
    "share_mode", "tag",       "detail", "allocation_base",
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

/* Each entry holds a reference of its own: Regions are made one at a time,
 * in any order, and one made twice (by two threads at once) is dropped, so
 * no object the caches give out may depend on another Region staying. */
typedef struct {
    const char *bytes; /* into the mm_list being converted */
    uint32_t len;
    PyObject *object;
} text_cache_entry;

typedef struct {
    uint64_t value;
    PyObject *object;
} int_cache_entry;

typedef struct {
    const mm_usage *usage;
    PyObject *object;
} usage_cache_entry;

typedef struct {
    const char *text; /* a static string of the backend */
    PyObject *object;
} static_text_entry;

struct binding_builder {
    /* The classes and strings, held for the listing's life: setup() may
     * hand over new classes meanwhile, and the module's state may be
     * cleared before the last listing goes. */
    PyTypeObject *region_type;
    PyTypeObject *usage_type;
    PyObject *perms[16];
    PyObject *max_perms[8];
    PyObject *kinds[MM_KIND_COUNT];
    PyObject *empty_tuple;
    const mm_list *list;
    text_cache_entry paths[TEXT_CACHE_SIZE];
    text_cache_entry *last_path; /* the entry of the last name, or NULL */
    text_cache_entry details[TEXT_CACHE_SIZE];
    text_cache_entry *last_detail;
    text_cache_entry vmflags[TEXT_CACHE_SIZE];
    int_cache_entry ints[INT_CACHE_SIZE];
    usage_cache_entry usages[TEXT_CACHE_SIZE];
    static_text_entry labels[TEXT_CACHE_SIZE]; /* tags and share modes */
};
typedef binding_builder builder;

/* Puts object (a new reference, or NULL) in a cache slot, in place of what
 * the slot held; returns object. */
static PyObject *
cache_put(PyObject **slot, PyObject *object)
{
    if (object != NULL) {
        Py_XSETREF(*slot, Py_NewRef(object));
    }
    return object;
}

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

PyObject *
binding_decode_os_text(const char *text, Py_ssize_t len)
{
    /* As os.fsdecode does, so nothing is lost.  On POSIX the file system
     * encoding with surrogateescape: undecodable bytes survive a round trip
     * through os.fsencode.  On Windows the backend turns UTF-16 into WTF-8,
     * which UTF-8 with surrogatepass reads, unpaired surrogates too; said
     * here rather than left to the file system encoding, which the legacy
     * mode (PYTHONLEGACYWINDOWSFSENCODING) makes the ANSI code page. */
#ifdef _WIN32
    return PyUnicode_DecodeUTF8(text, len, "surrogatepass");
#else
    return PyUnicode_DecodeFSDefaultAndSize(text, len);
#endif
}

/* A new reference to the str of a name or a label the OS gave in its own
 * bytes, through cache (whose entry *last is the first guess). */
static PyObject *
os_text_object(text_cache_entry *cache, text_cache_entry **last,
               const char *text, uint32_t len)
{
    text_cache_entry *entry;
    PyObject *object;

    /* A file's mappings, a stack's pieces come one after another: the text
     * of the region before is the first guess, and costs no hashing. */
    if (*last != NULL && text_hit(*last, text, len)) {
        return Py_NewRef((*last)->object);
    }
    entry = text_entry(cache, text, len);
    *last = entry;
    if (text_hit(entry, text, len)) {
        return Py_NewRef(entry->object);
    }
    object = binding_decode_os_text(text, (Py_ssize_t)len);
    if (object != NULL) {
        entry->bytes = text;
        entry->len = len;
        cache_put(&entry->object, object);
    }
    return object;
}

static PyObject *
path_object(builder *b, const char *name, uint32_t len)
{
    return os_text_object(b->paths, &b->last_path, name, len);
}

static PyObject *
detail_object(builder *b, const char *detail, uint32_t len)
{
    return os_text_object(b->details, &b->last_detail, detail, len);
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
        cache_put(&entry->object, object);
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
        cache_put(&entry->object, tuple);
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
        SET(usage, U_EXTRA, Py_NewRef(b->empty_tuple));
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
        cache_put(&entry->object, usage);
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
        cache_put(&entry->object, object);
    }
    return object;
}

PyObject *
binding_builder_region(binding_builder *b, size_t index, PyObject *before,
                       PyObject *after)
{
    const mm_region *r = &b->list->regions[index];
    PyTypeObject *type = b->region_type;
    PyObject *region = type->tp_alloc(type, REGION_FIELDS);

    if (region == NULL) {
        return NULL;
    }
    /* Every field is an int, a str, a bool, None or a Usage of those, so a
     * Region can never be part of a reference cycle; keeping it away from
     * the cyclic collector saves walking every region of every listing. */
    PyObject_GC_UnTrack(region);

    /* Where regions follow each other without a gap (a library's segments,
     * a heap), a region starts where the one before it ends, and both
     * share that int, whichever of the two is made first. */
    if (before != NULL && b->list->regions[index - 1].end == r->start) {
        SET(region, F_START, Py_NewRef(PyTuple_GET_ITEM(before, F_END)));
    }
    else {
        SET(region, F_START, PyLong_FromUnsignedLongLong(r->start));
    }
    if (after != NULL && b->list->regions[index + 1].start == r->end) {
        SET(region, F_END, Py_NewRef(PyTuple_GET_ITEM(after, F_START)));
    }
    else {
        SET(region, F_END, PyLong_FromUnsignedLongLong(r->end));
    }
    SET(region, F_PERMS, Py_NewRef(b->perms[r->prot & 15]));
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
        Py_NewRef(
            b->kinds[r->kind < MM_KIND_COUNT ? r->kind : MM_KIND_SPECIAL]));
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
        SET(region, F_MAX_PERMS, Py_NewRef(b->max_perms[r->max_prot & 7]));
    }
    SET(region, F_SHARE_MODE, label_object(b, r->share_mode));
    SET(region, F_TAG, label_object(b, r->tag));
    if (r->flags & MM_REGION_DETAIL) {
        SET(region, F_DETAIL,
            detail_object(b, b->list->bytes + r->detail_off, r->detail_len));
    }
    else {
        SET(region, F_DETAIL, Py_NewRef(Py_None));
    }
    if (r->alloc_base != 0) {
        SET(region, F_ALLOCATION_BASE, int_object(b, r->alloc_base));
    }
    else {
        SET(region, F_ALLOCATION_BASE, Py_NewRef(Py_None));
    }
    return region;

error:
    Py_DECREF(region);
    return NULL;
}

binding_builder *
binding_builder_new(module_state *state, const mm_list *list)
{
    builder *b = PyMem_Calloc(1, sizeof(builder));

    if (b == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    b->region_type = (PyTypeObject *)Py_NewRef(state->region_type);
    b->usage_type = (PyTypeObject *)Py_NewRef(state->usage_type);
    for (int i = 0; i < 16; i++) {
        b->perms[i] = Py_NewRef(state->perms[i]);
    }
    for (int i = 0; i < 8; i++) {
        b->max_perms[i] = Py_NewRef(state->max_perms[i]);
    }
    for (int i = 0; i < MM_KIND_COUNT; i++) {
        b->kinds[i] = Py_NewRef(state->kinds[i]);
    }
    b->empty_tuple = Py_NewRef(state->empty_tuple);
    b->list = list;
    return b;
}

void
binding_builder_free(binding_builder *b)
{
    if (b == NULL) {
        return;
    }
    for (int i = 0; i < TEXT_CACHE_SIZE; i++) {
        Py_XDECREF(b->paths[i].object);
        Py_XDECREF(b->details[i].object);
        Py_XDECREF(b->vmflags[i].object);
        Py_XDECREF(b->usages[i].object);
        Py_XDECREF(b->labels[i].object);
    }
    for (int i = 0; i < INT_CACHE_SIZE; i++) {
        Py_XDECREF(b->ints[i].object);
    }
    Py_DECREF(b->region_type);
    Py_DECREF(b->usage_type);
    for (int i = 0; i < 16; i++) {
        Py_DECREF(b->perms[i]);
    }
    for (int i = 0; i < 8; i++) {
        Py_DECREF(b->max_perms[i]);
    }
    for (int i = 0; i < MM_KIND_COUNT; i++) {
        Py_DECREF(b->kinds[i]);
    }
    Py_DECREF(b->empty_tuple);
    PyMem_Free(b);
}

PyObject *
build_listing(module_state *state, mm_list *list)
{
    /* Read before the regions take the list over. */
    PyObject *partial =
        list->partial == NULL
            ? Py_NewRef(Py_None)
            : PyUnicode_DecodeUTF8(list->partial,
                                   (Py_ssize_t)strlen(list->partial),
                                   "backslashreplace");
    PyObject *regions;

    if (partial == NULL) {
        return NULL;
    }
    regions = build_regions(state, list);
    if (regions == NULL) {
        Py_DECREF(partial);
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
    return binding_decode_os_text(list->bytes + off, (Py_ssize_t)len);
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
