/* libsyscall/wrappers/libproc/libproc.h (xnu-11417.101.15), for the
 * simulated Mach layer: the two calls backends/macos.c makes. */
#ifndef MACSIM_LIBPROC_H
#define MACSIM_LIBPROC_H

#include <stdint.h>
#include <sys/proc_info.h>
#include <sys/resource.h>

int proc_pidinfo(int pid, int flavor, uint64_t arg, void *buffer,
                 int buffersize);
int proc_pid_rusage(int pid, int flavor, rusage_info_t *buffer);

#endif /* MACSIM_LIBPROC_H */
