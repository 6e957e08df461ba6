/* The backend for systems that have none yet: every call says so, so that
 * the portable parts (parse(), the renderings) still work there. */
#include "core/mm.h"

const char *
mm_backend_name(void)
{
    return "unsupported";
}

static mm_status
unsupported(mm_err *err, const char *what)
{
    return mm_err_set(err, MM_ERR_UNSUPPORTED, 0,
                      "%s is not supported on this system yet", what);
}

mm_status
mm_regions(const mm_target *target, unsigned flags, mm_list *out, mm_err *err)
{
    (void)target;
    (void)flags;
    mm_list_clear(out);
    return unsupported(err, "reading a live process's memory map");
}

mm_status
mm_process_usage(const mm_target *target, unsigned flags, mm_list *out,
                 mm_err *err)
{
    return mm_regions(target, flags, out, err);
}

mm_status
mm_region_at(const mm_target *target, uint64_t addr, unsigned flags,
             mm_list *out, mm_err *err)
{
    (void)addr;
    return mm_regions(target, flags, out, err);
}

mm_status
mm_read_memory(const mm_target *target, uint64_t addr, void *buf, size_t len,
               size_t *got, mm_err *err)
{
    (void)target;
    (void)addr;
    (void)buf;
    (void)len;
    *got = 0;
    return unsupported(err, "reading another process's memory");
}

mm_status
mm_images(const mm_target *target, unsigned flags, mm_image_list *out,
          mm_err *err)
{
    (void)target;
    (void)flags;
    mm_image_list_clear(out);
    return unsupported(err, "listing a process's images");
}
