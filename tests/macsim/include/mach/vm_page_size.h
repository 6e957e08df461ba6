/* libsyscall/mach/mach/vm_page_size.h (xnu-11417.101.15), for the
 * simulated Mach layer: the kernel's page size, which the simulation sets
 * from its scenario. */
#ifndef MACSIM_MACH_VM_PAGE_SIZE_H
#define MACSIM_MACH_VM_PAGE_SIZE_H

#include <mach/mach.h>

extern vm_size_t vm_page_size;
extern vm_size_t vm_kernel_page_size;

#endif /* MACSIM_MACH_VM_PAGE_SIZE_H */
