/* bsd/sys/proc.h (xnu-11417.101.15), for the simulated Mach layer: the
 * process states pbsi_status holds. */
#ifndef MACSIM_SYS_PROC_H
#define MACSIM_SYS_PROC_H

#define SIDL   1
#define SRUN   2
#define SSLEEP 3
#define SSTOP  4
#define SZOMB  5

#endif /* MACSIM_SYS_PROC_H */
