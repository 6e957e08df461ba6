/* Switches that make a backend take the path an older kernel or a missing
 * feature would make it take, so that the tests and benchmarks can check and
 * measure that path on a machine that has the newer one.  They travel in the
 * same flags word as the interface's own flags, above them; no user-facing
 * call sets them.
 */
#ifndef MM_SWITCHES_H
#define MM_SWITCHES_H

enum {
    /* mm_regions: names from the text only, without asking the kernel for
     * the exact bytes of ambiguous ones. */
    MM_SWITCH_TEXT_ONLY = 0x100,
    /* mm_process_usage: sum the regions even where the kernel has a
     * rollup. */
    MM_SWITCH_NO_ROLLUP = 0x200,
    /* mm_region_at: search the full listing instead of asking the kernel
     * for the one region. */
    MM_SWITCH_FROM_LISTING = 0x400,
    /* mm_images, mm_regions, mm_region_at: resolve the paths in a target's
     * root a component at a time, as where the kernel has no openat2. */
    MM_SWITCH_OPEN_WALK = 0x800,
};

#endif /* MM_SWITCHES_H */
