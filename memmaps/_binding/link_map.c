/* _core.link_map() and _core.find_r_debug(): the dynamic linker's chain of
 * loaded objects, read from a live target's memory through the backend's
 * mm_read_memory() by formats/link_map.c.
 *
 * The format reader takes any byte source and treats a failed read as
 * memory that is not there.  The source here tells the two apart: a read
 * the kernel refuses (ptrace's attach check, Yama) or a target that is
 * gone is kept and raised, the same AccessDenied or NoSuchProcess as
 * _core.read_memory() raises, and no further read is tried.
 */
#include "binding.h"

#include "core/reader.h"
#include "formats/link_map.h"

#include <stdio.h>
#include <string.h>

typedef struct {
    mm_target target;
    mm_status refused; /* MM_OK until a read fails other than short */
    mm_err refusal;
} memory_source;

static int
read_target_memory(void *ctx, uint64_t address, void *buf, size_t len)
{
    memory_source *source = ctx;
    size_t got = 0;
    mm_status status;

    if (source->refused != MM_OK) {
        return -1;
    }
    status = mm_read_memory(&source->target, address, buf, len, &got,
                            &source->refusal);
    if (status != MM_OK) {
        source->refused = status;
        return -1;
    }
    return got == len ? 0 : -1;
}

static int
native_big_endian(void)
{
    const uint16_t one = 1;

    return *(const uint8_t *)&one == 0;
}

/* Parses (pid, address, pointer_size) and sets up the source; -1 with an
 * exception set. */
static int
begin(PyObject *module, PyObject *args, const char *format,
      memory_source *source, mm_source *memory, uint64_t *address,
      unsigned *pointer_size, long *pid)
{
    module_state *state = get_state(module);
    unsigned long long addr;
    int size;

    if (!PyArg_ParseTuple(args, format, pid, &addr, &size)) {
        return -1;
    }
    if (state->make_error == NULL) {
        PyErr_SetString(PyExc_RuntimeError,
                        "memmaps._core.setup() has not been called; "
                        "import memmaps instead");
        return -1;
    }
    if (size != 4 && size != 8) {
        PyErr_Format(PyExc_ValueError, "pointer_size must be 4 or 8, not %d",
                     size);
        return -1;
    }
    memset(source, 0, sizeof(*source));
    binding_target_init(state, &source->target, *pid);
    memory->read = read_target_memory;
    memory->ctx = source;
    memory->size = MM_SIZE_UNKNOWN;
    *address = (uint64_t)addr;
    *pointer_size = (unsigned)size;
    return 0;
}

/* Why the walk stopped before a null l_next, or found the links torn, for
 * a person; None when it did neither. */
static PyObject *
walk_end(const mm_link_map *map)
{
    char text[200];
    unsigned long long at = (unsigned long long)map->end_at;

    switch (map->end) {
    case MM_LINK_END_CYCLE:
        snprintf(text, sizeof(text),
                 "the chain leads back to the link_map at 0x%llx after %zu "
                 "objects",
                 at, map->count);
        break;
    case MM_LINK_END_CAP:
        snprintf(text, sizeof(text),
                 "the chain goes on past %zu objects (at 0x%llx)", map->count,
                 at);
        break;
    case MM_LINK_END_UNREADABLE:
        snprintf(text, sizeof(text),
                 "the link_map at 0x%llx after %zu objects cannot be read", at,
                 map->count);
        break;
    default:
        if (map->torn == 0) {
            return Py_NewRef(Py_None);
        }
        snprintf(text, sizeof(text),
                 "%zu of %zu objects have an l_prev that is not the object "
                 "before them",
                 map->torn, map->count);
        break;
    }
    return PyUnicode_FromString(text);
}

static PyObject *
build_entries(const mm_link_map *map)
{
    PyObject *entries = PyTuple_New((Py_ssize_t)map->count);

    if (entries == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < map->count; i++) {
        const mm_link_entry *e = &map->entries[i];
        PyObject *name, *entry;

        if (e->name == MM_LINK_NAME_READ) {
            name = PyUnicode_DecodeFSDefaultAndSize(mm_link_entry_name(map, i),
                                                    (Py_ssize_t)e->name_len);
        }
        else if (e->name == MM_LINK_NAME_NULL) {
            name = PyUnicode_FromStringAndSize("", 0);
        }
        else {
            name = Py_NewRef(Py_None);
        }
        if (name == NULL) {
            Py_DECREF(entries);
            return NULL;
        }
        entry = Py_BuildValue("(KNKK)", (unsigned long long)e->addr, name,
                              (unsigned long long)e->ld,
                              (unsigned long long)e->map);
        if (entry == NULL) {
            Py_DECREF(entries);
            return NULL;
        }
        PyTuple_SET_ITEM(entries, (Py_ssize_t)i, entry);
    }
    return entries;
}

const char binding_link_map_doc[] =
    "link_map($module, pid, r_debug_address, pointer_size, /)\n--\n\n"
    "(state, namespaces, entries, broken): the r_debug record at\n"
    "r_debug_address of process pid (-1 for the calling process) and its\n"
    "namespace's chain of link_maps.  state is r_state (0 RT_CONSISTENT,\n"
    "1 RT_ADD, 2 RT_DELETE: ld.so is changing the chain); namespaces how\n"
    "many r_debug records r_next leads to, this one included; entries the\n"
    "objects in chain order, (l_addr, l_name, l_ld, map_address), l_name\n"
    "None when it cannot be read whole; broken None, or why the chain\n"
    "cannot be taken as whole (a loop, an unreadable link, a torn one).";

PyObject *
binding_link_map(PyObject *module, PyObject *args)
{
    module_state *state = get_state(module);
    memory_source source;
    mm_source memory;
    uint64_t address;
    unsigned pointer_size;
    long pid;
    mm_link_map map;
    mm_err err;
    mm_status status;
    PyObject *entries, *broken, *result;

    if (begin(module, args, "lKi:link_map", &source, &memory, &address,
              &pointer_size, &pid) < 0) {
        return NULL;
    }
    mm_link_map_init(&map);
    memset(&err, 0, sizeof(err));
    Py_BEGIN_ALLOW_THREADS
        status = mm_link_map_read(&memory, address, pointer_size,
                                  native_big_endian(), &map, &err);
    Py_END_ALLOW_THREADS
    if (source.refused != MM_OK) {
        mm_link_map_free(&map);
        return raise_native_error(state, &source.refusal, pid, NULL, 0);
    }
    if (status != MM_OK) {
        mm_link_map_free(&map);
        return raise_native_error(state, &err, pid, NULL, 0);
    }
    entries = build_entries(&map);
    broken = entries != NULL ? walk_end(&map) : NULL;
    result = broken != NULL
                 ? Py_BuildValue("(inNN)", (int)map.state,
                                 (Py_ssize_t)map.namespaces, entries, broken)
                 : NULL;
    if (result == NULL) {
        Py_XDECREF(entries);
        Py_XDECREF(broken);
    }
    mm_link_map_free(&map);
    return result;
}

const char binding_find_r_debug_doc[] =
    "find_r_debug($module, pid, dynamic_address, pointer_size, /)\n--\n\n"
    "The address of the r_debug record that the DT_DEBUG entry of the\n"
    "dynamic array at dynamic_address of process pid holds, or None when\n"
    "the array has no DT_DEBUG or ld.so has not set it.";

PyObject *
binding_find_r_debug(PyObject *module, PyObject *args)
{
    module_state *state = get_state(module);
    memory_source source;
    mm_source memory;
    uint64_t address, r_debug = 0;
    unsigned pointer_size;
    long pid;
    mm_err err;
    mm_status status;

    if (begin(module, args, "lKi:find_r_debug", &source, &memory, &address,
              &pointer_size, &pid) < 0) {
        return NULL;
    }
    memset(&err, 0, sizeof(err));
    Py_BEGIN_ALLOW_THREADS
        status = mm_find_r_debug(&memory, address, pointer_size,
                                 native_big_endian(), &r_debug, &err);
    Py_END_ALLOW_THREADS
    if (source.refused != MM_OK) {
        return raise_native_error(state, &source.refusal, pid, NULL, 0);
    }
    if (status == MM_ERR_NOT_FOUND) {
        Py_RETURN_NONE;
    }
    if (status != MM_OK) {
        return raise_native_error(state, &err, pid, NULL, 0);
    }
    return PyLong_FromUnsignedLongLong((unsigned long long)r_debug);
}
