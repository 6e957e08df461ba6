/* memmaps._core: the extension module's entry point.
 *
 * The module, its state, setup() and the method table; each method parses
 * its arguments, runs the native call without the GIL and hands the result
 * to the binding (memmaps/_binding/), which turns mm_list records into
 * Region and Usage objects and native errors into memmaps exceptions.  Only
 * the binding speaks to Python; memmaps/native/ is plain C.
 */
#include "_binding/binding.h"

#include "core/switches.h"
#include "formats/procmaps.h"
#include "core/reader.h"

#include <string.h>
#ifndef _WIN32
#include <unistd.h>
#endif
#ifdef __linux__
#include "backends/linux.h"

#include <errno.h>
#endif

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

/* type must be a tuple subclass whose _fields are exactly names, in order:
 * the C side fills the items by position. */
static int
check_record_type(PyObject *type, const char *what,
                  const char *(*name_of)(Py_ssize_t), Py_ssize_t count)
{
    PyObject *fields;
    int ok = 1;

    if (!PyType_Check(type) ||
        !PyType_IsSubtype((PyTypeObject *)type, &PyTuple_Type)) {
        PyErr_Format(PyExc_TypeError, "setup(): %s must be a tuple subclass",
                     what);
        return -1;
    }
    fields = PyObject_GetAttrString(type, "_fields");
    if (fields == NULL) {
        PyErr_Clear();
        PyErr_Format(PyExc_TypeError,
                     "setup(): %s must be a named tuple (it has no _fields)",
                     what);
        return -1;
    }
    if (!PyTuple_Check(fields) || PyTuple_GET_SIZE(fields) != count) {
        ok = 0;
    }
    for (Py_ssize_t i = 0; ok && i < count; i++) {
        PyObject *name = PyTuple_GET_ITEM(fields, i);
        ok = PyUnicode_Check(name) &&
             PyUnicode_CompareWithASCIIString(name, name_of(i)) == 0;
    }
    if (!ok) {
        PyObject *expected = PyTuple_New(count);
        if (expected != NULL) {
            for (Py_ssize_t i = 0; i < count; i++) {
                PyObject *name = PyUnicode_FromString(name_of(i));
                if (name == NULL) {
                    Py_CLEAR(expected);
                    break;
                }
                PyTuple_SET_ITEM(expected, i, name);
            }
        }
        if (expected != NULL) {
            PyErr_Format(PyExc_TypeError,
                         "setup(): %s has the fields %R; the C core fills %R",
                         what, fields, expected);
            Py_DECREF(expected);
        }
    }
    Py_DECREF(fields);
    return ok ? 0 : -1;
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
    if (check_record_type(args[0], "region_type", binding_region_field,
                          REGION_FIELDS) < 0 ||
        check_record_type(args[1], "usage_type", binding_usage_field,
                          USAGE_FIELDS) < 0) {
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

/* The target of a call, once setup() is known to have run; -1 on error. */
static int
begin_call(module_state *state, long pid, mm_target *target)
{
    if (check_setup(state) < 0) {
        return -1;
    }
    binding_target_init(state, target, pid);
    return 0;
}

PyDoc_STRVAR(
    set_procfs_doc,
    "set_procfs($module, path, /)\n--\n\n"
    "Makes path (an absolute str) the procfs root pids are looked up\n"
    "in; ValueError naming PROCFS when it cannot be one.");

static PyObject *
core_set_procfs(PyObject *module, PyObject *path)
{
    module_state *state = get_state(module);
    mm_target checked;
    char why[160];
    PyObject *bytes;
    int rc;

    if (!PyUnicode_Check(path)) {
        PyErr_Format(PyExc_TypeError, "PROCFS must be a str, not %.100s",
                     Py_TYPE(path)->tp_name);
        return NULL;
    }
    bytes = PyUnicode_EncodeFSDefault(path);
    if (bytes == NULL) {
        return NULL;
    }
    mm_target_init(&checked, MM_PID_SELF);
    rc = mm_target_set_procfs(&checked, PyBytes_AS_STRING(bytes),
                              (size_t)PyBytes_GET_SIZE(bytes), why,
                              sizeof(why));
    Py_DECREF(bytes);
    if (rc < 0) {
        PyErr_Format(PyExc_ValueError, "%s, not %R", why, path);
        return NULL;
    }
    memcpy(state->procfs, checked.procfs, sizeof(state->procfs));
    Py_RETURN_NONE;
}

PyDoc_STRVAR(procfs_doc, "procfs($module, /)\n--\n\n"
                         "The procfs root pids are looked up in.");

static PyObject *
core_procfs(PyObject *module, PyObject *Py_UNUSED(ignored))
{
    module_state *state = get_state(module);

    return PyUnicode_DecodeFSDefault(state->procfs[0] != '\0' ? state->procfs
                                                              : "/proc");
}

/* The native core's interrupt check (binding.h): with the GIL taken back,
 * the signal handlers run; one that raises stops the call.  Only the main
 * thread of the main interpreter runs them, and PyErr_CheckSignals() says
 * 0 at once elsewhere. */
static int
binding_interrupted(void *ctx)
{
    released_call *call = ctx;
    int stop;

    if (binding_now_ns() < call->next_check_ns) {
        return 0;
    }
    PyEval_RestoreThread(call->thread);
    stop = PyErr_CheckSignals() < 0;
    call->thread = PyEval_SaveThread();
    call->next_check_ns = binding_now_ns() + BINDING_SIGNAL_CHECK_NS;
    return stop;
}

void
binding_release(released_call *call, mm_target *target)
{
    target->cancelled = binding_interrupted;
    target->cancel_ctx = call;
    call->next_check_ns = binding_now_ns() + BINDING_SIGNAL_CHECK_NS;
    call->thread = PyEval_SaveThread();
}

void
binding_reacquire(released_call *call)
{
    PyEval_RestoreThread(call->thread);
}

/* Native buffers this big (a million regions' smaps text is most of a
 * gigabyte) take tens of milliseconds to give back to the system. */
#define BIG_LISTING_BYTES (16u << 20)

static int
free_listing_later(void *arg)
{
    mm_list *list = arg;

    Py_BEGIN_ALLOW_THREADS
        mm_list_free(list);
    Py_END_ALLOW_THREADS
    PyMem_RawFree(list);
    return 0;
}

/* Frees a listing's native buffers: a big one without the GIL, and, when a
 * signal handler's exception (KeyboardInterrupt) stopped the call, after
 * the exception is on its way, as one of the interpreter's pending calls.
 * Those run in the main thread, which is the thread that runs the signal
 * handlers: it is this one, and it goes on at once. */
static void
free_listing(mm_list *list, int interrupted)
{
    mm_list *later;

    if (list->bytes_cap < BIG_LISTING_BYTES) {
        mm_list_free(list);
        return;
    }
    if (interrupted && (later = PyMem_RawMalloc(sizeof(*later))) != NULL) {
        *later = *list;
        if (Py_AddPendingCall(free_listing_later, later) == 0) {
            mm_list_init(list);
            return;
        }
        PyMem_RawFree(later);
    }
    Py_BEGIN_ALLOW_THREADS
        mm_list_free(list);
    Py_END_ALLOW_THREADS
}

/* The backend calls that answer with a region list. */
typedef enum { CALL_REGIONS, CALL_PROCESS_USAGE, CALL_REGION_AT } listing_call;

/* Runs a listing call without the GIL and converts what it found. */
static PyObject *
run_listing(PyObject *module, listing_call call, long pid, uint64_t addr,
            unsigned flags)
{
    module_state *state = get_state(module);
    mm_target target;
    mm_list list;
    mm_err err;
    mm_status status = MM_OK;
    released_call released;
    PyObject *result;

    if (begin_call(state, pid, &target) < 0) {
        return NULL;
    }
    mm_list_init(&list);
    memset(&err, 0, sizeof(err));
    binding_release(&released, &target);
    switch (call) {
    case CALL_REGIONS:
        status = mm_regions(&target, flags, &list, &err);
        break;
    case CALL_PROCESS_USAGE:
        status = mm_process_usage(&target, flags, &list, &err);
        break;
    case CALL_REGION_AT:
        status = mm_region_at(&target, addr, flags, &list, &err);
        break;
    }
    binding_reacquire(&released);
    if (status != MM_OK) {
        result =
            raise_native_error(state, &err, pid, list.bytes, list.bytes_len);
    }
    else {
        result = build_listing(state, &list);
    }
    /* Stopped in the native call, or while building (where only a signal
     * handler's exception or a shortage of memory can stop it). */
    free_listing(&list, status == MM_ERR_CANCELLED ||
                            (status == MM_OK && result == NULL &&
                             !PyErr_ExceptionMatches(PyExc_MemoryError)));
    return result;
}

PyDoc_STRVAR(
    regions_doc,
    "regions($module, pid, flags=0, /)\n--\n\n"
    "(regions, partial) of process pid (-1 for the calling process): a\n"
    "tuple of Region, sorted and never overlapping, and None or why the\n"
    "listing is incomplete.");

/* A listing method whose arguments are (pid, flags=0). */
static PyObject *
pid_listing(PyObject *module, PyObject *args, const char *format,
            listing_call call)
{
    long pid;
    unsigned int flags = 0;

    if (!PyArg_ParseTuple(args, format, &pid, &flags)) {
        return NULL;
    }
    return run_listing(module, call, pid, 0, flags);
}

static PyObject *
core_regions(PyObject *module, PyObject *args)
{
    return pid_listing(module, args, "l|I:regions", CALL_REGIONS);
}

PyDoc_STRVAR(
    process_usage_doc,
    "process_usage($module, pid, flags=0, /)\n--\n\n"
    "(regions, partial): the whole process's usage as a tuple of one Region\n"
    "whose usage holds the totals (Linux: the [rollup] of smaps_rollup).");

static PyObject *
core_process_usage(PyObject *module, PyObject *args)
{
    return pid_listing(module, args, "l|I:process_usage", CALL_PROCESS_USAGE);
}

PyDoc_STRVAR(region_at_doc,
             "region_at($module, pid, addr, flags=0, /)\n--\n\n"
             "(regions, partial): the region of process pid holding addr,\n"
             "as a tuple of one Region, or an empty tuple when addr is not\n"
             "mapped.");

static PyObject *
core_region_at(PyObject *module, PyObject *args)
{
    long pid;
    unsigned long long addr;
    unsigned int flags = 0;

    if (!PyArg_ParseTuple(args, "lK|I:region_at", &pid, &addr, &flags)) {
        return NULL;
    }
    return run_listing(module, CALL_REGION_AT, pid, (uint64_t)addr, flags);
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

    if (!PyArg_ParseTuple(args, "lKn:read_memory", &pid, &addr, &size) ||
        begin_call(state, pid, &target) < 0) {
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
    "parse_maps($module, text, strict=False, /)\n--\n\n"
    "Regions from saved /proc/PID/maps or smaps text (a bytes-like object),\n"
    "as a tuple of Region, sorted and never overlapping; \\r\\n ends a line\n"
    "too.  strict refuses lines out of order, overlapping or empty.");

static PyObject *
core_parse_maps(PyObject *module, PyObject *args)
{
    module_state *state = get_state(module);
    Py_buffer view;
    mm_list list;
    mm_err err;
    mm_status status;
    PyObject *result;
    int strict = 0;
    unsigned flags = MM_PARSE_CRLF;

    if (check_setup(state) < 0) {
        return NULL;
    }
    if (!PyArg_ParseTuple(args, "y*|p:parse_maps", &view, &strict)) {
        return NULL;
    }
    if (strict) {
        flags |= MM_PARSE_STRICT;
    }
    mm_list_init(&list);
    memset(&err, 0, sizeof(err));
    Py_BEGIN_ALLOW_THREADS
        status =
            mm_parse_maps_with(view.buf, (size_t)view.len, flags, &list, &err);
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

PyDoc_STRVAR(
    make_listing_doc,
    "make_listing($module, records, /)\n--\n\n"
    "Regions from records (start, end, prot, name, detail, alloc_base) put\n"
    "in a native list as a backend puts them, normalized and compacted as a\n"
    "kept listing is: names and labels are bytes or None, prot the MM_PROT\n"
    "bits.  What the binding makes of the fields a backend fills, for the\n"
    "systems whose own backend leaves some of them empty.");

static int
add_record(mm_list *list, PyObject *record)
{
    unsigned long long start, end, alloc_base;
    unsigned int prot;
    PyObject *name, *detail;
    mm_region *region;
    size_t index = list->count;

    if (!PyArg_ParseTuple(record, "KKIOOK:make_listing", &start, &end, &prot,
                          &name, &detail, &alloc_base)) {
        return -1;
    }
    if ((name != Py_None && !PyBytes_Check(name)) ||
        (detail != Py_None && !PyBytes_Check(detail))) {
        PyErr_SetString(PyExc_TypeError,
                        "make_listing: a name or detail is bytes or None");
        return -1;
    }
    region = mm_list_push(list);
    if (region == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    region->start = start;
    region->end = end;
    region->prot = (uint8_t)(prot & 15);
    region->alloc_base = alloc_base;
    region->kind = MM_KIND_ANON;
    if ((name != Py_None &&
         mm_list_set_name(list, index, PyBytes_AS_STRING(name),
                          (size_t)PyBytes_GET_SIZE(name)) != 0) ||
        (detail != Py_None &&
         mm_list_set_detail(list, index, PyBytes_AS_STRING(detail),
                            (size_t)PyBytes_GET_SIZE(detail)) != 0)) {
        PyErr_NoMemory();
        return -1;
    }
    if (name != Py_None) {
        list->regions[index].kind = MM_KIND_FILE;
    }
    return 0;
}

static PyObject *
core_make_listing(PyObject *module, PyObject *records)
{
    module_state *state = get_state(module);
    PyObject *sequence, *result = NULL;
    mm_list list;

    if (check_setup(state) < 0) {
        return NULL;
    }
    sequence = PySequence_Fast(records, "make_listing: records is a sequence");
    if (sequence == NULL) {
        return NULL;
    }
    mm_list_init(&list);
    for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(sequence); i++) {
        if (add_record(&list, PySequence_Fast_GET_ITEM(sequence, i)) < 0) {
            goto done;
        }
    }
    mm_list_normalize(&list);
    if (mm_list_compact(&list) != 0) {
        PyErr_NoMemory();
        goto done;
    }
    result = build_regions(state, &list);

done:
    mm_list_free(&list);
    Py_DECREF(sequence);
    return result;
}

PyDoc_STRVAR(images_doc,
             "images($module, pid, flags=0, /)\n--\n\n"
             "(images, listing): the images process pid has loaded, in\n"
             "address order, as tuples of (path, base, end, bias, build_id,\n"
             "dev_major, dev_minor, inode, flags, format, source, header,\n"
             "segments); and the (regions, partial) listing they were found\n"
             "in, or None where the backend found them elsewhere.");

static PyObject *
core_images(PyObject *module, PyObject *args)
{
    module_state *state = get_state(module);
    long pid;
    unsigned int flags = 0;
    mm_target target;
    mm_image_list list;
    mm_err err;
    mm_status status;
    released_call released;
    PyObject *result;

    if (!PyArg_ParseTuple(args, "l|I:images", &pid, &flags) ||
        begin_call(state, pid, &target) < 0) {
        return NULL;
    }
    mm_image_list_init(&list);
    memset(&err, 0, sizeof(err));
    binding_release(&released, &target);
    status = mm_images(&target, flags, &list, &err);
    binding_reacquire(&released);
    if (status != MM_OK) {
        result = raise_native_error(state, &err, pid, NULL, 0);
    }
    else {
        PyObject *images = build_images(state, &list);
        PyObject *listing = list.listed ? build_listing(state, &list.regions)
                                        : Py_NewRef(Py_None);
        result = images != NULL && listing != NULL
                     ? Py_BuildValue("(NN)", images, listing)
                     : NULL;
        if (result == NULL) {
            Py_XDECREF(images);
            Py_XDECREF(listing);
        }
    }
    mm_image_list_free(&list);
    return result;
}

#ifdef __linux__
PyDoc_STRVAR(
    open_in_root_doc,
    "open_in_root($module, root, path, flags=0, /)\n--\n\n"
    "A descriptor of the regular file at path, resolved inside the directory\n"
    "descriptor root (None: this process's own root) as though root were\n"
    "'/', opened O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC (the caller\n"
    "closes it).  Absolute symlinks start again at root, '..' stops there,\n"
    "magic links are refused, at most 40 symlinks are followed, and nothing\n"
    "is opened on the way.  flags: OPEN_WALK (resolve a component at a\n"
    "time, as without openat2), OPEN_NO_SYMLINKS (refuse every symlink),\n"
    "OPEN_ANY_TYPE (an O_PATH descriptor of whatever is there).  Raises\n"
    "OSError: ENXIO for what is there but not a regular file.");

static PyObject *
core_open_in_root(PyObject *module, PyObject *args)
{
    PyObject *root_arg, *path = NULL;
    unsigned int flags = 0;
    int root = MM_READER_ROOT, fd, error;

    (void)module;
    if (!PyArg_ParseTuple(args, "OO&|I:open_in_root", &root_arg,
                          PyUnicode_FSConverter, &path, &flags)) {
        return NULL;
    }
    if (root_arg != Py_None) {
        long value = PyLong_AsLong(root_arg);
        if (value == -1 && PyErr_Occurred()) {
            Py_DECREF(path);
            return NULL;
        }
        if (value < 0 || value > INT32_MAX) {
            Py_DECREF(path);
            PyErr_Format(PyExc_ValueError,
                         "open_in_root: %ld is not a file descriptor", value);
            return NULL;
        }
        root = (int)value;
    }
    Py_BEGIN_ALLOW_THREADS
        fd = mm_linux_open_in_root(root, PyBytes_AS_STRING(path), flags, NULL);
        error = errno;
    Py_END_ALLOW_THREADS
    if (fd < 0) {
        PyObject *name = PyUnicode_DecodeFSDefaultAndSize(
            PyBytes_AS_STRING(path), PyBytes_GET_SIZE(path));
        Py_DECREF(path);
        if (name == NULL) {
            return NULL;
        }
        if (error == ENXIO) {
            PyObject *exc = PyObject_CallFunction(PyExc_OSError, "isO", error,
                                                  "not a regular file", name);
            if (exc != NULL) {
                PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
                Py_DECREF(exc);
            }
        }
        else {
            errno = error;
            PyErr_SetFromErrnoWithFilenameObject(PyExc_OSError, name);
        }
        Py_DECREF(name);
        return NULL;
    }
    Py_DECREF(path);
    return PyLong_FromLong(fd);
}
#endif

static PyMethodDef core_methods[] = {
    {"setup", (PyCFunction)(void (*)(void))core_setup, METH_FASTCALL,
     setup_doc},
    {"set_procfs", core_set_procfs, METH_O, set_procfs_doc},
    {"procfs", core_procfs, METH_NOARGS, procfs_doc},
    {"regions", core_regions, METH_VARARGS, regions_doc},
    {"process_usage", core_process_usage, METH_VARARGS, process_usage_doc},
    {"region_at", core_region_at, METH_VARARGS, region_at_doc},
    {"read_memory", core_read_memory, METH_VARARGS, read_memory_doc},
    {"images", core_images, METH_VARARGS, images_doc},
    {"link_map", binding_link_map, METH_VARARGS, binding_link_map_doc},
    {"find_r_debug", binding_find_r_debug, METH_VARARGS,
     binding_find_r_debug_doc},
    {"parse_maps", core_parse_maps, METH_VARARGS, parse_maps_doc},
    {"make_listing", core_make_listing, METH_O, make_listing_doc},
#ifdef __linux__
    {"open_in_root", core_open_in_root, METH_VARARGS, open_in_root_doc},
#endif
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
                                MM_SWITCH_FROM_LISTING) < 0 ||
        PyModule_AddIntConstant(module, "ROOT_WALK", MM_SWITCH_OPEN_WALK) <
            0) {
        return -1;
    }
#ifdef __linux__
    if (PyModule_AddIntConstant(module, "OPEN_WALK", MM_OPEN_WALK) < 0 ||
        PyModule_AddIntConstant(module, "OPEN_NO_SYMLINKS",
                                MM_OPEN_NO_SYMLINKS) < 0 ||
        PyModule_AddIntConstant(module, "OPEN_ANY_TYPE", MM_OPEN_ANY_TYPE) <
            0) {
        return -1;
    }
#endif
    return 0;
}

static int
core_exec(PyObject *module)
{
    module_state *state = get_state(module);

    if (binding_init_objects(module, state) < 0 ||
        binding_add_image_file(module, state) < 0 ||
        binding_add_region_list(module, state) < 0 ||
        PyModule_AddStringConstant(module, "BACKEND", mm_backend_name()) < 0 ||
        add_int_constants(module) < 0) {
        return -1;
    }
    return 0;
}

static int
core_traverse(PyObject *module, visitproc visit, void *arg)
{
    module_state *state = get_state(module);
    Py_VISIT(state->region_type);
    Py_VISIT(state->usage_type);
    Py_VISIT(state->make_error);
    Py_VISIT(state->image_file_type);
    Py_VISIT(state->region_list_type);
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
    Py_CLEAR(state->image_file_type);
    Py_CLEAR(state->region_list_type);
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
#ifdef Py_mod_multiple_interpreters
    /* Everything the module holds is in its state, its types are heap
     * types, and the native core keeps no global state: each interpreter
     * may have its own GIL. */
    {Py_mod_multiple_interpreters, Py_MOD_PER_INTERPRETER_GIL_SUPPORTED},
#endif
#ifdef Py_mod_gil
    /* Not yet without the GIL: setup() replaces state that calls read,
     * and a RegionList makes its Regions and shares the builder's caches
     * with nothing but the GIL to keep two threads apart. */
    {Py_mod_gil, Py_MOD_GIL_USED},
#endif
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
