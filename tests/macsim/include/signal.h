/* The C library's <signal.h>, with kill() answered by the simulated Mach
 * layer: the processes the backend asks about live in the scenario, and
 * a pid of the scenario may be a real process of this machine. */
#ifndef MACSIM_SIGNAL_H
#define MACSIM_SIGNAL_H

#include_next <signal.h>

int macsim_kill(pid_t pid, int sig);
#define kill(pid, sig) macsim_kill(pid, sig)

#endif /* MACSIM_SIGNAL_H */
