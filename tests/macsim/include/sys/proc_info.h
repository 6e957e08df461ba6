/* bsd/sys/proc_info.h (xnu-11417.101.15), for the simulated Mach layer:
 * the flavors of proc_pidinfo() that backends/macos.c asks for and the
 * records they fill, with Apple's layout (natural alignment; checked
 * below). */
#ifndef MACSIM_SYS_PROC_INFO_H
#define MACSIM_SYS_PROC_INFO_H

#include <stdint.h>
#include <sys/types.h>

/* bsd/sys/param.h, bsd/sys/syslimits.h */
#define MACSIM_MAXPATHLEN 1024
#define MACSIM_MAXCOMLEN  16

/* bsd/sys/_types/_fsid_t.h */
typedef struct macsim_fsid {
    int32_t val[2];
} macsim_fsid_t;

#define PROC_PIDREGIONINFO     7
#define PROC_PIDREGIONPATHINFO 8
#define PROC_PIDT_SHORTBSDINFO 13

/* pri_flags */
#define PROC_REGION_SUBMAP 1
#define PROC_REGION_SHARED 2

struct proc_regioninfo {
    uint32_t pri_protection;
    uint32_t pri_max_protection;
    uint32_t pri_inheritance;
    uint32_t pri_flags;
    uint64_t pri_offset;
    uint32_t pri_behavior;
    uint32_t pri_user_wired_count;
    uint32_t pri_user_tag;
    uint32_t pri_pages_resident;
    uint32_t pri_pages_shared_now_private;
    uint32_t pri_pages_swapped_out;
    uint32_t pri_pages_dirtied;
    uint32_t pri_ref_count;
    uint32_t pri_shadow_depth;
    uint32_t pri_share_mode;
    uint32_t pri_private_pages_resident;
    uint32_t pri_shared_pages_resident;
    uint32_t pri_obj_id;
    uint32_t pri_depth;
    uint64_t pri_address;
    uint64_t pri_size;
};

struct vinfo_stat {
    uint32_t vst_dev;
    uint16_t vst_mode;
    uint16_t vst_nlink;
    uint64_t vst_ino;
    uint32_t vst_uid; /* uid_t */
    uint32_t vst_gid; /* gid_t */
    int64_t vst_atime;
    int64_t vst_atimensec;
    int64_t vst_mtime;
    int64_t vst_mtimensec;
    int64_t vst_ctime;
    int64_t vst_ctimensec;
    int64_t vst_birthtime;
    int64_t vst_birthtimensec;
    int64_t vst_size; /* off_t */
    int64_t vst_blocks;
    int32_t vst_blksize;
    uint32_t vst_flags;
    uint32_t vst_gen;
    uint32_t vst_rdev;
    int64_t vst_qspare[2];
};

struct vnode_info {
    struct vinfo_stat vi_stat;
    int vi_type;
    int vi_pad;
    macsim_fsid_t vi_fsid;
};

struct vnode_info_path {
    struct vnode_info vip_vi;
    char vip_path[MACSIM_MAXPATHLEN];
};

struct proc_regionwithpathinfo {
    struct proc_regioninfo prp_prinfo;
    struct vnode_info_path prp_vip;
};

struct proc_bsdshortinfo {
    uint32_t pbsi_pid;
    uint32_t pbsi_ppid;
    uint32_t pbsi_pgid;
    uint32_t pbsi_status;
    char pbsi_comm[MACSIM_MAXCOMLEN];
    uint32_t pbsi_flags;
    uint32_t pbsi_uid;
    uint32_t pbsi_gid;
    uint32_t pbsi_ruid;
    uint32_t pbsi_rgid;
    uint32_t pbsi_svuid;
    uint32_t pbsi_svgid;
    uint32_t pbsi_rfu;
};

_Static_assert(sizeof(struct proc_regioninfo) == 96 &&
                   __builtin_offsetof(struct proc_regioninfo, pri_address) ==
                       80,
               "proc_regioninfo as xnu lays it out");
_Static_assert(sizeof(struct vinfo_stat) == 136 &&
                   sizeof(struct vnode_info) == 152 &&
                   sizeof(struct vnode_info_path) == 1176,
               "vnode_info_path as xnu lays it out");
_Static_assert(sizeof(struct proc_regionwithpathinfo) == 1272,
               "PROC_PIDREGIONPATHINFO_SIZE");
_Static_assert(sizeof(struct proc_bsdshortinfo) == 64,
               "PROC_PIDT_SHORTBSDINFO_SIZE");

#endif /* MACSIM_SYS_PROC_INFO_H */
