/* What the files of the binding share: the module's state and the few
 * functions that turn native results into Python objects and errors.
 *
 * memmaps/_core.c is the extension's entry point (module, state, method
 * table); the files here hold what grew too big to sit beside it:
 * objects.c builds Region, Usage and image tuples, region_list.c is the
 * lazy sequence of a listing's Regions, errors.c raises the
 * memmaps exceptions, image_file.c is the ImageFile type, link_map.c reads
 * the dynamic linker's chain of loaded objects.  Only the binding
 * includes Python.h; memmaps/native/ stays plain C.
 */
#ifndef MEMMAPS_BINDING_H
#define MEMMAPS_BINDING_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "core/mm.h"

#include <time.h>

/* The fields of Region, in order; setup() checks region.py has them. */
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
    F_DETAIL,
    F_ALLOCATION_BASE,
    REGION_FIELDS
};

/* Usage is the mm_usage_field figures, then these two; setup() checks
 * usage.py has them. */
enum { U_VMFLAGS = MM_USAGE_FIELDS, U_EXTRA, USAGE_FIELDS };

/* objects.c: the names setup() expects of Region's and Usage's fields, by
 * position in the enums above. */
const char *binding_region_field(Py_ssize_t index);
const char *binding_usage_field(Py_ssize_t index);

/* objects.c: a new reference to the str of a name or label the OS gave
 * in its own bytes, decoded as os.fsdecode does. */
PyObject *binding_decode_os_text(const char *text, Py_ssize_t len);

typedef struct {
    PyTypeObject *region_type; /* memmaps.region.Region, from setup() */
    PyTypeObject *usage_type;  /* memmaps.usage.Usage, from setup() */
    PyObject *make_error;      /* memmaps.errors._from_native, from setup() */
    PyObject *perms[16];       /* "---p" ... "rwxs", by MM_PROT_* bits */
    PyObject *max_perms[8];    /* "---" ... "rwx": a ceiling has no sharing */
    PyObject *kinds[MM_KIND_COUNT];
    PyObject *empty_tuple;
    PyTypeObject *image_file_type;  /* ImageFile */
    PyTypeObject *region_list_type; /* RegionList */
    /* The procfs root pids are looked up in (memmaps.PROCFS), as
     * mm_target.procfs holds it: "" for /proc. */
    char procfs[MM_PROCFS_MAX];
} module_state;

static inline module_state *
get_state(PyObject *module)
{
    return (module_state *)PyModule_GetState(module);
}

/* A target of pid, in the procfs memmaps.PROCFS names. */
static inline void
binding_target_init(const module_state *state, mm_target *target, long pid)
{
    mm_target_init(target, pid);
    memcpy(target->procfs, state->procfs, sizeof(target->procfs));
}

/* ---- long calls: the interpreter's other threads, and Ctrl-C ----
 *
 * A listing of a million regions takes most of a second.  While the native
 * core reads, the GIL is released and the core asks binding_interrupted()
 * now and then, which takes the GIL back to run the signal handlers at most
 * every BINDING_SIGNAL_CHECK_NS; while objects are built, with the GIL, the
 * builder hands the GIL to the other threads and runs the signal handlers
 * every two switch intervals (sys.getswitchinterval(), 5 ms unless set):
 * a thread waiting for the GIL asks for it only after a whole interval in
 * which it did not change hands, and only then does releasing it hand it
 * over rather than take it straight back.  A signal handler that raises
 * (KeyboardInterrupt) stops the call, which frees what it made and raises
 * that exception. */
#define BINDING_SIGNAL_CHECK_NS 20000000u /* 20 ms */

/* A monotonic clock in nanoseconds, for spacing those looks. */
static inline uint64_t
binding_now_ns(void)
{
    struct timespec now;
#if defined(CLOCK_MONOTONIC)
    clock_gettime(CLOCK_MONOTONIC, &now);
#else
    timespec_get(&now, TIME_UTC);
#endif
    return (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
}

/* A native call running without the GIL, as binding_interrupted() sees it:
 * the thread state to take the GIL back with, and when to look next. */
typedef struct {
    PyThreadState *thread;
    uint64_t next_check_ns;
} released_call;

/* _core.c: releases the GIL for a native call on target, with the interrupt
 * check set; binding_reacquire() takes it back.  The pair brackets the
 * call as Py_BEGIN/END_ALLOW_THREADS do. */
void binding_release(released_call *call, mm_target *target);
void binding_reacquire(released_call *call);

/* objects.c: the interned strings every listing shares; 0 or -1. */
int binding_init_objects(PyObject *module, module_state *state);
/* objects.c: what makes the Regions of one listing, sharing what repeats
 * between them (names, figures, Usages); it holds references of its own
 * and reads the list, which must outlive it. */
typedef struct binding_builder binding_builder;
binding_builder *binding_builder_new(module_state *state, const mm_list *list);
/* A new Region for list->regions[index]; before and after are the Regions
 * made for index - 1 and index + 1 where they are made (they may share an
 * int with it), else NULL. */
PyObject *binding_builder_region(binding_builder *b, size_t index,
                                 PyObject *before, PyObject *after);
void binding_builder_free(binding_builder *b);

/* region_list.c: the RegionList of the list's regions, which takes the
 * list's contents over (list is left empty, to be freed as usual). */
PyObject *build_regions(module_state *state, mm_list *list);
/* objects.c: (regions, partial) for a live listing: the RegionList, and
 * None or the sentence saying why the listing is incomplete. */
PyObject *build_listing(module_state *state, mm_list *list);
/* region_list.c: adds the RegionList type to the module; 0 or -1. */
int binding_add_region_list(PyObject *module, module_state *state);
/* objects.c: a tuple of image records for the list: (path, base, end,
 * bias, build_id, dev_major, dev_minor, inode, flags, format, source,
 * header, segments), segments being ((start, end, name, perms), ...). */
PyObject *build_images(module_state *state, const mm_image_list *list);

/* errors.c: raises the memmaps exception for err and returns NULL.  pid < 0
 * stands for the calling process; input is what err->line_off indexes. */
PyObject *raise_native_error(module_state *state, const mm_err *err, long pid,
                             const char *input, size_t input_len);

/* image_file.c: adds the ImageFile type to the module; 0 or -1. */
int binding_add_image_file(PyObject *module, module_state *state);

/* link_map.c: _core.link_map() and _core.find_r_debug(), METH_VARARGS. */
PyObject *binding_link_map(PyObject *module, PyObject *args);
PyObject *binding_find_r_debug(PyObject *module, PyObject *args);
extern const char binding_link_map_doc[];
extern const char binding_find_r_debug_doc[];

#endif /* MEMMAPS_BINDING_H */
