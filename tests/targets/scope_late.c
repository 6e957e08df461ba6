/* Target library for tests/live/test_linker_scope.py, dlopen()ed after
 * start-up (built as libscope_global.so and libscope_local.so).  Defines
 * late_symbol and dup_symbol: a library loaded later never takes
 * dup_symbol from the ones loaded at start-up. */
int
late_symbol(void)
{
    return WHICH;
}

int
dup_symbol(void)
{
    return WHICH;
}
