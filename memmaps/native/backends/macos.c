/* The macOS backend: the Mach VM map of a task, named by proc_pidinfo().
 *
 * Regions come from mach_vm_region_recurse() with vm_region_submap_info_64,
 * descending into submaps (the shared region that holds the dyld shared
 * cache is one), so every leaf is a region.  The record of each is turned
 * into an mm_region by the portable mm_darwin.c.  Names come from
 * proc_pidinfo(PROC_PIDREGIONPATHINFO), kept only when the region it reports
 * contains the address asked about: like proc_regionfilename(), it answers
 * for the *next* region when the address is in anonymous memory, which is
 * how psutil and proc-maps came to show wrong names (psutil#1291,
 * proc-maps#25).  The target is never suspended: a listing is a snapshot
 * that may be torn while the target maps and unmaps, and
 * mm_list_normalize() cleans up what overlaps.
 *
 * Another process's task port needs task_for_pid(): root, or a program
 * signed with the com.apple.security.cs.debugger entitlement, and even root
 * is refused a target protected by System Integrity Protection or the
 * hardened runtime.  Without it a listing falls back to proc_pidinfo() at
 * depth 0 (the same user suffices), and says so in the listing's partial.  The
 * port is always deallocated; mach_task_self() is not a reference of ours and
 * is never deallocated.
 *
 * This file is compiled only on macOS; the cross-compile test builds and
 * links it for aarch64-macos and x86_64-macos with zig's macOS headers.
 */
#include "formats/dyld.h"
#include "core/mm.h"
#include "core/switches.h"
#include "formats/dyld.h"
#include "formats/mach_regions.h"
#include "formats/macho_images.h"

#include <errno.h>
#include <libproc.h>
#include <limits.h>
#include <mach/mach.h>
#include <mach/vm_page_size.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/proc.h>
#include <sys/proc_info.h>
#include <sys/resource.h>
#include <unistd.h>

/* <mach/mach_vm.h> is not among the SDK headers zig ships; libSystem
 * exports both (the MIG stubs), declared here as that header does. */
extern kern_return_t
mach_vm_region_recurse(vm_map_t target_task, mach_vm_address_t *address,
                       mach_vm_size_t *size, natural_t *nesting_depth,
                       vm_region_recurse_info_t info,
                       mach_msg_type_number_t *info_count);
extern kern_return_t mach_vm_read_overwrite(vm_map_t target_task,
                                            mach_vm_address_t address,
                                            mach_vm_size_t size,
                                            mach_vm_address_t data,
                                            mach_vm_size_t *outsize);

/* mm_darwin.c mirrors these values without the headers. */
_Static_assert(SM_COW == MM_SM_COW && SM_PRIVATE == MM_SM_PRIVATE &&
                   SM_EMPTY == MM_SM_EMPTY && SM_SHARED == MM_SM_SHARED &&
                   SM_TRUESHARED == MM_SM_TRUESHARED &&
                   SM_PRIVATE_ALIASED == MM_SM_PRIVATE_ALIASED &&
                   SM_SHARED_ALIASED == MM_SM_SHARED_ALIASED &&
                   SM_LARGE_PAGE == MM_SM_LARGE_PAGE,
               "formats/mach_regions.h's share modes are xnu's");
_Static_assert(VM_PROT_READ == MM_PROT_READ &&
                   VM_PROT_WRITE == MM_PROT_WRITE &&
                   VM_PROT_EXECUTE == MM_PROT_EXEC,
               "VM_PROT_* are MM_PROT_*");
_Static_assert(VM_MEMORY_STACK == MM_VM_MEMORY_STACK,
               "formats/mach_regions.h's stack tag is xnu's");

/* Submaps nest one level in practice (the shared region); this only stops
 * a kernel that kept reporting submaps from looping forever. */
#define MAX_DEPTH 16

/* A whole read that fails is retried in pieces of this size, so that a
 * range running into unmapped memory still yields what comes before.  Every
 * macOS map's page size is a multiple of it. */
#define READ_PIECE 4096

/* How often dyld's list is read while dyld is changing it (each read
 * itself tries MM_DYLD_ATTEMPTS times), and how long to wait between: dyld
 * holds the list NULL only while it adds or removes images, which takes
 * microseconds to a few milliseconds (a dlopen of a big framework). */
#define DYLD_BUSY_TRIES 5
#define DYLD_BUSY_WAIT  2000 /* microseconds */

const char *
mm_backend_name(void)
{
    return "macos";
}

/* The task to read. */
typedef struct task_ref {
    long asked;       /* the pid as given, for messages */
    pid_t pid;        /* the real pid: getpid() for the caller */
    mach_port_t port; /* MACH_PORT_NULL while none was had */
    int self;         /* port is mach_task_self(): not ours to release */
} task_ref;

/* Gets the task port: mach_task_self() for the caller, task_for_pid() for
 * anyone else.  Returns task_for_pid()'s answer. */
static kern_return_t
task_open(long pid, task_ref *t)
{
    mach_port_t port = MACH_PORT_NULL;
    kern_return_t kr;

    t->asked = pid;
    t->port = MACH_PORT_NULL;
    t->self = pid < 0 || pid == (long)getpid();
    if (t->self) {
        t->pid = getpid();
        t->port = mach_task_self();
        return KERN_SUCCESS;
    }
    if (pid == 0 || pid > INT_MAX) {
        /* 0 is the kernel, which has no user address space to show; the
         * callers take pid 0 for a process that does not exist. */
        t->pid = 0;
        return KERN_INVALID_ARGUMENT;
    }
    t->pid = (pid_t)pid;
    kr = task_for_pid(mach_task_self(), t->pid, &port);
    if (kr == KERN_SUCCESS) {
        t->port = port;
    }
    return kr;
}

static void
task_close(task_ref *t)
{
    if (!t->self && t->port != MACH_PORT_NULL) {
        mach_port_deallocate(mach_task_self(), t->port);
    }
    t->port = MACH_PORT_NULL;
}

/* Whether pid names a process at all (a zombie included). */
static int
process_exists(pid_t pid)
{
    return pid > 0 && (kill(pid, 0) == 0 || errno == EPERM);
}

/* Whether pid is a zombie.  PROC_PIDT_SHORTBSDINFO needs no privilege. */
static int
process_is_zombie(pid_t pid)
{
    struct proc_bsdshortinfo info;

    return proc_pidinfo(pid, PROC_PIDT_SHORTBSDINFO, 0, &info,
                        (int)sizeof(info)) == (int)sizeof(info) &&
           info.pbsi_status == SZOMB;
}

/* The target is gone, or a zombie: say which. */
static mm_status
process_gone(const task_ref *t, mm_err *err)
{
    if (process_exists(t->pid) && process_is_zombie(t->pid)) {
        return mm_err_set(err, MM_ERR_ZOMBIE, 0,
                          "process %ld is a zombie: it has exited and has no "
                          "memory map, and waits for its parent to reap it",
                          t->asked);
    }
    return mm_err_set(
        err, MM_ERR_NO_PROCESS, ESRCH,
        "process %ld does not exist (or exited while being read)", t->asked);
}

/* Whether the task behind t's port has ended, or its pid now belongs to
 * another process: then what was read of it may be cut short. */
static int
task_ended(const task_ref *t)
{
    int pid = -1;

    if (t->self) {
        return 0;
    }
    if (pid_for_task(t->port, &pid) != KERN_SUCCESS || pid != t->pid) {
        return 1;
    }
    return !process_exists(t->pid) || process_is_zombie(t->pid);
}

/* task_for_pid() refused: the process is gone, or we may not have its
 * port; `what` says what the port was for. */
static mm_status
task_refused(const task_ref *t, kern_return_t kr, const char *what,
             mm_err *err)
{
    if (!process_exists(t->pid) || process_is_zombie(t->pid)) {
        return process_gone(t, err);
    }
    if (geteuid() != 0) {
        return mm_err_set(
            err, MM_ERR_ACCESS, EPERM,
            "access denied to process %ld: %s needs its task port, and "
            "task_for_pid() refused (%s, 0x%x): only root or a program "
            "signed with the com.apple.security.cs.debugger entitlement may "
            "have another process's task port, and a target protected by "
            "System Integrity Protection or the hardened runtime refuses "
            "even those",
            t->asked, what, mach_error_string(kr), (unsigned)kr);
    }
    return mm_err_set(
        err, MM_ERR_ACCESS, EPERM,
        "access denied to process %ld: %s needs its task port, and "
        "task_for_pid() refused even root (%s, 0x%x): the target is "
        "protected by System Integrity Protection (a system binary) or runs "
        "with the hardened runtime and without the get-task-allow "
        "entitlement",
        t->asked, what, mach_error_string(kr), (unsigned)kr);
}

/* The task port of target for what needs it, or the error that says why it
 * was refused (what names what the port was for). */
static mm_status
open_task(const mm_target *target, const char *what, task_ref *t, mm_err *err)
{
    kern_return_t kr = task_open(target->pid, t);

    return kr == KERN_SUCCESS ? MM_OK : task_refused(t, kr, what, err);
}

/* Neither the task port nor proc_pidinfo(): another user's process. */
static mm_status
pidinfo_refused(const task_ref *t, kern_return_t kr, mm_err *err)
{
    if (!process_exists(t->pid) || process_is_zombie(t->pid)) {
        return process_gone(t, err);
    }
    return mm_err_set(
        err, MM_ERR_ACCESS, EPERM,
        "access denied to process %ld: reading its memory map needs its task "
        "port, which task_for_pid() refused (%s, 0x%x; it needs root or the "
        "com.apple.security.cs.debugger entitlement, and a target protected "
        "by System Integrity Protection or the hardened runtime refuses even "
        "those), or proc_pidinfo(), which refused too: the process belongs "
        "to another user, and only root may read it",
        t->asked, mach_error_string(kr), (unsigned)kr);
}

/* A Mach call on the task failed: the task died, or something else. */
static mm_status
mach_failed(const task_ref *t, kern_return_t kr, const char *call, mm_err *err)
{
    if (task_ended(t)) {
        return process_gone(t, err);
    }
    return mm_err_set(err, MM_ERR_OS, 0,
                      "%s failed for process %ld: %s (0x%x)", call, t->asked,
                      mach_error_string(kr), (unsigned)kr);
}

/* The page size of the target's map, which the page counts are in: 16 KiB
 * for arm64 processes on Apple silicon, 4 KiB for x86_64 ones (Rosetta
 * included). */
static uint64_t
target_page_size(mach_port_t port, uint64_t *phys_footprint,
                 int *have_footprint)
{
    task_vm_info_data_t info;
    mach_msg_type_number_t count = TASK_VM_INFO_COUNT;

    *have_footprint = 0;
    memset(&info, 0, sizeof(info));
    if (task_info(port, TASK_VM_INFO, (task_info_t)&info, &count) ==
        KERN_SUCCESS) {
        /* Kernels fill as many revisions as they know and say so. */
        if (count >= TASK_VM_INFO_REV1_COUNT) {
            *phys_footprint = info.phys_footprint;
            *have_footprint = 1;
        }
        if (info.page_size > 0) {
            return (uint64_t)info.page_size;
        }
    }
    return vm_kernel_page_size ? (uint64_t)vm_kernel_page_size : 4096;
}

/* Copies the fields mm_darwin.c needs. */
static void
mirror_submap_info(const vm_region_submap_info_data_64_t *in,
                   mm_darwin_submap_info *out)
{
    memset(out, 0, sizeof(*out));
    out->protection = (uint32_t)in->protection;
    out->max_protection = (uint32_t)in->max_protection;
    out->inheritance = (uint32_t)in->inheritance;
    out->offset = in->offset;
    out->user_tag = in->user_tag;
    out->pages_resident = in->pages_resident;
    out->pages_shared_now_private = in->pages_shared_now_private;
    out->pages_swapped_out = in->pages_swapped_out;
    out->pages_dirtied = in->pages_dirtied;
    out->ref_count = in->ref_count;
    out->shadow_depth = in->shadow_depth;
    out->external_pager = in->external_pager;
    out->share_mode = in->share_mode;
    out->is_submap = in->is_submap ? 1 : 0;
    out->object_id = in->object_id;
    out->pages_reusable = in->pages_reusable;
}

/* The same fields from proc_pidinfo()'s record of a depth-0 region.  It has
 * no external-pager flag; a vnode behind the region is the same thing. */
static void
mirror_region_info(const struct proc_regionwithpathinfo *in,
                   mm_darwin_submap_info *out)
{
    const struct proc_regioninfo *r = &in->prp_prinfo;

    memset(out, 0, sizeof(*out));
    out->protection = r->pri_protection;
    out->max_protection = r->pri_max_protection;
    out->inheritance = r->pri_inheritance;
    out->offset = r->pri_offset;
    out->user_tag = r->pri_user_tag;
    out->pages_resident = r->pri_pages_resident;
    out->pages_shared_now_private = r->pri_pages_shared_now_private;
    out->pages_swapped_out = r->pri_pages_swapped_out;
    out->pages_dirtied = r->pri_pages_dirtied;
    out->ref_count = r->pri_ref_count;
    out->shadow_depth = (uint16_t)r->pri_shadow_depth;
    out->external_pager = in->prp_vip.vip_path[0] != '\0';
    out->share_mode = (uint8_t)r->pri_share_mode;
    out->is_submap = (r->pri_flags & PROC_REGION_SUBMAP) != 0;
    out->object_id = r->pri_obj_id;
    out->pages_reusable = MM_DARWIN_NOT_REPORTED; /* not in proc_regioninfo */
}

/* Names the region at index from the vnode proc_pidinfo() reported, if it
 * has one.  0, or -1 when out of memory. */
static int
name_from_vnode(mm_list *list, size_t index,
                const struct proc_regionwithpathinfo *info)
{
    const struct vnode_info_path *vip = &info->prp_vip;
    size_t len = strnlen(vip->vip_path, sizeof(vip->vip_path));

    if (len == 0) {
        return 0;
    }
    return mm_darwin_set_path(list, index, vip->vip_path, len,
                              vip->vip_vi.vi_stat.vst_dev,
                              vip->vip_vi.vi_stat.vst_ino);
}

/* Names a region found by mach_vm_region_recurse().  A region with no VM
 * object (SM_EMPTY) has no file; for the others, proc_pidinfo() is asked
 * about the address and believed only if the region it answers for
 * contains it.  0, or -1 when out of memory. */
static int
name_region(pid_t pid, mm_list *list, size_t index, uint64_t address,
            uint8_t share_mode)
{
    struct proc_regionwithpathinfo info;
    const struct proc_regioninfo *r = &info.prp_prinfo;

    if (share_mode == MM_SM_EMPTY) {
        return 0;
    }
    memset(&info, 0, sizeof(info));
    if (proc_pidinfo(pid, PROC_PIDREGIONPATHINFO, address, &info,
                     (int)sizeof(info)) != (int)sizeof(info)) {
        return 0;
    }
    if (address < r->pri_address || address - r->pri_address >= r->pri_size) {
        return 0; /* it answered for the next region */
    }
    return name_from_vnode(list, index, &info);
}

/* One leaf of the walk: converted, named. */
static mm_status
add_leaf(const task_ref *t, mm_list *out, uint64_t address, uint64_t size,
         natural_t depth, const vm_region_submap_info_data_64_t *info,
         uint64_t page_size, int want_usage, mm_err *err)
{
    mm_darwin_submap_info mirror;

    mirror_submap_info(info, &mirror);
    if (mm_darwin_add_region(out, address, size, depth, &mirror, page_size,
                             want_usage) != 0 ||
        name_region(t->pid, out, out->count - 1, address, mirror.share_mode) !=
            0) {
        return mm_err_set(err, MM_ERR_NOMEM, 0, "out of memory");
    }
    return MM_OK;
}

/* Every leaf region of the task's map from `from` on; with only_one, only
 * the one that contains `from` (for mm_region_at), or none. */
static mm_status
walk_task(const task_ref *t, uint64_t from, int only_one, unsigned flags,
          mm_list *out, mm_err *err)
{
    int want_usage = (flags & MM_REGIONS_USAGE) != 0;
    uint64_t footprint;
    int have_footprint;
    uint64_t page_size =
        target_page_size(t->port, &footprint, &have_footprint);
    mach_vm_address_t address = from;
    natural_t depth = 0;

    for (;;) {
        vm_region_submap_info_data_64_t info;
        /* The kernel lowers count to what it filled: set it every time. */
        mach_msg_type_number_t count = VM_REGION_SUBMAP_INFO_COUNT_64;
        mach_vm_size_t size = 0;
        natural_t reached = depth;
        mach_vm_address_t asked = address;
        kern_return_t kr;
        mm_status status;

        memset(&info, 0, sizeof(info));
        kr = mach_vm_region_recurse(t->port, &address, &size, &reached,
                                    (vm_region_recurse_info_t)&info, &count);
        if (kr == KERN_INVALID_ADDRESS) {
            break; /* nothing at or above address */
        }
        if (kr != KERN_SUCCESS) {
            return mach_failed(t, kr, "mach_vm_region_recurse()", err);
        }
        if (size == 0) {
            /* Nothing to step over: asking again would get the same. */
            return mm_err_set(err, MM_ERR_OS, 0,
                              "mach_vm_region_recurse() answered for process "
                              "%ld with a region of size 0 at 0x%llx",
                              t->asked, (unsigned long long)address);
        }
        if (address < asked && size <= asked - address) {
            /* The region that holds asked, or the next, cannot end at or
             * below it; going back would walk the same regions again,
             * forever. */
            return mm_err_set(err, MM_ERR_OS, 0,
                              "mach_vm_region_recurse() answered for process "
                              "%ld with a region ending at 0x%llx, at or "
                              "below the address asked (0x%llx)",
                              t->asked, (unsigned long long)(address + size),
                              (unsigned long long)asked);
        }
        if (only_one && address > from) {
            break; /* from is in a gap: this is the next region */
        }
        if (info.is_submap && reached == depth && depth < MAX_DEPTH) {
            /* Look inside at the same address, one level deeper.  The
             * depth stays raised for the regions after it: the kernel
             * reports the depth it really reached, 0 past the submap. */
            depth = reached + 1;
            if (only_one) {
                address = from;
            }
            continue;
        }
        status = add_leaf(t, out, address, size, reached, &info, page_size,
                          want_usage, err);
        if (status != MM_OK) {
            return status;
        }
        if (only_one || address + size <= address) {
            break; /* asked for one, or at the top of the address space */
        }
        address += size;
        depth = reached;
    }
    return MM_OK;
}

/* The listing without a task port: proc_pidinfo() walks the task's own map
 * (depth 0) for a process of the same user.  refused is task_for_pid()'s
 * answer, for the note and for the error if this is refused too. */
static mm_status
walk_pidinfo(const task_ref *t, kern_return_t refused, uint64_t from,
             int only_one, unsigned flags, mm_list *out, mm_err *err)
{
    int want_usage = (flags & MM_REGIONS_USAGE) != 0;
    /* Without the task there is no asking its map's page size: the
     * kernel's is the best guess (right unless an x86_64 process runs
     * under Rosetta on Apple silicon). */
    uint64_t page_size = vm_kernel_page_size ? vm_kernel_page_size : 4096;
    uint64_t address = from;

    if (t->pid <= 0) {
        return process_gone(t, err);
    }
    for (int first = 1;; first = 0) {
        struct proc_regionwithpathinfo info;
        const struct proc_regioninfo *r = &info.prp_prinfo;
        mm_darwin_submap_info mirror;
        int n;

        memset(&info, 0, sizeof(info));
        n = proc_pidinfo(t->pid, PROC_PIDREGIONPATHINFO, address, &info,
                         (int)sizeof(info));
        if (n <= 0) {
            int error = errno;
            if (error == ESRCH || !process_exists(t->pid)) {
                return process_gone(t, err);
            }
            if (first && (error == EPERM || error == EACCES)) {
                return pidinfo_refused(t, refused, err);
            }
            break; /* EINVAL: no region at or above address */
        }
        if (n != (int)sizeof(info) || r->pri_size == 0) {
            /* Stopping here would pass a listing cut short for a whole
             * one (partial says only that it is depth 0). */
            return mm_err_set(err, MM_ERR_OS, 0,
                              "proc_pidinfo(PROC_PIDREGIONPATHINFO) answered "
                              "for process %ld at 0x%llx with %d bytes "
                              "(of %zu) and a region of size 0x%llx",
                              t->asked, (unsigned long long)address, n,
                              sizeof(info), (unsigned long long)r->pri_size);
        }
        if (only_one && r->pri_address > from) {
            break; /* from is in a gap */
        }
        mirror_region_info(&info, &mirror);
        if (mm_darwin_add_region(out, r->pri_address, r->pri_size,
                                 r->pri_depth, &mirror, page_size,
                                 want_usage) != 0 ||
            name_from_vnode(out, out->count - 1, &info) != 0) {
            return mm_err_set(err, MM_ERR_NOMEM, 0, "out of memory");
        }
        if (only_one || r->pri_address + r->pri_size <= address) {
            break;
        }
        address = r->pri_address + r->pri_size;
    }
    if (process_is_zombie(t->pid) || !process_exists(t->pid)) {
        out->count = 0;
        return process_gone(t, err);
    }
    /* Success, but partial: the listing says so (Maps.partial). */
    if (mm_darwin_mark_depth0(out, t->asked, mach_error_string(refused),
                              (unsigned)refused) != 0) {
        return mm_err_set(err, MM_ERR_NOMEM, 0, "out of memory");
    }
    return MM_OK;
}

static mm_status read_images(const task_ref *t, mm_image_list *out,
                             mm_err *err);

/* Names the regions the kernel gave no path after the segments of dyld's
 * images (__TEXT, __DATA_CONST ... of the dylibs of the shared cache have
 * no vnode for proc_pidinfo() to name), as vmmap does.  Only when some
 * region lacks a name; a failure to read the images leaves the names as
 * the OS gave them; running out of memory and the process ending are
 * errors. */
static mm_status
name_from_images(const task_ref *t, mm_list *out, mm_err *err)
{
    mm_image_list images;
    mm_err ignored;
    mm_status status = MM_OK;
    int unnamed = 0;

    for (size_t i = 0; i < out->count && !unnamed; i++) {
        unnamed = !(out->regions[i].flags & MM_REGION_NAMED);
    }
    if (!unnamed) {
        return MM_OK;
    }
    mm_image_list_init(&images);
    memset(&ignored, 0, sizeof(ignored));
    status = read_images(t, &images, &ignored);
    if (status == MM_ERR_NOMEM) {
        mm_image_list_free(&images);
        return mm_err_set(err, MM_ERR_NOMEM, 0, "out of memory");
    }
    if (status == MM_ERR_NO_PROCESS || status == MM_ERR_ZOMBIE) {
        /* It exited while its images were read: the listing is of a
         * process that no longer is, as when it exits during the walk. */
        mm_image_list_free(&images);
        *err = ignored;
        return status;
    }
    if (status == MM_OK) {
        status = mm_macho_name_regions(out, &images, err);
    }
    else {
        status = MM_OK;
    }
    mm_image_list_free(&images);
    return status;
}

/* Lists the regions (all, or only_one: the one containing from); with
 * name_images, names them after dyld's images too (a full listing with
 * the task port only). */
static mm_status
list_regions(const mm_target *target, uint64_t from, int only_one,
             int name_images, unsigned flags, mm_list *out, mm_err *err)
{
    task_ref t;
    kern_return_t kr;
    mm_status status;
    int finished = 0;

    mm_list_clear(out);
    kr = task_open(target->pid, &t);
    if (kr != KERN_SUCCESS) {
        status = walk_pidinfo(&t, kr, from, only_one, flags, out, err);
    }
    else {
        status = walk_task(&t, from, only_one, flags, out, err);
        if (status == MM_OK && task_ended(&t)) {
            /* It exited while being read: what was read may be cut. */
            status = process_gone(&t, err);
        }
        if (status == MM_OK && name_images) {
            /* After mm_darwin_finish(), while the port is open: the regions
             * are sorted and what is not a file has no offset, as they would
             * be without the names. */
            mm_darwin_finish(out);
            finished = 1;
            status = name_from_images(&t, out, err);
        }
    }
    task_close(&t);
    if (status != MM_OK) {
        out->count = 0;
        out->usage_count = 0;
        return status;
    }
    if (!finished) {
        mm_darwin_finish(out);
    }
    return MM_OK;
}

mm_status
mm_regions(const mm_target *target, unsigned flags, mm_list *out, mm_err *err)
{
    return list_regions(target, 0, 0, 1, flags, out, err);
}

mm_status
mm_region_at(const mm_target *target, uint64_t addr, unsigned flags,
             mm_list *out, mm_err *err)
{
    mm_status status;

    if (flags & MM_SWITCH_FROM_LISTING) {
        mm_list_clear(out);
        return mm_region_at_from_listing(target, addr, out, err);
    }
    /* mach_vm_region_recurse() returns the region at or above the address:
     * list_regions() keeps it only if it contains addr. */
    status = list_regions(target, addr, 1, 0, flags, out, err);
    if (status == MM_OK && out->count == 1 &&
        (addr < out->regions[0].start || addr >= out->regions[0].end)) {
        out->count = 0;
    }
    return status;
}

/* Reads as much of [addr, addr + len) as is readable from its start. */
static mm_status
read_task(const task_ref *t, uint64_t addr, char *buf, size_t len, size_t *got,
          mm_err *err)
{
    mach_vm_size_t n = 0;
    kern_return_t kr;
    size_t done = 0;

    *got = 0;
    if (len == 0) {
        return MM_OK;
    }
    kr = mach_vm_read_overwrite(t->port, addr, len,
                                (mach_vm_address_t)(uintptr_t)buf, &n);
    if (kr == KERN_SUCCESS) {
        *got = (size_t)n;
        return MM_OK;
    }
    if (kr != KERN_INVALID_ADDRESS && kr != KERN_PROTECTION_FAILURE) {
        return mach_failed(t, kr, "mach_vm_read_overwrite()", err);
    }
    /* Some page of the range cannot be read: take it piece by piece up to
     * the first that fails. */
    while (done < len) {
        uint64_t at = addr + done;
        size_t piece = READ_PIECE - (size_t)(at % READ_PIECE);

        if (piece > len - done) {
            piece = len - done;
        }
        n = 0;
        kr = mach_vm_read_overwrite(t->port, at, piece,
                                    (mach_vm_address_t)(uintptr_t)(buf + done),
                                    &n);
        if (kr != KERN_SUCCESS || n == 0) {
            break;
        }
        done += (size_t)n;
    }
    *got = done;
    return MM_OK;
}

mm_status
mm_read_memory(const mm_target *target, uint64_t addr, void *buf, size_t len,
               size_t *got, mm_err *err)
{
    task_ref t;
    mm_status status = open_task(target, "reading its memory", &t, err);

    *got = 0;
    if (len > UINT64_MAX - addr) {
        len = (size_t)(UINT64_MAX - addr); /* the address space ends */
    }
    if (status == MM_OK) {
        status = read_task(&t, addr, buf, len, got, err);
        task_close(&t);
    }
    return status;
}

mm_status
mm_process_usage(const mm_target *target, unsigned flags, mm_list *out,
                 mm_err *err)
{
    uint64_t footprint = 0;
    int have_footprint = 0;
    mm_status status;
    task_ref t;

    (void)flags; /* there is no kernel rollup to skip: always a sum */
    /* Names do not count in a total: no reading of dyld's images. */
    status = list_regions(target, 0, 0, 0, MM_REGIONS_USAGE, out, err);
    if (status != MM_OK) {
        return status;
    }
    if (task_open(target->pid, &t) == KERN_SUCCESS) {
        target_page_size(t.port, &footprint, &have_footprint);
        task_close(&t);
    }
    else if (t.pid > 0) {
        /* The same figure without the task port, for the same user. */
        struct rusage_info_v2 info;
        if (proc_pid_rusage(t.pid, RUSAGE_INFO_V2, (rusage_info_t *)&info) ==
            0) {
            footprint = info.ri_phys_footprint;
            have_footprint = 1;
        }
    }
    return mm_darwin_total(out, have_footprint ? &footprint : NULL, err);
}

/* The read callback over an open task: absolute addresses, and only a
 * read of every byte asked for succeeds.  One task port for all the reads
 * of a listing, instead of a task_for_pid() per read (mm_read_target). */
static int
read_task_exact(void *ctx, uint64_t address, void *buf, size_t len)
{
    const task_ref *t = ctx;
    size_t got = 0;
    mm_err ignored;

    if (len > UINT64_MAX - address) {
        return -1;
    }
    if (read_task(t, address, buf, len, &got, &ignored) != MM_OK) {
        return -1;
    }
    return got == len ? 0 : -1;
}

/* Where the target's dyld_all_image_infos is, from
 * task_info(TASK_DYLD_INFO), and whether the target is 64-bit
 * (*pointer_size 8) or 32-bit (4). */
static mm_status
dyld_images_address(const task_ref *t, uint64_t *all_image_infos_addr,
                    int *pointer_size, mm_err *err)
{
    task_dyld_info_data_t info;
    mach_msg_type_number_t count = TASK_DYLD_INFO_COUNT;
    kern_return_t kr;

    *all_image_infos_addr = 0;
    *pointer_size = 0;
    memset(&info, 0, sizeof(info));
    kr = task_info(t->port, TASK_DYLD_INFO, (task_info_t)&info, &count);
    if (kr != KERN_SUCCESS) {
        return mach_failed(t, kr, "task_info(TASK_DYLD_INFO)", err);
    }
    *all_image_infos_addr = info.all_image_info_addr;
    *pointer_size =
        info.all_image_info_format == TASK_DYLD_ALL_IMAGE_INFO_64 ? 8 : 4;
    return MM_OK;
}

/* dyld's list through an open task port.  dyld may be rewriting it: give
 * it a moment, a few times, before saying it is busy. */
static mm_status
read_dyld_list(const task_ref *t, mm_dyld_list *out, mm_err *err)
{
    uint64_t infos = 0;
    int pointer_size = 8;
    mm_status status = dyld_images_address(t, &infos, &pointer_size, err);

    for (int attempt = 0; status == MM_OK; attempt++) {
        status = mm_dyld_read_images(read_task_exact, (void *)t, infos,
                                     pointer_size, out, err);
        if (status == MM_OK || !out->busy || attempt + 1 >= DYLD_BUSY_TRIES) {
            break;
        }
        status = MM_OK;
        usleep(DYLD_BUSY_WAIT);
    }
    if (status != MM_OK && task_ended(t)) {
        status = process_gone(t, err);
    }
    return status;
}

/* The images of the target behind an open task port. */
static mm_status
read_images(const task_ref *t, mm_image_list *out, mm_err *err)
{
    mm_dyld_list dyld;
    mm_status status;

    mm_image_list_clear(out);
    mm_dyld_list_init(&dyld);
    status = read_dyld_list(t, &dyld, err);
    if (status == MM_OK) {
        status = mm_macho_images(read_task_exact, (void *)t, &dyld, out, err);
    }
    mm_dyld_list_free(&dyld);
    if (status == MM_OK && task_ended(t)) {
        /* It exited while its headers were read: they may be cut. */
        mm_image_list_clear(out);
        status = process_gone(t, err);
    }
    return status;
}

mm_status
mm_images(const mm_target *target, unsigned flags, mm_image_list *out,
          mm_err *err)
{
    task_ref t;
    mm_status status = open_task(target, "finding its images", &t, err);

    (void)flags; /* none yet */
    mm_image_list_clear(out);
    if (status == MM_OK) {
        status = read_images(&t, out, err);
        task_close(&t);
    }
    return status;
}
