/* Shared library for tests/live/test_rooted_files.py (-shared -fPIC): a
 * symbol only its .symtab has (rooted_secret, static), one its .dynsym has
 * too, and a function that gives the first's address, so that the target
 * can print what memmaps must find.  -DSALT=N gives builds with different
 * build-ids; -DPAD=N moves rooted_secret, so that the symbols of another
 * build give another address. */

#ifndef SALT
#define SALT 0
#endif

#ifdef PAD
__attribute__((used)) static char rooted_pad[PAD] = {1};
#endif

static int rooted_secret = 0x7007ed00 + SALT;
int rooted_exported = 0x7007ed01;

int *
rooted_secret_address(void)
{
    return &rooted_secret;
}
