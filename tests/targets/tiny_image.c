/* The small shared library tests/targets/many_images.c maps N copies of
 * (built with -shared -fPIC -nostdlib: no libc needed, nothing to
 * relocate but its own data).  A symbol of each kind a lookup meets. */

int tiny_value = 0x7117;
static int tiny_local = 0x10ca1;

int
tiny_function(int x)
{
    return x + tiny_value + tiny_local;
}
