/* The C library's <unistd.h>, with the identity of the simulated process
 * (its pid, its effective user) and its sleeps answered by the simulated
 * Mach layer, so that a scenario decides whether the backend reads itself
 * or another process, as root or not, and a wait for dyld costs nothing. */
#ifndef MACSIM_UNISTD_H
#define MACSIM_UNISTD_H

#include_next <unistd.h>

pid_t macsim_getpid(void);
uid_t macsim_geteuid(void);
int macsim_usleep(unsigned int usec);
#define getpid()     macsim_getpid()
#define geteuid()    macsim_geteuid()
#define usleep(usec) macsim_usleep(usec)

#endif /* MACSIM_UNISTD_H */
