/* memmaps._core: the only file that speaks to Python.
 *
 * It parses arguments, releases the GIL around the native calls, and turns
 * mm_list records into Region objects.  Region is a tuple subclass defined in
 * memmaps/region.py and handed over once by setup(); building its instances
 * here is the hot path of every listing, so the strings that repeat (the 16
 * permission strings, the kinds, the paths of one file's mappings) are made
 * once and shared.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "native/mm.h"

#include <string.h>

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
    PyObject *make_error;      /* memmaps.errors._from_native, from setup() */
    PyObject *perms[16];       /* "---p" ... "rwxs", by MM_PROT_* bits */
    PyObject *kinds[MM_KIND_COUNT];
} module_state;

static inline module_state *
get_state(PyObject *module)
{
    return (module_state *)PyModule_GetState(module);
}

/* ---- paths: decoded once per distinct name in a listing ---- */

#define PATH_CACHE_SIZE 256 /* a power of two */

typedef struct {
    const char *bytes; /* into the mm_list being converted */
    uint32_t len;
    PyObject *path; /* borrowed from a Region built earlier */
} path_cache_entry;

static uint32_t
hash_name(const char *name, uint32_t len)
{
    /* FNV-1a: names are short and this runs once per region. */
    uint32_t hash = 2166136261u;
    for (uint32_t i = 0; i < len; i++) {
        hash = (hash ^ (unsigned char)name[i]) * 16777619u;
    }
    return hash;
}

/* A new reference to the str for a name, shared with earlier regions. */
static PyObject *
path_object(path_cache_entry *cache, const char *name, uint32_t len)
{
    path_cache_entry *entry =
        &cache[hash_name(name, len) & (PATH_CACHE_SIZE - 1)];
    PyObject *path;

    if (entry->path != NULL && entry->len == len &&
        memcmp(entry->bytes, name, len) == 0) {
        return Py_NewRef(entry->path);
    }
    /* The file system encoding with surrogateescape, as os.fsdecode does, so
     * undecodable bytes survive a round trip through os.fsencode. */
    path = PyUnicode_DecodeFSDefaultAndSize(name, (Py_ssize_t)len);
    if (path != NULL) {
        entry->bytes = name;
        entry->len = len;
        entry->path = path; /* kept alive by the Region that takes it */
    }
    return path;
}

static PyObject *
new_region(module_state *state, const mm_list *list, const mm_region *r,
           path_cache_entry *cache, PyObject **last_inode,
           uint64_t *last_inode_value)
{
    PyTypeObject *type = state->region_type;
    PyObject *region = type->tp_alloc(type, REGION_FIELDS);
    PyObject *item;

    if (region == NULL) {
        return NULL;
    }
    /* Every field is an int, a str, a bool or None, so a Region can never be
     * part of a reference cycle; keeping it away from the cyclic collector
     * saves the collector from walking every region of every listing. */
    PyObject_GC_UnTrack(region);

#define SET(index, value)                                                     \
    do {                                                                      \
        item = (value);                                                       \
        if (item == NULL) {                                                   \
            goto error;                                                       \
        }                                                                     \
        PyTuple_SET_ITEM(region, (index), item);                              \
    } while (0)

    SET(F_START, PyLong_FromUnsignedLongLong(r->start));
    SET(F_END, PyLong_FromUnsignedLongLong(r->end));
    SET(F_PERMS, Py_NewRef(state->perms[r->prot & 15]));
    SET(F_OFFSET, PyLong_FromUnsignedLongLong(r->offset));
    SET(F_DEV_MAJOR, PyLong_FromUnsignedLong(r->dev_major));
    SET(F_DEV_MINOR, PyLong_FromUnsignedLong(r->dev_minor));
    if (*last_inode != NULL && *last_inode_value == r->inode) {
        SET(F_INODE, Py_NewRef(*last_inode));
    }
    else {
        SET(F_INODE, PyLong_FromUnsignedLongLong(r->inode));
        *last_inode = item; /* borrowed: this region holds it */
        *last_inode_value = r->inode;
    }
    if (r->flags & MM_REGION_NAMED) {
        SET(F_PATH,
            path_object(cache, list->bytes + r->name_off, r->name_len));
    }
    else {
        SET(F_PATH, Py_NewRef(Py_None));
    }
    SET(F_DELETED, PyBool_FromLong(r->flags & MM_REGION_DELETED));
    SET(F_KIND,
        Py_NewRef(state->kinds[r->kind < MM_KIND_COUNT ? r->kind
                                                       : MM_KIND_SPECIAL]));
    SET(F_USAGE, Py_NewRef(Py_None));
    if (r->max_prot == MM_PROT_UNKNOWN) {
        SET(F_MAX_PERMS, Py_NewRef(Py_None));
    }
    else {
        SET(F_MAX_PERMS, Py_NewRef(state->perms[r->max_prot & 15]));
    }
    SET(F_SHARE_MODE, Py_NewRef(Py_None));
    SET(F_TAG, Py_NewRef(Py_None));
#undef SET
    return region;

error:
    Py_DECREF(region);
    return NULL;
}

static PyObject *
build_regions(module_state *state, const mm_list *list)
{
    PyObject *result = PyTuple_New((Py_ssize_t)list->count);
    path_cache_entry *cache;
    PyObject *last_inode = NULL;
    uint64_t last_inode_value = 0;
    int gc_was_enabled;

    if (result == NULL) {
        return NULL;
    }
    cache = PyMem_Calloc(PATH_CACHE_SIZE, sizeof(path_cache_entry));
    if (cache == NULL) {
        Py_DECREF(result);
        return PyErr_NoMemory();
    }
    /* Nothing built here can form a cycle; a collection in the middle would
     * only walk the young objects for nothing. */
    gc_was_enabled = PyGC_Disable();
    for (size_t i = 0; i < list->count; i++) {
        PyObject *region = new_region(state, list, &list->regions[i], cache,
                                      &last_inode, &last_inode_value);
        if (region == NULL) {
            Py_CLEAR(result);
            break;
        }
        PyTuple_SET_ITEM(result, (Py_ssize_t)i, region);
    }
    if (gc_was_enabled) {
        PyGC_Enable();
    }
    PyMem_Free(cache);
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
    if (state->region_type == NULL || state->make_error == NULL) {
        PyErr_SetString(PyExc_RuntimeError,
                        "memmaps._core.setup() has not been called; "
                        "import memmaps instead");
        return -1;
    }
    return 0;
}

PyDoc_STRVAR(setup_doc,
             "setup($module, region_type, make_error, /)\n--\n\n"
             "Hands over the Region class and the factory of exceptions.\n"
             "memmaps calls this once when it is imported.");

static PyObject *
core_setup(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    module_state *state = get_state(module);

    if (nargs != 2) {
        PyErr_Format(PyExc_TypeError, "setup() takes 2 arguments (%zd given)",
                     nargs);
        return NULL;
    }
    if (!PyType_Check(args[0]) ||
        !PyType_IsSubtype((PyTypeObject *)args[0], &PyTuple_Type)) {
        PyErr_SetString(PyExc_TypeError,
                        "setup(): region_type must be a tuple subclass");
        return NULL;
    }
    if (!PyCallable_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError,
                        "setup(): make_error must be callable");
        return NULL;
    }
    Py_XSETREF(state->region_type, (PyTypeObject *)Py_NewRef(args[0]));
    Py_XSETREF(state->make_error, Py_NewRef(args[1]));
    Py_RETURN_NONE;
}

PyDoc_STRVAR(
    regions_doc,
    "regions($module, pid, flags=0, /)\n--\n\n"
    "The regions of process pid (-1 for the calling process) as a tuple of\n"
    "Region, sorted and never overlapping.");

static PyObject *
core_regions(PyObject *module, PyObject *args)
{
    module_state *state = get_state(module);
    long pid;
    unsigned int flags = 0;
    mm_target target;
    mm_list list;
    mm_err err;
    mm_status status;
    PyObject *result;

    if (!PyArg_ParseTuple(args, "l|I:regions", &pid, &flags)) {
        return NULL;
    }
    if (check_setup(state) < 0) {
        return NULL;
    }
    target.pid = pid < 0 ? MM_PID_SELF : pid;
    mm_list_init(&list);
    memset(&err, 0, sizeof(err));
    Py_BEGIN_ALLOW_THREADS status = mm_regions(&target, flags, &list, &err);
    Py_END_ALLOW_THREADS if (status != MM_OK)
    {
        result =
            raise_native_error(state, &err, pid, list.bytes, list.bytes_len);
    }
    else
    {
        result = build_regions(state, &list);
    }
    mm_list_free(&list);
    return result;
}

PyDoc_STRVAR(
    parse_maps_doc,
    "parse_maps($module, text, /)\n--\n\n"
    "Regions from /proc/PID/maps text (a bytes-like object), as a tuple of\n"
    "Region, sorted and never overlapping.");

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
    Py_BEGIN_ALLOW_THREADS status =
        mm_parse_maps(view.buf, (size_t)view.len, &list, &err);
    if (status == MM_OK) {
        mm_list_normalize(&list);
    }
    Py_END_ALLOW_THREADS if (status != MM_OK)
    {
        result =
            raise_native_error(state, &err, -1, view.buf, (size_t)view.len);
    }
    else
    {
        result = build_regions(state, &list);
    }
    mm_list_free(&list);
    PyBuffer_Release(&view);
    return result;
}

static PyMethodDef core_methods[] = {
    {"setup", (PyCFunction)(void (*)(void))core_setup, METH_FASTCALL,
     setup_doc},
    {"regions", core_regions, METH_VARARGS, regions_doc},
    {"parse_maps", core_parse_maps, METH_O, parse_maps_doc},
    {NULL, NULL, 0, NULL},
};

static int
core_exec(PyObject *module)
{
    module_state *state = get_state(module);

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
    }
    for (int kind = 0; kind < MM_KIND_COUNT; kind++) {
        state->kinds[kind] = PyUnicode_InternFromString(kind_names[kind]);
        if (state->kinds[kind] == NULL) {
            return -1;
        }
    }
    if (PyModule_AddStringConstant(module, "BACKEND", mm_backend_name()) < 0 ||
        PyModule_AddIntConstant(module, "TEXT_ONLY", MM_REGIONS_TEXT_ONLY) <
            0) {
        return -1;
    }
    {
        PyObject *kinds = PyTuple_New(MM_KIND_COUNT);
        if (kinds == NULL) {
            return -1;
        }
        for (int kind = 0; kind < MM_KIND_COUNT; kind++) {
            PyTuple_SET_ITEM(kinds, kind, Py_NewRef(state->kinds[kind]));
        }
        int rc = PyModule_AddObjectRef(module, "KINDS", kinds);
        Py_DECREF(kinds);
        if (rc < 0) {
            return -1;
        }
    }
    return 0;
}

static int
core_traverse(PyObject *module, visitproc visit, void *arg)
{
    module_state *state = get_state(module);
    Py_VISIT(state->region_type);
    Py_VISIT(state->make_error);
    return 0;
}

static int
core_clear(PyObject *module)
{
    module_state *state = get_state(module);
    Py_CLEAR(state->region_type);
    Py_CLEAR(state->make_error);
    for (int i = 0; i < 16; i++) {
        Py_CLEAR(state->perms[i]);
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
