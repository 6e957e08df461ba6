/* RegionList: the Regions of one listing, each made when first asked for.
 *
 * The kernel's text costs about 0.15 us per anonymous mapping; a Region
 * with its ints costs more than that to allocate, fill and fault in, so a
 * listing that made all of them at once would cost well over the read
 * itself.  Most callers look at a few (at() is a binary search, a profiler
 * asks for one address) or go through them once; so the listing keeps the
 * native regions, which it already has, and makes each Region on first
 * access, then keeps it: the same index gives the same object every time.
 * Once every Region is made, the native list and the builder's caches are
 * freed.
 *
 * It is an immutable sequence (len, indexing, slices as tuples, iteration,
 * `in`), equal to a tuple of the same Regions and hashed like one, and it
 * pickles as that tuple.  It holds only Regions and the strs and ints they
 * share, none of which can refer back to it, so it takes no part in the
 * cyclic collector.
 */
#include "binding.h"

#include <string.h>

typedef struct {
    PyObject_HEAD
    Py_ssize_t count;
    Py_ssize_t made_count;
    PyObject **made;    /* count slots, NULL until made */
    mm_list list;       /* until every Region is made */
    binding_builder *b; /* likewise */
    int making;         /* threads inside the builder right now */
    uint64_t hold_ns;   /* how long making may keep the GIL; 0: not checked */
    uint64_t next_yield_ns;
} region_list;

/* Regions made between two looks at the clock. */
#define MADE_PER_CLOCK 1024

/* How long making Regions keeps the GIL between two hand-overs: two of the
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

/* Making a million Regions at once (tuple(maps), a comparison) takes the
 * better part of a second: now and then the other threads get the GIL and
 * the signal handlers run; -1 when one raised (KeyboardInterrupt). */
static int
let_others_run(region_list *self)
{
    if (self->hold_ns == 0 || self->made_count % MADE_PER_CLOCK != 0 ||
        binding_now_ns() < self->next_yield_ns) {
        return 0;
    }
    Py_BEGIN_ALLOW_THREADS
    Py_END_ALLOW_THREADS
    self->next_yield_ns = binding_now_ns() + self->hold_ns;
    return PyErr_CheckSignals();
}

/* Freeing the native list of a big listing takes long enough to be worth
 * letting other threads run meanwhile (as _core.c does for a failed call). */
#define BIG_NATIVE_BYTES (4u << 20)

static void
drop_native(region_list *self)
{
    size_t bytes = self->list.bytes_cap +
                   self->list.capacity * sizeof(*self->list.regions);

    binding_builder_free(self->b);
    self->b = NULL;
    if (bytes >= BIG_NATIVE_BYTES) {
        Py_BEGIN_ALLOW_THREADS
            mm_list_free(&self->list);
        Py_END_ALLOW_THREADS
    }
    else {
        mm_list_free(&self->list);
    }
    mm_list_init(&self->list);
}

/* A borrowed reference to Region i (0 <= i < count), made if need be. */
static PyObject *
region_at_index(region_list *self, Py_ssize_t i)
{
    PyObject *region = self->made[i];

    if (region != NULL) {
        return region;
    }
    /* Making it can run the cyclic collector, and a finalizer can let
     * another thread in that makes Regions of this list meanwhile: the
     * builder and the native list stay until no thread is making one. */
    self->making++;
    region = binding_builder_region(
        self->b, (size_t)i, i > 0 ? self->made[i - 1] : NULL,
        i + 1 < self->count ? self->made[i + 1] : NULL);
    self->making--;
    if (region != NULL && self->made[i] != NULL) {
        Py_DECREF(region); /* the other thread's stays */
        region = self->made[i];
    }
    else if (region != NULL) {
        self->made[i] = region;
        self->made_count++;
    }
    if (self->made_count == self->count) {
        if (self->making == 0 && self->b != NULL) {
            drop_native(self);
        }
    }
    else if (region != NULL && let_others_run(self) < 0) {
        return NULL; /* made and kept all the same */
    }
    return region;
}

static Py_ssize_t
region_list_length(PyObject *op)
{
    return ((region_list *)op)->count;
}

static PyObject *
region_list_item(PyObject *op, Py_ssize_t i)
{
    region_list *self = (region_list *)op;

    if (i < 0 || i >= self->count) {
        PyErr_SetString(PyExc_IndexError, "region index out of range");
        return NULL;
    }
    return Py_XNewRef(region_at_index(self, i));
}

/* A new tuple of Regions start, start + step, ... (length of them). */
static PyObject *
region_list_slice(region_list *self, Py_ssize_t start, Py_ssize_t step,
                  Py_ssize_t length)
{
    PyObject *tuple = PyTuple_New(length);

    if (tuple == NULL) {
        return NULL;
    }
    for (Py_ssize_t k = 0, i = start; k < length; k++, i += step) {
        PyObject *region = region_at_index(self, i);
        if (region == NULL) {
            Py_DECREF(tuple);
            return NULL;
        }
        PyTuple_SET_ITEM(tuple, k, Py_NewRef(region));
    }
    return tuple;
}

static PyObject *
region_list_as_tuple(region_list *self)
{
    return region_list_slice(self, 0, 1, self->count);
}

static PyObject *
region_list_subscript(PyObject *op, PyObject *key)
{
    region_list *self = (region_list *)op;

    if (PyIndex_Check(key)) {
        Py_ssize_t i = PyNumber_AsSsize_t(key, PyExc_IndexError);
        if (i == -1 && PyErr_Occurred()) {
            return NULL;
        }
        if (i < 0) {
            i += self->count;
        }
        return region_list_item(op, i);
    }
    if (PySlice_Check(key)) {
        Py_ssize_t start, stop, step;
        if (PySlice_Unpack(key, &start, &stop, &step) < 0) {
            return NULL;
        }
        return region_list_slice(
            self, start, step,
            PySlice_AdjustIndices(self->count, &start, &stop, step));
    }
    PyErr_Format(PyExc_TypeError,
                 "region indices must be integers or slices, not %.200s",
                 Py_TYPE(key)->tp_name);
    return NULL;
}

static int
region_list_contains(PyObject *op, PyObject *value)
{
    region_list *self = (region_list *)op;

    for (Py_ssize_t i = 0; i < self->count; i++) {
        PyObject *region = region_at_index(self, i);
        int same;
        if (region == NULL) {
            return -1;
        }
        Py_INCREF(region);
        same = PyObject_RichCompareBool(region, value, Py_EQ);
        Py_DECREF(region);
        if (same != 0) {
            return same;
        }
    }
    return 0;
}

static PyObject *
region_list_iter(PyObject *op)
{
    /* Indexing from 0 until IndexError, which is all a sequence needs. */
    return PySeqIter_New(op);
}

static PyObject *
region_list_richcompare(PyObject *op, PyObject *other, int compare)
{
    PyObject *mine, *theirs, *result;

    if ((compare != Py_EQ && compare != Py_NE) ||
        !(PyTuple_Check(other) || Py_IS_TYPE(other, Py_TYPE(op)))) {
        Py_RETURN_NOTIMPLEMENTED;
    }
    if (Py_TYPE(other) == Py_TYPE(op) &&
        ((region_list *)op)->count != ((region_list *)other)->count) {
        return PyBool_FromLong(compare == Py_NE);
    }
    if (PyTuple_Check(other) &&
        PyTuple_GET_SIZE(other) != ((region_list *)op)->count) {
        return PyBool_FromLong(compare == Py_NE);
    }
    mine = region_list_as_tuple((region_list *)op);
    if (mine == NULL) {
        return NULL;
    }
    theirs = PyTuple_Check(other) ? Py_NewRef(other)
                                  : region_list_as_tuple((region_list *)other);
    if (theirs == NULL) {
        Py_DECREF(mine);
        return NULL;
    }
    result = PyObject_RichCompare(mine, theirs, compare);
    Py_DECREF(mine);
    Py_DECREF(theirs);
    return result;
}

static Py_hash_t
region_list_hash(PyObject *op)
{
    PyObject *tuple = region_list_as_tuple((region_list *)op);
    Py_hash_t hash;

    if (tuple == NULL) {
        return -1;
    }
    hash = PyObject_Hash(tuple);
    Py_DECREF(tuple);
    return hash;
}

static PyObject *
region_list_repr(PyObject *op)
{
    return PyUnicode_FromFormat("<RegionList of %zd regions>",
                                ((region_list *)op)->count);
}

static PyObject *
region_list_reduce(PyObject *op, PyObject *Py_UNUSED(ignored))
{
    PyObject *tuple = region_list_as_tuple((region_list *)op);

    if (tuple == NULL) {
        return NULL;
    }
    return Py_BuildValue("(O(N))", (PyObject *)&PyTuple_Type, tuple);
}

static void
region_list_dealloc(PyObject *op)
{
    region_list *self = (region_list *)op;
    PyTypeObject *type = Py_TYPE(op);

    if (self->made != NULL) {
        for (Py_ssize_t i = 0; i < self->count; i++) {
            Py_XDECREF(self->made[i]);
        }
        PyMem_Free(self->made);
    }
    drop_native(self);
    type->tp_free(op);
    Py_DECREF(type);
}

PyObject *
build_regions(module_state *state, mm_list *list)
{
    PyTypeObject *type = state->region_list_type;
    region_list *self;

    if (list->count >
        (size_t)(PY_SSIZE_T_MAX / (Py_ssize_t)sizeof(PyObject *))) {
        return PyErr_NoMemory();
    }
    self = (region_list *)type->tp_alloc(type, 0);
    if (self == NULL) {
        return NULL;
    }
    mm_list_init(&self->list);
    self->count = (Py_ssize_t)list->count;
    self->made =
        PyMem_Calloc(list->count ? list->count : 1, sizeof(PyObject *));
    if (self->made == NULL) {
        Py_DECREF(self);
        return PyErr_NoMemory();
    }
    if (self->count == 0) {
        return (
            PyObject *)self; /* nothing to make: the list stays the caller's */
    }
    /* Taken over: the caller frees an empty list. */
    self->list = *list;
    mm_list_init(list);
    /* The listing may be kept long after the call with few of its Regions
     * made: with usage figures it keeps what they need, not the smaps text
     * (some 1.3 KB a region, a gigabyte at a million).  The maps text is
     * kept as it is, about as big as the native regions: giving it back
     * now would cost the call a tenth of its time.  Where memory is short
     * the text stays, which costs room and nothing else. */
    if (self->list.usage_count > 0) {
        Py_BEGIN_ALLOW_THREADS(void)
            mm_list_compact(&self->list);
        Py_END_ALLOW_THREADS
    }
    self->b = binding_builder_new(state, &self->list);
    if (self->b == NULL) {
        Py_DECREF(self);
        return NULL;
    }
    if (self->count > MADE_PER_CLOCK) {
        self->hold_ns = hold_ns();
        self->next_yield_ns = binding_now_ns() + self->hold_ns;
    }
    return (PyObject *)self;
}

static PyMethodDef region_list_methods[] = {
    {"__reduce__", region_list_reduce, METH_NOARGS,
     "Pickles as the tuple of its Regions."},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot region_list_slots[] = {
    {Py_tp_doc, "The Regions of one listing, each made when first asked for; "
                "compares, hashes and pickles as the tuple of them."},
    {Py_tp_dealloc, region_list_dealloc},
    {Py_tp_repr, region_list_repr},
    {Py_tp_hash, region_list_hash},
    {Py_tp_richcompare, region_list_richcompare},
    {Py_tp_iter, region_list_iter},
    {Py_tp_methods, region_list_methods},
    {Py_sq_length, region_list_length},
    {Py_sq_item, region_list_item},
    {Py_sq_contains, region_list_contains},
    {Py_mp_length, region_list_length},
    {Py_mp_subscript, region_list_subscript},
    {0, NULL},
};

static PyType_Spec region_list_spec = {
    .name = "memmaps._core.RegionList",
    .basicsize = sizeof(region_list),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE |
             Py_TPFLAGS_DISALLOW_INSTANTIATION | Py_TPFLAGS_SEQUENCE,
    .slots = region_list_slots,
};

int
binding_add_region_list(PyObject *module, module_state *state)
{
    state->region_list_type = (PyTypeObject *)PyType_FromModuleAndSpec(
        module, &region_list_spec, NULL);
    if (state->region_list_type == NULL) {
        return -1;
    }
    return PyModule_AddType(module, state->region_list_type);
}
