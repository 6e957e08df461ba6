/* The C library's <sys/resource.h>, and what Apple's (bsd/sys/resource.h,
 * xnu-11417.101.15) adds that backends/macos.c uses: rusage_info_v2, for
 * proc_pid_rusage(). */
#ifndef MACSIM_SYS_RESOURCE_H
#define MACSIM_SYS_RESOURCE_H

#include_next <sys/resource.h>

#include <stdint.h>

#define RUSAGE_INFO_V2 2
typedef void *rusage_info_t;

struct rusage_info_v2 {
    uint8_t ri_uuid[16];
    uint64_t ri_user_time;
    uint64_t ri_system_time;
    uint64_t ri_pkg_idle_wkups;
    uint64_t ri_interrupt_wkups;
    uint64_t ri_pageins;
    uint64_t ri_wired_size;
    uint64_t ri_resident_size;
    uint64_t ri_phys_footprint;
    uint64_t ri_proc_start_abstime;
    uint64_t ri_proc_exit_abstime;
    uint64_t ri_child_user_time;
    uint64_t ri_child_system_time;
    uint64_t ri_child_pkg_idle_wkups;
    uint64_t ri_child_interrupt_wkups;
    uint64_t ri_child_pageins;
    uint64_t ri_child_elapsed_abstime;
    uint64_t ri_diskio_bytesread;
    uint64_t ri_diskio_byteswritten;
};

_Static_assert(sizeof(struct rusage_info_v2) == 160 &&
                   __builtin_offsetof(struct rusage_info_v2,
                                      ri_phys_footprint) == 72,
               "rusage_info_v2 as xnu lays it out");

#endif /* MACSIM_SYS_RESOURCE_H */
