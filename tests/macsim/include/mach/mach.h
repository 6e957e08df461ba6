/* The part of Apple's Mach interface that backends/macos.c uses, for the
 * simulated Mach layer (tests/macsim/macsim.c).  Each declaration is copied
 * from the xnu header named beside it (github.com/apple-oss-distributions/
 * xnu, xnu-11417.101.15): the same types, the same constants, the same
 * struct layouts (checked by the assertions at the end), and nothing the
 * backend does not use. */
#ifndef MACSIM_MACH_MACH_H
#define MACSIM_MACH_MACH_H

#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* osfmk/mach/i386/vm_types.h and osfmk/mach/arm/vm_types.h (LP64). */
typedef unsigned int natural_t; /* __darwin_natural_t */
typedef int integer_t;
typedef uintptr_t vm_size_t;
typedef uint64_t mach_vm_address_t;
typedef uint64_t mach_vm_size_t;

/* osfmk/mach/arm/boolean.h, osfmk/mach/i386/boolean.h (LP64). */
typedef int boolean_t;

/* osfmk/mach/kern_return.h */
typedef int kern_return_t;
#define KERN_SUCCESS            0
#define KERN_INVALID_ADDRESS    1
#define KERN_PROTECTION_FAILURE 2
#define KERN_NO_SPACE           3
#define KERN_INVALID_ARGUMENT   4
#define KERN_FAILURE            5
#define KERN_INVALID_NAME       15
#define KERN_INVALID_TASK       16
#define KERN_TERMINATED         37

/* osfmk/mach/message.h */
typedef natural_t mach_msg_type_number_t;
#define MACH_SEND_INVALID_DEST 0x10000003

/* osfmk/mach/port.h, osfmk/mach/mach_types.h (user space: every kernel
 * object is a port name). */
typedef natural_t mach_port_name_t;
typedef mach_port_name_t mach_port_t;
typedef mach_port_t task_t;
typedef mach_port_t task_name_t;
typedef mach_port_t vm_map_t;
typedef mach_port_t ipc_space_t;
#define MACH_PORT_NULL 0

/* osfmk/mach/vm_prot.h, osfmk/mach/vm_inherit.h, osfmk/mach/vm_behavior.h,
 * osfmk/mach/memory_object_types.h */
typedef int vm_prot_t;
#define VM_PROT_NONE    ((vm_prot_t)0x00)
#define VM_PROT_READ    ((vm_prot_t)0x01)
#define VM_PROT_WRITE   ((vm_prot_t)0x02)
#define VM_PROT_EXECUTE ((vm_prot_t)0x04)
typedef unsigned int vm_inherit_t;
typedef int vm_behavior_t;
typedef unsigned long long memory_object_offset_t;
typedef unsigned long long vm_object_id_t;

/* osfmk/mach/vm_statistics.h: the one tag the backend names itself. */
#define VM_MEMORY_STACK 30

/* osfmk/mach/vm_region.h, all under #pragma pack(push, 4). */
#pragma pack(push, 4)
typedef uint32_t vm32_object_id_t;
typedef int *vm_region_recurse_info_t;

#define SM_COW             1
#define SM_PRIVATE         2
#define SM_EMPTY           3
#define SM_SHARED          4
#define SM_TRUESHARED      5
#define SM_PRIVATE_ALIASED 6
#define SM_SHARED_ALIASED  7
#define SM_LARGE_PAGE      8

struct vm_region_submap_info_64 {
    vm_prot_t protection;
    vm_prot_t max_protection;
    vm_inherit_t inheritance;
    memory_object_offset_t offset;
    unsigned int user_tag;
    unsigned int pages_resident;
    unsigned int pages_shared_now_private;
    unsigned int pages_swapped_out;
    unsigned int pages_dirtied;
    unsigned int ref_count;
    unsigned short shadow_depth;
    unsigned char external_pager;
    unsigned char share_mode;
    boolean_t is_submap;
    vm_behavior_t behavior;
    vm32_object_id_t object_id;
    unsigned short user_wired_count;
    unsigned int pages_reusable;
    vm_object_id_t object_id_full;
};
typedef struct vm_region_submap_info_64 *vm_region_submap_info_64_t;
typedef struct vm_region_submap_info_64 vm_region_submap_info_data_64_t;

#define VM_REGION_SUBMAP_INFO_V2_SIZE (sizeof(vm_region_submap_info_data_64_t))
#define VM_REGION_SUBMAP_INFO_V1_SIZE                                         \
    (VM_REGION_SUBMAP_INFO_V2_SIZE - sizeof(vm_object_id_t))
#define VM_REGION_SUBMAP_INFO_V0_SIZE                                         \
    (VM_REGION_SUBMAP_INFO_V1_SIZE - sizeof(unsigned int))
#define VM_REGION_SUBMAP_INFO_V2_COUNT_64                                     \
    ((mach_msg_type_number_t)(VM_REGION_SUBMAP_INFO_V2_SIZE /                 \
                              sizeof(natural_t)))
#define VM_REGION_SUBMAP_INFO_V1_COUNT_64                                     \
    ((mach_msg_type_number_t)(VM_REGION_SUBMAP_INFO_V1_SIZE /                 \
                              sizeof(natural_t)))
#define VM_REGION_SUBMAP_INFO_V0_COUNT_64                                     \
    ((mach_msg_type_number_t)(VM_REGION_SUBMAP_INFO_V0_SIZE /                 \
                              sizeof(natural_t)))
#define VM_REGION_SUBMAP_INFO_COUNT_64 VM_REGION_SUBMAP_INFO_V2_COUNT_64
#pragma pack(pop)

/* osfmk/mach/task_info.h, all under #pragma pack(push, 4). */
#pragma pack(push, 4)
typedef natural_t task_flavor_t;
typedef integer_t *task_info_t;

#define TASK_DYLD_INFO 17
struct task_dyld_info {
    mach_vm_address_t all_image_info_addr;
    mach_vm_size_t all_image_info_size;
    integer_t all_image_info_format;
};
typedef struct task_dyld_info task_dyld_info_data_t;
#define TASK_DYLD_INFO_COUNT                                                  \
    (sizeof(task_dyld_info_data_t) / sizeof(natural_t))
#define TASK_DYLD_ALL_IMAGE_INFO_32 0
#define TASK_DYLD_ALL_IMAGE_INFO_64 1

#define TASK_VM_INFO 22
struct task_vm_info {
    mach_vm_size_t virtual_size;
    integer_t region_count;
    integer_t page_size;
    mach_vm_size_t resident_size;
    mach_vm_size_t resident_size_peak;
    mach_vm_size_t device;
    mach_vm_size_t device_peak;
    mach_vm_size_t internal;
    mach_vm_size_t internal_peak;
    mach_vm_size_t external;
    mach_vm_size_t external_peak;
    mach_vm_size_t reusable;
    mach_vm_size_t reusable_peak;
    mach_vm_size_t purgeable_volatile_pmap;
    mach_vm_size_t purgeable_volatile_resident;
    mach_vm_size_t purgeable_volatile_virtual;
    mach_vm_size_t compressed;
    mach_vm_size_t compressed_peak;
    mach_vm_size_t compressed_lifetime;
    /* rev1 */
    mach_vm_size_t phys_footprint;
    /* rev2 */
    mach_vm_address_t min_address;
    mach_vm_address_t max_address;
    /* rev3 */
    int64_t ledger_phys_footprint_peak;
    int64_t ledger_purgeable_nonvolatile;
    int64_t ledger_purgeable_novolatile_compressed;
    int64_t ledger_purgeable_volatile;
    int64_t ledger_purgeable_volatile_compressed;
    int64_t ledger_tag_network_nonvolatile;
    int64_t ledger_tag_network_nonvolatile_compressed;
    int64_t ledger_tag_network_volatile;
    int64_t ledger_tag_network_volatile_compressed;
    int64_t ledger_tag_media_footprint;
    int64_t ledger_tag_media_footprint_compressed;
    int64_t ledger_tag_media_nofootprint;
    int64_t ledger_tag_media_nofootprint_compressed;
    int64_t ledger_tag_graphics_footprint;
    int64_t ledger_tag_graphics_footprint_compressed;
    int64_t ledger_tag_graphics_nofootprint;
    int64_t ledger_tag_graphics_nofootprint_compressed;
    int64_t ledger_tag_neural_footprint;
    int64_t ledger_tag_neural_footprint_compressed;
    int64_t ledger_tag_neural_nofootprint;
    int64_t ledger_tag_neural_nofootprint_compressed;
    /* rev4 */
    uint64_t limit_bytes_remaining;
    /* rev5 */
    integer_t decompressions;
    /* rev6 */
    int64_t ledger_swapins;
    /* rev7 */
    int64_t ledger_tag_neural_nofootprint_total;
    int64_t ledger_tag_neural_nofootprint_peak;
};
typedef struct task_vm_info task_vm_info_data_t;
#define TASK_VM_INFO_COUNT                                                    \
    ((mach_msg_type_number_t)(sizeof(task_vm_info_data_t) / sizeof(natural_t)))
#define TASK_VM_INFO_REV7_COUNT TASK_VM_INFO_COUNT
#define TASK_VM_INFO_REV6_COUNT                                               \
    ((mach_msg_type_number_t)(TASK_VM_INFO_REV7_COUNT - 4))
#define TASK_VM_INFO_REV5_COUNT                                               \
    ((mach_msg_type_number_t)(TASK_VM_INFO_REV6_COUNT - 2))
#define TASK_VM_INFO_REV4_COUNT                                               \
    ((mach_msg_type_number_t)(TASK_VM_INFO_REV5_COUNT - 1))
#define TASK_VM_INFO_REV3_COUNT                                               \
    ((mach_msg_type_number_t)(TASK_VM_INFO_REV4_COUNT - 2))
#define TASK_VM_INFO_REV2_COUNT                                               \
    ((mach_msg_type_number_t)(TASK_VM_INFO_REV3_COUNT - 42))
#define TASK_VM_INFO_REV1_COUNT                                               \
    ((mach_msg_type_number_t)(TASK_VM_INFO_REV2_COUNT - 4))
#define TASK_VM_INFO_REV0_COUNT                                               \
    ((mach_msg_type_number_t)(TASK_VM_INFO_REV1_COUNT - 2))
#pragma pack(pop)

/* libsyscall/mach/mach/mach_init.h */
extern mach_port_t mach_task_self_;
#define mach_task_self() mach_task_self_

/* osfmk/mach/mach_traps.h */
extern kern_return_t task_for_pid(mach_port_name_t target_tport, int pid,
                                  mach_port_name_t *t);
extern kern_return_t pid_for_task(mach_port_name_t t, int *x);

/* osfmk/mach/mach_port.defs (the MIG stub in libsystem_kernel). */
extern kern_return_t mach_port_deallocate(ipc_space_t task,
                                          mach_port_name_t name);

/* osfmk/mach/task.defs */
extern kern_return_t task_info(task_name_t target_task, task_flavor_t flavor,
                               task_info_t task_info_out,
                               mach_msg_type_number_t *task_info_outCnt);

/* libsyscall/mach/mach/mach_error.h */
typedef kern_return_t mach_error_t;
char *mach_error_string(mach_error_t error_value);

/* The sizes and offsets of Apple's layouts, as xnu's headers give them for
 * LP64 (vm_region_submap_info_64 is packed to 4: offset right after three
 * ints, no padding before it). */
_Static_assert(sizeof(struct vm_region_submap_info_64) == 76,
               "vm_region_submap_info_64 is 76 bytes");
_Static_assert(VM_REGION_SUBMAP_INFO_COUNT_64 == 19 &&
                   VM_REGION_SUBMAP_INFO_V1_COUNT_64 == 17 &&
                   VM_REGION_SUBMAP_INFO_V0_COUNT_64 == 16,
               "the three revisions' counts");
_Static_assert(
    __builtin_offsetof(struct vm_region_submap_info_64, offset) == 12 &&
        __builtin_offsetof(struct vm_region_submap_info_64, shadow_depth) ==
            44 &&
        __builtin_offsetof(struct vm_region_submap_info_64, is_submap) == 48 &&
        __builtin_offsetof(struct vm_region_submap_info_64, object_id) == 56 &&
        __builtin_offsetof(struct vm_region_submap_info_64, pages_reusable) ==
            64 &&
        __builtin_offsetof(struct vm_region_submap_info_64, object_id_full) ==
            68,
    "vm_region_submap_info_64's fields where xnu has them");
_Static_assert(sizeof(task_dyld_info_data_t) == 20 &&
                   TASK_DYLD_INFO_COUNT == 5,
               "task_dyld_info is 20 bytes, packed to 4");
_Static_assert(TASK_VM_INFO_COUNT == 93 && TASK_VM_INFO_REV1_COUNT == 38 &&
                   TASK_VM_INFO_REV0_COUNT == 36,
               "task_vm_info's revisions");
_Static_assert(__builtin_offsetof(struct task_vm_info, page_size) == 12 &&
                   __builtin_offsetof(struct task_vm_info, phys_footprint) ==
                       144,
               "task_vm_info's fields where xnu has them");

#ifdef __cplusplus
}
#endif

#endif /* MACSIM_MACH_MACH_H */
