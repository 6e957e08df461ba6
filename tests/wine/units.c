/* The Windows backend's own helpers, checked one by one: the file is
 * compiled together with backends/windows.c (included), so its static
 * functions are called directly.  Prints "ok N" after N checks, or the
 * first that failed and exits 1.  The names Wine cannot produce (a file
 * whose name is not valid UTF-16, a \Device\ path) are checked here. */
#include "backends/windows.c"

static int checks;

static void
check(int ok, const char *what)
{
    checks++;
    if (!ok) {
        printf("failed: %s\n", what);
        exit(1);
    }
}

static void
check_wtf8(const wchar_t *text, size_t n, const char *want, size_t want_len,
           const char *what)
{
    size_t len = 0;
    char *got = wtf8_from_utf16(text, n, &len);

    check(got != NULL && len == want_len && memcmp(got, want, len) == 0, what);
    free(got);
}

static void
check_dos_name(drive_table *drives, const wchar_t *in, const wchar_t *want,
               const char *what)
{
    wchar_t buf[600];
    size_t n = wcslen(in), got;

    memcpy(buf, in, (n + 1) * sizeof(wchar_t));
    got = dos_name(drives, buf, n);
    check(got == wcslen(want) && memcmp(buf, want, got * sizeof(wchar_t)) == 0,
          what);
}

int
main(void)
{
    static const wchar_t pair[] = {L'a', 0xD83D, 0xDE00, L'b'};
    static const wchar_t lone_high[] = {L'x', 0xD800, L'y'};
    static const wchar_t lone_low[] = {0xDC01};
    static const wchar_t reversed[] = {0xDC00, 0xD800};
    static const wchar_t bmp[] = {0x00E9, 0x20AC};
    static drive_table drives;
    wchar_t device[MAX_PATH + 40];

    check_wtf8(L"plain", 5, "plain", 5, "ASCII is itself");
    check_wtf8(bmp, 2, "\xC3\xA9\xE2\x82\xAC", 5, "BMP characters");
    check_wtf8(pair, 4,
               "a\xF0\x9F\x98\x80"
               "b",
               6, "a surrogate pair");
    check_wtf8(lone_high, 3, "x\xED\xA0\x80y", 5,
               "a high surrogate alone: its 3 bytes");
    check_wtf8(lone_low, 1, "\xED\xB0\x81", 3, "a low surrogate alone");
    check_wtf8(reversed, 2, "\xED\xB0\x80\xED\xA0\x80", 6,
               "a low then a high surrogate: two lone ones");
    check_wtf8(L"", 0, "", 0, "nothing");

    check_dos_name(&drives, L"\\??\\C:\\windows\\x.dll", L"C:\\windows\\x.dll",
                   "the object manager's \\??\\ prefix");
    check_dos_name(&drives, L"\\Device\\Mup\\server\\share\\f.txt",
                   L"\\\\server\\share\\f.txt", "a file on a share");
    check_dos_name(&drives, L"\\Device\\Unknown0\\f", L"\\Device\\Unknown0\\f",
                   "a device no drive names stays as it is");
    /* Every drive the system has, through its own device name. */
    for (int i = 0; i < 26; i++) {
        wchar_t letter[3] = {(wchar_t)(L'A' + i), L':', 0};
        wchar_t want[8] = {(wchar_t)(L'A' + i), L':', L'\\', L'f', 0};
        if (QueryDosDeviceW(letter, device, MAX_PATH) == 0) {
            continue;
        }
        wcscat(device, L"\\f");
        check_dos_name(&drives, device, want, "a drive's device name");
    }
    /* A volume whose device name is a prefix of another's is not it. */
    if (QueryDosDeviceW(L"C:", device, MAX_PATH) != 0) {
        wcscat(device, L"0\\f");
        wchar_t copy[MAX_PATH + 40];
        wcscpy(copy, device);
        check_dos_name(&drives, device, copy, "only a whole device name");
    }
    printf("ok %d\n", checks);
    return 0;
}
