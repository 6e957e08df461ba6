/* A shared library for tests/live/test_diff.py (built with -shared -fPIC):
 * its .bss is far bigger than a page, so the loader maps it as anonymous
 * memory right after the library's data, which must move with the
 * library when it is loaded elsewhere. */

char diff_lib_bss[256 * 1024];
int diff_lib_value = 42;

char *
diff_lib_buffer(void)
{
    return diff_lib_bss;
}
