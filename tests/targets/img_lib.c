/* Shared library for tests/live/test_images.py (built with -shared -fPIC).
 *
 * lib_value is exported and only the library uses it, so its one address is
 * in the library; lib_copied is also used by img_main, whose PIE code may
 * copy-relocate it into the executable (then the program's address is the
 * executable's copy). */

int lib_value = 0x11b2a3c4;
int lib_copied = 0x0c09ed00;

int *
img_lib_value_address(void)
{
    return &lib_value;
}
