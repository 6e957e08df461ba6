/* Target library for tests/live/test_linker_scope.py, built twice
 * (libdupa.so with -DWHICH=0xa, libdupb.so with -DWHICH=0xb): both define
 * the function dup_symbol and the object dup_object, so which copy a
 * process uses depends on the order the dynamic linker searches them. */
int dup_object = WHICH;

int
dup_symbol(void)
{
    return WHICH;
}
