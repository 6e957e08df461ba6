/* What the macOS backend offers besides the interface of core/mm.h, for
 * the bindings on macOS only.  Kept out of the portable headers in
 * formats/, which must build everywhere and carry no backend's entry
 * points. */
#ifndef MM_BACKEND_MACOS_H
#define MM_BACKEND_MACOS_H

#include "core/mm.h"
#include "formats/dyld.h"

#ifdef __cplusplus
extern "C" {
#endif

/* dyld's list of the target's images (formats/dyld.h), read through its
 * task port: task_info(TASK_DYLD_INFO) gives where the list is, and a list
 * that dyld keeps changing (out->busy) is read again a few times, a
 * moment apart.  Needs the task port, as mm_read_memory() does: no
 * fallback, MM_ERR_ACCESS.  out must have been initialized. */
mm_status mm_macos_dyld_list(const mm_target *target, mm_dyld_list *out,
                             mm_err *err);

#ifdef __cplusplus
}
#endif

#endif /* MM_BACKEND_MACOS_H */
