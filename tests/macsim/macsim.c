/* A simulated Mach kernel for backends/macos.c, answering from a scenario.
 *
 * backends/macos.c is compiled unchanged against the headers in
 * tests/macsim/include/ (Apple's declarations) and linked with this file,
 * which implements the calls it makes: task_for_pid(), pid_for_task(),
 * mach_port_deallocate(), task_info(), mach_vm_region_recurse(),
 * mach_vm_read_overwrite(), mach_error_string(), proc_pidinfo(),
 * proc_pid_rusage(), and kill(), getpid(), geteuid(), usleep() for the
 * simulated process.  The scenario (written by tests/helpers/macscenario.py,
 * the format is described there) gives the task's VM maps (the task's own,
 * map 0, and the submaps its entries point to), the bytes of its memory,
 * and how the kernel behaves: whether the task port is granted, whether
 * proc_pidinfo() answers, whether the process ends after some calls.
 *
 * The scenario may lie (entries that overlap, wrap past the top of the
 * address space, submaps that contain themselves, counts that do not match
 * what is filled): the simulation presents such data as a lying kernel
 * would, and bounds its own work (MAX_STEPS), so that it is the backend's
 * handling of it that a test sees.
 *
 * Every task port handed out is counted until deallocated; the control
 * functions (macsim_*, with default visibility so that a test can reach
 * them through ctypes in the extension) load a scenario, reset, and report
 * what is outstanding.  A scenario named by MACSIM_SCENARIO is loaded at
 * the first call, and with MACSIM_REPORT the report is written to that file
 * at exit: how tools/mmdump is driven.
 */
#include <errno.h>
#include <limits.h>
#include <libproc.h>
#include <mach/mach.h>
#include <mach/vm_page_size.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/proc.h>
#include <sys/proc_info.h>
#include <unistd.h>

#define EXPORT __attribute__((visibility("default")))

/* Bounds on what a scenario may describe, and on the work of one lookup
 * (a cyclic submap could otherwise make it exponential). */
#define MAX_MAPS       1024
#define MAX_ENTRIES    200000
#define MAX_MEMORY     ((size_t)256 << 20)
#define MAX_LINE       ((size_t)1 << 20)
#define MAX_LEVELS     64
#define MAX_STEPS      100000
#define MAX_PORTS      4096
#define SELF_PORT      0x103
#define FIRST_PORT     0x1003
#define NO_SUBMAP      UINT32_MAX
#define NOT_OVERRIDDEN UINT64_MAX

typedef struct sim_entry {
    uint64_t start, size;
    uint32_t map;    /* the map it belongs to */
    uint32_t submap; /* NO_SUBMAP, or the map it points to */
    vm_region_submap_info_data_64_t info;
    /* What the kernel says instead of the truth, to lie. */
    uint64_t report_start, report_size, report_depth;
    char *path; /* its vnode, NULL for none */
    uint32_t dev;
    uint64_t ino;
} sim_entry;

typedef struct sim_chunk {
    uint64_t addr;
    size_t len, off; /* into memory */
} sim_chunk;

typedef struct sim_flicker {
    uint64_t addr, len;
    long reads_left; /* reads that still see zeros there */
} sim_flicker;

enum { ALIVE, ZOMBIE, GONE };

static struct {
    int loaded;
    char error[256];
    /* The process. */
    int pid, caller_pid, self;
    uid_t euid;
    int state, end_state;
    long ends_after; /* calls before it ends; -1 never */
    long calls;
    int pid_for_task_answer; /* 0: the pid */
    /* The kernel. */
    kern_return_t tfp;
    int pidinfo_errno; /* 0: answers */
    int pidinfo_neighbour;
    int pidinfo_size; /* what a PROC_PIDREGIONPATHINFO returns; 0: the size */
    uint64_t page_size, kernel_page_size, footprint, rusage_footprint;
    int rusage_errno;
    mach_msg_type_number_t vm_info_count;
    long region_count_lie; /* -1: honest */
    uint64_t dyld_addr;
    int dyld_format;
    kern_return_t dyld_kr;
    kern_return_t region_kr; /* every mach_vm_region_recurse() fails so */
    /* The maps. */
    sim_entry *entries;
    size_t entry_count, entry_cap;
    uint32_t map_count;
    /* The memory. */
    unsigned char *memory;
    size_t memory_len, memory_cap;
    sim_chunk *chunks;
    size_t chunk_count, chunk_cap;
    sim_flicker flickers[64];
    size_t flicker_count;
    /* The accounting. */
    mach_port_name_t ports[MAX_PORTS];
    size_t port_count;
    long ports_given, bad_deallocs, self_deallocs, sleeps, reads, region_calls,
        pidinfo_calls;
    mach_port_name_t next_port;
} sim;

mach_port_t mach_task_self_ = SELF_PORT;
vm_size_t vm_page_size = 4096;
vm_size_t vm_kernel_page_size = 4096;

static void
fail(const char *format, ...)
{
    va_list ap;

    va_start(ap, format);
    vsnprintf(sim.error, sizeof(sim.error), format, ap);
    va_end(ap);
}

EXPORT void
macsim_reset(void)
{
    for (size_t i = 0; i < sim.entry_count; i++) {
        free(sim.entries[i].path);
    }
    free(sim.entries);
    free(sim.memory);
    free(sim.chunks);
    memset(&sim, 0, sizeof(sim));
}

static void
defaults(void)
{
    sim.pid = 4242;
    sim.caller_pid = 1000;
    sim.euid = 501;
    sim.state = ALIVE;
    sim.end_state = GONE;
    sim.ends_after = -1;
    sim.tfp = KERN_SUCCESS;
    sim.page_size = 16384;
    sim.kernel_page_size = 16384;
    sim.vm_info_count = TASK_VM_INFO_COUNT;
    sim.region_count_lie = -1;
    sim.dyld_format = TASK_DYLD_ALL_IMAGE_INFO_64;
    sim.next_port = FIRST_PORT;
    sim.map_count = 1;
}

/* ---- the scenario's text ---------------------------------------------- */

static int
number(const char *text, uint64_t *out)
{
    char *end;

    if (text == NULL || *text == '\0') {
        return -1;
    }
    errno = 0;
    *out = strtoull(text, &end, 0);
    return errno != 0 || *end != '\0' ? -1 : 0;
}

static int
hex_digit(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    return -1;
}

static int
add_memory(uint64_t addr, const char *hex)
{
    size_t n = strlen(hex);
    sim_chunk *chunk;

    if (n % 2 != 0 || n / 2 > MAX_MEMORY - sim.memory_len) {
        return -1;
    }
    if (sim.memory_len + n / 2 > sim.memory_cap) {
        size_t cap = sim.memory_cap ? sim.memory_cap : 65536;
        while (cap < sim.memory_len + n / 2) {
            cap *= 2;
        }
        unsigned char *grown = realloc(sim.memory, cap);
        if (grown == NULL) {
            return -1;
        }
        sim.memory = grown;
        sim.memory_cap = cap;
    }
    if (sim.chunk_count == sim.chunk_cap) {
        size_t cap = sim.chunk_cap ? 2 * sim.chunk_cap : 64;
        sim_chunk *grown = realloc(sim.chunks, cap * sizeof(*grown));
        if (grown == NULL) {
            return -1;
        }
        sim.chunks = grown;
        sim.chunk_cap = cap;
    }
    chunk = &sim.chunks[sim.chunk_count];
    chunk->addr = addr;
    chunk->off = sim.memory_len;
    chunk->len = n / 2;
    for (size_t i = 0; i < n / 2; i++) {
        int hi = hex_digit(hex[2 * i]), lo = hex_digit(hex[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            return -1;
        }
        sim.memory[sim.memory_len + i] = (unsigned char)(hi << 4 | lo);
    }
    sim.memory_len += n / 2;
    sim.chunk_count++;
    return 0;
}

/* One key=value of an entry line. */
static int
entry_field(sim_entry *e, const char *key, uint64_t v)
{
    vm_region_submap_info_data_64_t *i = &e->info;
    static const char *const names[] = {
        "prot",         "maxprot",   "inherit", "offset",       "tag",
        "resident",     "snp",       "swapped", "dirtied",      "ref",
        "shadow",       "pager",     "share",   "submap",       "object",
        "reusable",     "behavior",  "wired",   "report_start", "report_size",
        "report_depth", "is_submap",
    };
    size_t k = 0;

    while (k < sizeof(names) / sizeof(names[0]) &&
           strcmp(names[k], key) != 0) {
        k++;
    }
    switch (k) {
    case 0:
        i->protection = (vm_prot_t)v;
        break;
    case 1:
        i->max_protection = (vm_prot_t)v;
        break;
    case 2:
        i->inheritance = (vm_inherit_t)v;
        break;
    case 3:
        i->offset = v;
        break;
    case 4:
        i->user_tag = (unsigned)v;
        break;
    case 5:
        i->pages_resident = (unsigned)v;
        break;
    case 6:
        i->pages_shared_now_private = (unsigned)v;
        break;
    case 7:
        i->pages_swapped_out = (unsigned)v;
        break;
    case 8:
        i->pages_dirtied = (unsigned)v;
        break;
    case 9:
        i->ref_count = (unsigned)v;
        break;
    case 10:
        i->shadow_depth = (unsigned short)v;
        break;
    case 11:
        i->external_pager = (unsigned char)v;
        break;
    case 12:
        i->share_mode = (unsigned char)v;
        break;
    case 13:
        if (v >= MAX_MAPS) {
            return -1;
        }
        e->submap = (uint32_t)v;
        i->is_submap = 1;
        if (v >= sim.map_count) {
            sim.map_count = (uint32_t)v + 1;
        }
        break;
    case 14:
        i->object_id = (vm32_object_id_t)v;
        i->object_id_full = v;
        break;
    case 15:
        i->pages_reusable = (unsigned)v;
        break;
    case 16:
        i->behavior = (vm_behavior_t)v;
        break;
    case 17:
        i->user_wired_count = (unsigned short)v;
        break;
    case 18:
        e->report_start = v;
        break;
    case 19:
        e->report_size = v;
        break;
    case 20:
        e->report_depth = v;
        break;
    case 21:
        i->is_submap = (boolean_t)v;
        break; /* a lie: no map behind */
    default:
        return -1;
    }
    return 0;
}

static int
add_entry(uint32_t map, char *rest)
{
    char *save = NULL, *word;
    uint64_t start, size;
    sim_entry *e;

    if (sim.entry_count >= MAX_ENTRIES) {
        return -1;
    }
    if (sim.entry_count == sim.entry_cap) {
        size_t cap = sim.entry_cap ? 2 * sim.entry_cap : 64;
        sim_entry *grown = realloc(sim.entries, cap * sizeof(*grown));
        if (grown == NULL) {
            return -1;
        }
        sim.entries = grown;
        sim.entry_cap = cap;
    }
    if (number(strtok_r(rest, " ", &save), &start) != 0 ||
        number(strtok_r(NULL, " ", &save), &size) != 0) {
        return -1;
    }
    e = &sim.entries[sim.entry_count];
    memset(e, 0, sizeof(*e));
    e->start = start;
    e->size = size;
    e->map = map;
    e->submap = NO_SUBMAP;
    e->report_start = e->report_size = e->report_depth = NOT_OVERRIDDEN;
    e->info.protection = e->info.max_protection = VM_PROT_READ;
    e->info.share_mode = SM_PRIVATE;
    e->info.ref_count = 1;
    sim.entry_count++;
    while ((word = strtok_r(NULL, " ", &save)) != NULL) {
        char *eq = strchr(word, '=');
        uint64_t v;
        if (eq == NULL) {
            return -1;
        }
        *eq = '\0';
        if (number(eq + 1, &v) != 0 || entry_field(e, word, v) != 0) {
            return -1;
        }
    }
    return 0;
}

/* "vnode DEV INO PATH": the last entry's file (PATH is the rest of the
 * line, spaces included). */
static int
add_vnode(char *rest)
{
    char *save = NULL, *dev_text, *ino_text, *path;
    uint64_t dev, ino;
    sim_entry *e;

    if (sim.entry_count == 0) {
        return -1;
    }
    e = &sim.entries[sim.entry_count - 1];
    dev_text = strtok_r(rest, " ", &save);
    ino_text = strtok_r(NULL, " ", &save);
    path = save;
    if (number(dev_text, &dev) != 0 || number(ino_text, &ino) != 0 ||
        path == NULL || e->path != NULL) {
        return -1;
    }
    e->path = strdup(path);
    e->dev = (uint32_t)dev;
    e->ino = ino;
    return e->path == NULL ? -1 : 0;
}

static int
state_named(const char *name)
{
    if (name == NULL) {
        return -1;
    }
    if (strcmp(name, "alive") == 0) {
        return ALIVE;
    }
    if (strcmp(name, "zombie") == 0) {
        return ZOMBIE;
    }
    if (strcmp(name, "gone") == 0) {
        return GONE;
    }
    return -1;
}

static int
parse_line(char *line, uint32_t *map)
{
    char *save = NULL, *key = strtok_r(line, " ", &save), *rest = save;
    char *a, *b, *c;
    uint64_t x = 0, y = 0, z = 0;

    if (key == NULL || key[0] == '#') {
        return 0;
    }
    if (strcmp(key, "entry") == 0) {
        return add_entry(*map, rest);
    }
    if (strcmp(key, "vnode") == 0) {
        return add_vnode(rest);
    }
    a = strtok_r(NULL, " ", &save);
    b = strtok_r(NULL, " ", &save);
    c = strtok_r(NULL, " ", &save);
    if (strcmp(key, "mem") == 0) {
        return number(a, &x) != 0 || b == NULL ? -1 : add_memory(x, b);
    }
    if (strcmp(key, "state") == 0 || strcmp(key, "ends_after") == 0) {
        int named = state_named(strcmp(key, "state") == 0 ? a : b);
        if (named < 0) {
            return -1;
        }
        if (strcmp(key, "state") == 0) {
            sim.state = named;
            return 0;
        }
        sim.end_state = named;
        return number(a, &x) != 0 || x > LONG_MAX
                   ? -1
                   : (sim.ends_after = (long)x, 0);
    }
    if (strcmp(key, "tfp") == 0) {
        if (a != NULL && strcmp(a, "ok") == 0) {
            sim.tfp = KERN_SUCCESS;
            return 0;
        }
        return a == NULL || strcmp(a, "refuse") != 0 || number(b, &x) != 0
                   ? -1
                   : (sim.tfp = (kern_return_t)x, 0);
    }
    if (number(a, &x) != 0) {
        return -1;
    }
    if (strcmp(key, "map") == 0) {
        if (x >= MAX_MAPS) {
            return -1;
        }
        *map = (uint32_t)x;
        if (x >= sim.map_count) {
            sim.map_count = (uint32_t)x + 1;
        }
        return 0;
    }
    if (strcmp(key, "flicker") == 0) {
        if (number(b, &y) != 0 || number(c, &z) != 0 || z > LONG_MAX ||
            sim.flicker_count ==
                sizeof(sim.flickers) / sizeof(sim.flickers[0])) {
            return -1;
        }
        sim.flickers[sim.flicker_count++] = (sim_flicker){x, y, (long)z};
        return 0;
    }
    if (strcmp(key, "dyld") == 0) {
        sim.dyld_addr = x;
        return number(b, &y) != 0 ? -1 : (sim.dyld_format = (int)y, 0);
    }
#define SET(name, field, type)                                                \
    if (strcmp(key, name) == 0) {                                             \
        sim.field = (type)x;                                                  \
        return 0;                                                             \
    }
    SET("pid", pid, int)
    SET("caller_pid", caller_pid, int)
    SET("caller_is_target", self, int)
    SET("euid", euid, uid_t)
    SET("pid_for_task", pid_for_task_answer, int)
    SET("pidinfo_errno", pidinfo_errno, int)
    SET("pidinfo_neighbour", pidinfo_neighbour, int)
    SET("pidinfo_size", pidinfo_size, int)
    SET("page_size", page_size, uint64_t)
    SET("kernel_page_size", kernel_page_size, uint64_t)
    SET("footprint", footprint, uint64_t)
    SET("rusage_footprint", rusage_footprint, uint64_t)
    SET("rusage_errno", rusage_errno, int)
    SET("vm_info_count", vm_info_count, mach_msg_type_number_t)
    SET("region_count_lie", region_count_lie, long)
    SET("dyld_kr", dyld_kr, kern_return_t)
    SET("region_kr", region_kr, kern_return_t)
#undef SET
    return -1;
}

EXPORT int
macsim_load(const char *path)
{
    FILE *f;
    char *line = NULL;
    size_t cap = 0, lineno = 0;
    ssize_t n;
    uint32_t map = 0;
    int status = 0;

    macsim_reset();
    defaults();
    f = fopen(path, "r");
    if (f == NULL) {
        fail("cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    while (status == 0 && (n = getline(&line, &cap, f)) >= 0) {
        lineno++;
        if ((size_t)n > MAX_LINE) {
            status = -1;
            break;
        }
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) {
            line[--n] = '\0';
        }
        status = parse_line(line, &map);
    }
    free(line);
    fclose(f);
    if (status != 0) {
        macsim_reset();
        fail("%s:%zu: not a scenario line", path, lineno);
        return -1;
    }
    vm_page_size = vm_kernel_page_size = (vm_size_t)sim.kernel_page_size;
    sim.loaded = 1;
    return 0;
}

EXPORT const char *
macsim_error(void)
{
    return sim.error;
}

/* What is outstanding and what was counted, as key=value words. */
EXPORT size_t
macsim_report(char *buf, size_t len)
{
    int n = snprintf(buf, len,
                     "ports_outstanding=%zu ports_given=%ld bad_deallocs=%ld "
                     "self_deallocs=%ld calls=%ld region_calls=%ld "
                     "pidinfo_calls=%ld reads=%ld sleeps=%ld\n",
                     sim.port_count, sim.ports_given, sim.bad_deallocs,
                     sim.self_deallocs, sim.calls, sim.region_calls,
                     sim.pidinfo_calls, sim.reads, sim.sleeps);
    return n < 0 ? 0 : (size_t)n;
}

static void
report_at_exit(void)
{
    const char *to = getenv("MACSIM_REPORT");
    char text[512];
    FILE *f;

    if (to == NULL || (f = fopen(to, "w")) == NULL) {
        return;
    }
    macsim_report(text, sizeof(text));
    fputs(text, f);
    fclose(f);
}

/* The scenario of MACSIM_SCENARIO, at the first call. */
static void
ensure_loaded(void)
{
    const char *from;

    if (sim.loaded) {
        return;
    }
    from = getenv("MACSIM_SCENARIO");
    if (from == NULL) {
        defaults();
        sim.loaded = 1;
        return;
    }
    if (macsim_load(from) != 0) {
        /* Not the backend's failure: a status of its own, no core. */
        fprintf(stderr, "macsim: %s\n", sim.error);
        _exit(3);
    }
    atexit(report_at_exit);
}

/* ---- the process ------------------------------------------------------ */

/* One call that touches the process: it may end now. */
static void
tick(void)
{
    sim.calls++;
    if (sim.ends_after >= 0 && sim.calls > sim.ends_after &&
        sim.state == ALIVE) {
        sim.state = sim.end_state;
    }
}

pid_t
macsim_getpid(void)
{
    ensure_loaded();
    return sim.self ? sim.pid : sim.caller_pid;
}

uid_t
macsim_geteuid(void)
{
    ensure_loaded();
    return sim.euid;
}

int
macsim_usleep(unsigned int usec)
{
    (void)usec;
    ensure_loaded();
    sim.sleeps++;
    return 0;
}

int
macsim_kill(pid_t pid, int sig)
{
    ensure_loaded();
    tick();
    if (pid == sim.pid && sim.state != GONE) {
        if (sig != 0) {
            errno = EPERM; /* nothing here is ever signalled */
            return -1;
        }
        return 0;
    }
    errno = ESRCH;
    return -1;
}

/* ---- ports ------------------------------------------------------------ */

static int
port_index(mach_port_name_t name)
{
    for (size_t i = 0; i < sim.port_count; i++) {
        if (sim.ports[i] == name) {
            return (int)i;
        }
    }
    return -1;
}

/* The port names the task, which is still there. */
static kern_return_t
task_port_check(mach_port_name_t port)
{
    if (port != SELF_PORT && port_index(port) < 0) {
        return MACH_SEND_INVALID_DEST;
    }
    if (port == SELF_PORT && !sim.self) {
        /* The caller is not the scenario's process: it has no map here. */
        return KERN_INVALID_ARGUMENT;
    }
    tick();
    return sim.state == ALIVE ? KERN_SUCCESS : MACH_SEND_INVALID_DEST;
}

kern_return_t
task_for_pid(mach_port_name_t target_tport, int pid, mach_port_name_t *t)
{
    ensure_loaded();
    tick();
    *t = MACH_PORT_NULL;
    if (target_tport != SELF_PORT) {
        return KERN_INVALID_ARGUMENT;
    }
    if (pid != sim.pid || sim.state != ALIVE) {
        return KERN_FAILURE;
    }
    if (sim.tfp != KERN_SUCCESS) {
        return sim.tfp;
    }
    if (sim.port_count == MAX_PORTS) {
        return KERN_NO_SPACE;
    }
    *t = sim.next_port;
    sim.next_port += 0x100;
    sim.ports[sim.port_count++] = *t;
    sim.ports_given++;
    return KERN_SUCCESS;
}

kern_return_t
pid_for_task(mach_port_name_t t, int *x)
{
    ensure_loaded();
    if (task_port_check(t) != KERN_SUCCESS) {
        return KERN_FAILURE;
    }
    *x = sim.pid_for_task_answer ? sim.pid_for_task_answer : sim.pid;
    return KERN_SUCCESS;
}

kern_return_t
mach_port_deallocate(ipc_space_t task, mach_port_name_t name)
{
    int i;

    ensure_loaded();
    if (task != SELF_PORT) {
        sim.bad_deallocs++;
        return KERN_INVALID_TASK;
    }
    if (name == SELF_PORT) {
        sim.self_deallocs++;
        return KERN_SUCCESS;
    }
    i = port_index(name);
    if (i < 0) {
        sim.bad_deallocs++;
        return KERN_INVALID_NAME;
    }
    sim.ports[i] = sim.ports[--sim.port_count];
    return KERN_SUCCESS;
}

char *
mach_error_string(mach_error_t error_value)
{
    /* The strings of libsyscall/mach/err_kern.sub and err_ipc.sub. */
    switch (error_value) {
    case KERN_SUCCESS:
        return (char *)"(os/kern) successful";
    case KERN_INVALID_ADDRESS:
        return (char *)"(os/kern) invalid address";
    case KERN_PROTECTION_FAILURE:
        return (char *)"(os/kern) protection failure";
    case KERN_NO_SPACE:
        return (char *)"(os/kern) no space available";
    case KERN_INVALID_ARGUMENT:
        return (char *)"(os/kern) invalid argument";
    case KERN_FAILURE:
        return (char *)"(os/kern) failure";
    case KERN_INVALID_NAME:
        return (char *)"(os/kern) invalid name";
    case KERN_INVALID_TASK:
        return (char *)"(os/kern) invalid task";
    case KERN_TERMINATED:
        return (char *)"(os/kern) terminated";
    case MACH_SEND_INVALID_DEST:
        return (char *)"(ipc/send) invalid destination port";
    default:
        return (char *)"unknown error code";
    }
}

/* ---- the maps --------------------------------------------------------- */

static int
contains(const sim_entry *e, uint64_t a)
{
    return a >= e->start && a - e->start < e->size;
}

/* Where one lookup is; the translation back to the task's addresses is
 * task address = map address + delta (modulo 2**64). */
typedef struct found {
    const sim_entry *entry;
    uint64_t start, size; /* in the task's addresses, clipped */
    uint32_t depth;
} found;

/* The entry of map that contains a, or the first after it, within the
 * window [lo, lo + len) of that map; descending into submaps while depth <
 * want.  1 when found, 0 when nothing is there, -1 when the work ran out. */
static int
lookup_in(uint32_t map, uint64_t a, uint64_t lo, uint64_t len, uint64_t delta,
          uint32_t depth, uint32_t want, long *steps, found *out)
{
    for (;;) {
        const sim_entry *hit = NULL, *next = NULL;

        if (++*steps > MAX_STEPS) {
            return -1;
        }
        if (a - lo >= len || a < lo) {
            return 0;
        }
        for (size_t i = 0; i < sim.entry_count; i++) {
            const sim_entry *e = &sim.entries[i];
            if (e->map != map) {
                continue;
            }
            if (contains(e, a)) {
                hit = e;
                break;
            }
            if (e->start > a && (next == NULL || e->start < next->start)) {
                next = e;
            }
        }
        if (hit == NULL) {
            if (next == NULL) {
                return 0;
            }
            a = next->start;
            continue;
        }
        if (hit->submap != NO_SUBMAP && depth < want && depth < MAX_LEVELS) {
            /* Its map's addresses: a - start + offset. */
            uint64_t child_delta = delta + hit->start - hit->info.offset;
            int r = lookup_in(hit->submap, a - hit->start + hit->info.offset,
                              hit->info.offset, hit->size, child_delta,
                              depth + 1, want, steps, out);
            if (r != 0) {
                return r;
            }
            if (hit->start + hit->size <= hit->start) {
                return 0; /* it reaches the top */
            }
            a = hit->start + hit->size; /* nothing inside: after it */
            continue;
        }
        /* Clipped to the window. */
        uint64_t start = hit->start, size = hit->size;
        if (start < lo) {
            size = size > lo - start ? size - (lo - start) : 0;
            start = lo;
        }
        if (size > len - (start - lo)) {
            size = len - (start - lo);
        }
        out->entry = hit;
        out->start = start + delta;
        out->size = size;
        out->depth = depth;
        return 1;
    }
}

kern_return_t
mach_vm_region_recurse(vm_map_t target_task, mach_vm_address_t *address,
                       mach_vm_size_t *size, natural_t *nesting_depth,
                       vm_region_recurse_info_t info,
                       mach_msg_type_number_t *info_count)
{
    vm_region_submap_info_data_64_t copy;
    kern_return_t kr;
    long steps = 0;
    found f;
    int r;
    size_t n;

    ensure_loaded();
    sim.region_calls++;
    kr = task_port_check(target_task);
    if (kr != KERN_SUCCESS) {
        return kr;
    }
    if (sim.region_kr != KERN_SUCCESS) {
        return sim.region_kr;
    }
    if (*info_count < VM_REGION_SUBMAP_INFO_V0_COUNT_64) {
        return KERN_INVALID_ARGUMENT;
    }
    memset(&f, 0, sizeof(f));
    r = lookup_in(0, *address, 0, UINT64_MAX, 0, 0, *nesting_depth, &steps,
                  &f);
    if (r < 0) {
        return KERN_FAILURE;
    }
    if (r == 0) {
        return KERN_INVALID_ADDRESS;
    }
    copy = f.entry->info;
    copy.is_submap =
        f.entry->info.is_submap &&
        (f.entry->submap == NO_SUBMAP || f.depth >= *nesting_depth);
    *address = f.entry->report_start != NOT_OVERRIDDEN ? f.entry->report_start
                                                       : f.start;
    *size =
        f.entry->report_size != NOT_OVERRIDDEN ? f.entry->report_size : f.size;
    *nesting_depth = f.entry->report_depth != NOT_OVERRIDDEN
                         ? (natural_t)f.entry->report_depth
                         : f.depth;
    n = *info_count < VM_REGION_SUBMAP_INFO_COUNT_64
            ? *info_count
            : VM_REGION_SUBMAP_INFO_COUNT_64;
    memcpy(info, &copy, n * sizeof(natural_t));
    *info_count = (mach_msg_type_number_t)n;
    return KERN_SUCCESS;
}

/* The leaf that holds a, readable or not; NULL in a hole. */
static const found *
leaf_at(uint64_t a, found *f)
{
    long steps = 0;

    memset(f, 0, sizeof(*f));
    if (lookup_in(0, a, 0, UINT64_MAX, 0, 0, MAX_LEVELS, &steps, f) != 1 ||
        a < f->start || a - f->start >= f->size) {
        return NULL;
    }
    return f;
}

kern_return_t
mach_vm_read_overwrite(vm_map_t target_task, mach_vm_address_t address,
                       mach_vm_size_t size, mach_vm_address_t data,
                       mach_vm_size_t *outsize)
{
    unsigned char *to = (unsigned char *)(uintptr_t)data;
    kern_return_t kr;
    uint64_t at = address;

    ensure_loaded();
    sim.reads++;
    kr = task_port_check(target_task);
    if (kr != KERN_SUCCESS) {
        return kr;
    }
    if (size > UINT64_MAX - address) {
        return KERN_INVALID_ADDRESS;
    }
    /* Every byte must be mapped readable, as one vm_map_copyin. */
    while (at < address + size) {
        found f;
        if (leaf_at(at, &f) == NULL) {
            return KERN_INVALID_ADDRESS;
        }
        if (!(f.entry->info.protection & VM_PROT_READ)) {
            return KERN_PROTECTION_FAILURE;
        }
        if (f.start + f.size <= f.start ||
            f.start + f.size >= address + size) {
            break;
        }
        at = f.start + f.size;
    }
    memset(to, 0, size);
    for (size_t i = 0; i < sim.chunk_count; i++) {
        const sim_chunk *c = &sim.chunks[i];
        uint64_t from = c->addr > address ? c->addr : address;
        uint64_t c_end =
            c->addr + c->len < c->addr ? UINT64_MAX : c->addr + c->len;
        uint64_t upto = c_end < address + size ? c_end : address + size;
        if (from < upto) {
            memcpy(to + (from - address),
                   sim.memory + c->off + (from - c->addr), upto - from);
        }
    }
    for (size_t i = 0; i < sim.flicker_count; i++) {
        sim_flicker *fl = &sim.flickers[i];
        uint64_t from = fl->addr > address ? fl->addr : address;
        uint64_t fl_end =
            fl->addr + fl->len < fl->addr ? UINT64_MAX : fl->addr + fl->len;
        uint64_t upto = fl_end < address + size ? fl_end : address + size;
        if (fl->reads_left > 0 && from < upto) {
            fl->reads_left--;
            memset(to + (from - address), 0, upto - from);
        }
    }
    *outsize = size;
    return KERN_SUCCESS;
}

kern_return_t
task_info(task_name_t target_task, task_flavor_t flavor,
          task_info_t task_info_out, mach_msg_type_number_t *task_info_outCnt)
{
    kern_return_t kr;

    ensure_loaded();
    kr = task_port_check(target_task);
    if (kr != KERN_SUCCESS) {
        return kr;
    }
    if (flavor == TASK_VM_INFO) {
        task_vm_info_data_t vm;
        mach_msg_type_number_t n = *task_info_outCnt;
        memset(&vm, 0, sizeof(vm));
        vm.page_size = (integer_t)sim.page_size;
        vm.phys_footprint = sim.footprint;
        vm.region_count = (integer_t)sim.entry_count;
        if (n > sim.vm_info_count) {
            n = sim.vm_info_count;
        }
        if (n > TASK_VM_INFO_COUNT) {
            n = TASK_VM_INFO_COUNT;
        }
        memcpy(task_info_out, &vm, n * sizeof(natural_t));
        *task_info_outCnt = sim.region_count_lie >= 0
                                ? (mach_msg_type_number_t)sim.region_count_lie
                                : n;
        return KERN_SUCCESS;
    }
    if (flavor == TASK_DYLD_INFO) {
        task_dyld_info_data_t dyld;
        if (*task_info_outCnt < TASK_DYLD_INFO_COUNT) {
            return KERN_INVALID_ARGUMENT;
        }
        if (sim.dyld_kr != KERN_SUCCESS) {
            return sim.dyld_kr;
        }
        memset(&dyld, 0, sizeof(dyld));
        dyld.all_image_info_addr = sim.dyld_addr;
        dyld.all_image_info_size = 0x200;
        dyld.all_image_info_format = sim.dyld_format;
        memcpy(task_info_out, &dyld, sizeof(dyld));
        *task_info_outCnt = TASK_DYLD_INFO_COUNT;
        return KERN_SUCCESS;
    }
    return KERN_INVALID_ARGUMENT;
}

/* ---- libproc ---------------------------------------------------------- */

/* The depth-0 entry that holds address or comes after it, as
 * proc_pidinfo() walks the task's own map; with pidinfo_neighbour, one
 * without a vnode is passed over for the next that has one, as the answer
 * psutil and proc-maps took for the address's. */
static const sim_entry *
top_entry(uint64_t address)
{
    const sim_entry *hit = NULL;

    for (size_t i = 0; i < sim.entry_count; i++) {
        const sim_entry *e = &sim.entries[i];
        if (e->map != 0) {
            continue;
        }
        if (contains(e, address)) {
            hit = e;
            break;
        }
        if (e->start > address && (hit == NULL || e->start < hit->start)) {
            hit = e;
        }
    }
    if (hit != NULL && hit->path == NULL && sim.pidinfo_neighbour) {
        const sim_entry *with_path = NULL;
        for (size_t i = 0; i < sim.entry_count; i++) {
            const sim_entry *e = &sim.entries[i];
            if (e->map == 0 && e->path != NULL && e->start > address &&
                (with_path == NULL || e->start < with_path->start)) {
                with_path = e;
            }
        }
        if (with_path != NULL) {
            hit = with_path;
        }
    }
    return hit;
}

static int
region_path_info(uint64_t address, void *buffer, int buffersize)
{
    struct proc_regionwithpathinfo info;
    struct proc_regioninfo *r = &info.prp_prinfo;
    const sim_entry *e;

    if (sim.pidinfo_errno != 0) {
        errno = sim.pidinfo_errno;
        return 0;
    }
    if (buffersize < (int)sizeof(info)) {
        errno = ENOMEM;
        return 0;
    }
    e = top_entry(address);
    if (e == NULL) {
        errno = EINVAL;
        return 0;
    }
    memset(&info, 0, sizeof(info));
    r->pri_protection = (uint32_t)e->info.protection;
    r->pri_max_protection = (uint32_t)e->info.max_protection;
    r->pri_inheritance = e->info.inheritance;
    r->pri_flags = e->submap != NO_SUBMAP ? PROC_REGION_SUBMAP : 0;
    r->pri_offset = e->info.offset;
    r->pri_behavior = (uint32_t)e->info.behavior;
    r->pri_user_tag = e->info.user_tag;
    r->pri_pages_resident = e->info.pages_resident;
    r->pri_pages_shared_now_private = e->info.pages_shared_now_private;
    r->pri_pages_swapped_out = e->info.pages_swapped_out;
    r->pri_pages_dirtied = e->info.pages_dirtied;
    r->pri_ref_count = e->info.ref_count;
    r->pri_shadow_depth = e->info.shadow_depth;
    r->pri_share_mode = e->info.share_mode;
    r->pri_obj_id = e->info.object_id;
    r->pri_depth = 0;
    r->pri_address =
        e->report_start != NOT_OVERRIDDEN ? e->report_start : e->start;
    r->pri_size = e->report_size != NOT_OVERRIDDEN ? e->report_size : e->size;
    if (e->path != NULL) {
        struct vnode_info_path *vip = &info.prp_vip;
        vip->vip_vi.vi_stat.vst_dev = e->dev;
        vip->vip_vi.vi_stat.vst_ino = e->ino;
        /* The kernel copies the path's tail end, NUL-terminated. */
        strncpy(vip->vip_path, e->path, sizeof(vip->vip_path) - 1);
    }
    memcpy(buffer, &info, sizeof(info));
    return sim.pidinfo_size ? sim.pidinfo_size : (int)sizeof(info);
}

int
proc_pidinfo(int pid, int flavor, uint64_t arg, void *buffer, int buffersize)
{
    ensure_loaded();
    sim.pidinfo_calls++;
    tick();
    if (pid != sim.pid || sim.state == GONE) {
        errno = ESRCH;
        return 0;
    }
    if (flavor == PROC_PIDT_SHORTBSDINFO) {
        struct proc_bsdshortinfo info;
        if (buffersize < (int)sizeof(info)) {
            errno = ENOMEM;
            return 0;
        }
        memset(&info, 0, sizeof(info));
        info.pbsi_pid = (uint32_t)sim.pid;
        info.pbsi_status = sim.state == ZOMBIE ? SZOMB : SRUN;
        memcpy(buffer, &info, sizeof(info));
        return (int)sizeof(info);
    }
    if (flavor == PROC_PIDREGIONPATHINFO) {
        if (sim.state == ZOMBIE) {
            errno = ESRCH; /* no task, no map */
            return 0;
        }
        return region_path_info(arg, buffer, buffersize);
    }
    errno = EINVAL;
    return 0;
}

int
proc_pid_rusage(int pid, int flavor, rusage_info_t *buffer)
{
    struct rusage_info_v2 info;

    ensure_loaded();
    tick();
    if (pid != sim.pid || sim.state == GONE) {
        errno = ESRCH;
        return -1;
    }
    if (flavor != RUSAGE_INFO_V2) {
        errno = EINVAL;
        return -1;
    }
    if (sim.rusage_errno != 0) {
        errno = sim.rusage_errno;
        return -1;
    }
    memset(&info, 0, sizeof(info));
    info.ri_phys_footprint = sim.rusage_footprint;
    memcpy(buffer, &info, sizeof(info));
    return 0;
}
