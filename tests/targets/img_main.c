/* Target for tests/live/test_images.py: a PIE executable linked against
 * libmmimg.so (img_lib.c).  Prints its own view of its variables and waits
 * until stdin is closed:
 *
 *   ready PID ONLY_IN_SYMTAB EXPORTED_VALUE EXPORTED_FUNCTION LIB_VALUE LIB_COPIED
 *
 * only_in_symtab is local (only .symtab names it); exported_value and
 * exported_function are in .dynsym too (link with -rdynamic); tls_counter is
 * thread-local (no single address). */
#include <stdio.h>
#include <unistd.h>

extern int *img_lib_value_address(void);
extern int lib_copied;

static int only_in_symtab = 0x5eed1234;
int exported_value = 0x0ddba11;
__thread int tls_counter = 7;

int
exported_function(int x)
{
    return x * 3 + only_in_symtab + exported_value + tls_counter++;
}

int
main(void)
{
    printf("ready %d %p %p %p %p %p\n", (int)getpid(), (void *)&only_in_symtab,
           (void *)&exported_value, (void *)&exported_function,
           (void *)img_lib_value_address(), (void *)&lib_copied);
    fflush(stdout);
    char buf[64];
    while (read(0, buf, sizeof buf) > 0)
        ;
    return exported_function(lib_copied) == 0;
}
