/* The Wine tests' target: it makes one of each thing the Windows backend
 * must find, prints where each is on one line, then waits.
 *
 *   child.exe DIR DLL [COUNT]
 *
 * DIR is a writable folder for its files, DLL the tests' exports.dll;
 * COUNT more separate reservations make a map long enough for a walk to be
 * caught in the middle.  The line is "ready" then key=value words (hex
 * addresses, decimal ids; a value of 0 is something the system refused,
 * with KEY_error=CODE beside it).  Then each line on stdin is a command:
 * "exit" ends it; end of input too.
 */
#define PSAPI_VERSION 2 /* the K32* functions of kernel32 */
#include <windows.h>
#include <psapi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

static void
word(const char *key, ULONG_PTR value)
{
    printf(" %s=0x%llx", key, (unsigned long long)value);
}

static void
decimal(const char *key, unsigned long value)
{
    printf(" %s=%lu", key, value);
}

/* The calling thread's TEB.  GCC 12 takes MinGW's read of the TEB through
 * the gs (fs) segment for a read of address 0 (GCC bug 105523): its
 * -Warray-bounds is wrong here, and only here. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Warray-bounds"
static __attribute__((noinline)) ULONG_PTR *
current_teb(void)
{
    return (ULONG_PTR *)NtCurrentTeb();
}
#pragma GCC diagnostic pop

static HANDLE thread_ready;
static HANDLE thread_stop;
static volatile ULONG_PTR thread_teb, thread_stack_base, thread_stack_limit;

static DWORD WINAPI
worker(LPVOID arg)
{
    NT_TIB *tib = (NT_TIB *)current_teb();

    (void)arg;
    thread_teb = (ULONG_PTR)tib->Self;
    thread_stack_base = (ULONG_PTR)tib->StackBase;
    thread_stack_limit = (ULONG_PTR)tib->StackLimit;
    SetEvent(thread_ready);
    WaitForSingleObject(thread_stop, INFINITE);
    return 0;
}

/* A file of size bytes at path, mapped whole with access (FILE_MAP_READ or
 * FILE_MAP_COPY); the view, or NULL with *error. */
static void *
map_file(const wchar_t *path, DWORD size, DWORD access, DWORD *error)
{
    HANDLE file, mapping;
    void *view = NULL;
    char fill[4096];
    DWORD written;

    *error = 0;
    file = CreateFileW(path, GENERIC_READ | GENERIC_WRITE, FILE_SHARE_READ,
                       NULL, CREATE_ALWAYS, FILE_ATTRIBUTE_NORMAL, NULL);
    if (file == INVALID_HANDLE_VALUE) {
        *error = GetLastError();
        return NULL;
    }
    memset(fill, 'm', sizeof(fill));
    for (DWORD done = 0; done < size; done += sizeof(fill)) {
        WriteFile(file, fill, sizeof(fill), &written, NULL);
    }
    mapping = CreateFileMappingW(
        file, NULL, access == FILE_MAP_COPY ? PAGE_WRITECOPY : PAGE_READONLY,
        0, 0, NULL);
    if (mapping != NULL) {
        view = MapViewOfFile(mapping, access, 0, 0, 0);
        if (view == NULL) {
            *error = GetLastError();
        }
        CloseHandle(mapping);
    }
    else {
        *error = GetLastError();
    }
    CloseHandle(file);
    return view;
}

int
main(int argc, char **argv)
{
    wchar_t dir[MAX_PATH], path[1024], long_dir[1024];
    SYSTEM_INFO info;
    DWORD error, tid;
    HMODULE dll;
    char *reserve;
    void *view, *cow, *shared, *long_view, *odd_view;
    HANDLE section, heap, thread;
    int extra = argc > 3 ? atoi(argv[3]) : 0;
    char line[256];

    if (argc < 3 ||
        MultiByteToWideChar(CP_ACP, 0, argv[1], -1, dir, MAX_PATH) == 0) {
        fprintf(stderr, "usage: child.exe DIR DLL [COUNT]\n");
        return 2;
    }
    GetSystemInfo(&info);
    setvbuf(stdout, NULL, _IONBF, 0);

    /* 1 MiB reserved; its first 16 pages committed, the third of them a
     * guard page and the fifth read-only: four pieces of one allocation
     * besides the reserved rest. */
    reserve = VirtualAlloc(NULL, 1 << 20, MEM_RESERVE, PAGE_NOACCESS);
    VirtualAlloc(reserve, 16 * info.dwPageSize, MEM_COMMIT, PAGE_READWRITE);
    memset(reserve, 1, 16 * info.dwPageSize);
    VirtualProtect(reserve + 2 * info.dwPageSize, info.dwPageSize,
                   PAGE_READWRITE | PAGE_GUARD, &error);
    VirtualProtect(reserve + 4 * info.dwPageSize, info.dwPageSize,
                   PAGE_READONLY, &error);

    swprintf(path, 1024, L"%ls\\view.bin", dir);
    view = map_file(path, 3 * 4096, FILE_MAP_READ, &error);
    swprintf(path, 1024, L"%ls\\copy.bin", dir);
    cow = map_file(path, 2 * 4096, FILE_MAP_COPY, &error);

    /* Shared memory backed by the paging file: no file name. */
    section = CreateFileMappingW(INVALID_HANDLE_VALUE, NULL, PAGE_READWRITE, 0,
                                 1 << 16, NULL);
    shared = section ? MapViewOfFile(section, FILE_MAP_WRITE, 0, 0, 0) : NULL;
    if (shared != NULL) {
        memset(shared, 2, 4096);
    }

    heap = HeapCreate(0, 1 << 16, 0);
    HeapAlloc(heap, 0, 1000);

    thread_ready = CreateEventW(NULL, TRUE, FALSE, NULL);
    thread_stop = CreateEventW(NULL, TRUE, FALSE, NULL);
    thread = CreateThread(NULL, 0, worker, NULL, 0, &tid);
    WaitForSingleObject(thread_ready, INFINITE);

    dll = LoadLibraryA(argv[2]);

    /* A path longer than MAX_PATH: folders of 50 characters, opened
     * through the \\?\ prefix, which lifts the limit. */
    swprintf(long_dir, 1024, L"\\\\?\\%ls", dir);
    for (int i = 0; i < 6; i++) {
        wcscat(long_dir,
               L"\\folder-of-fifty-characters-to-pass-max-path-xxxx");
        CreateDirectoryW(long_dir, NULL);
    }
    swprintf(path, 1024, L"%ls\\long.bin", long_dir);
    long_view = map_file(path, 4096, FILE_MAP_READ, &error);
    printf("ready");
    if (long_view == NULL) {
        decimal("long_view_error", error);
    }
    if (long_view != NULL) {
        /* What the system itself answers for the long name, so that the
         * tests can tell a backend that drops it from a system that does. */
        static wchar_t name[32768];
        if (GetMappedFileNameW(GetCurrentProcess(), long_view, name, 32768) ==
            0) {
            decimal("long_name_error", GetLastError());
        }
    }
    /* A name that is not valid UTF-16: a high surrogate with no low one. */
    swprintf(path, 1024, L"%ls\\odd-\xD800-name.bin", dir);
    odd_view = map_file(path, 4096, FILE_MAP_READ, &error);
    if (odd_view == NULL) {
        decimal("odd_view_error", error);
    }

    decimal("pid", GetCurrentProcessId());
    decimal("tid", GetCurrentThreadId());
    decimal("thread", tid);
    word("page", info.dwPageSize);
    /* TEB.ProcessEnvironmentBlock: the 13th pointer of either TEB. */
    word("peb", current_teb()[12]);
    /* PEB.NumberOfHeaps: how many heaps the PEB lists. */
    decimal("peb_heaps", *(DWORD *)(current_teb()[12] +
                                    (sizeof(void *) == 8 ? 0xE8 : 0x88)));
    decimal("heaps", GetProcessHeaps(0, NULL));
    word("teb", (ULONG_PTR)((NT_TIB *)current_teb())->Self);
    word("stack_base", (ULONG_PTR)((NT_TIB *)current_teb())->StackBase);
    word("stack_limit", (ULONG_PTR)((NT_TIB *)current_teb())->StackLimit);
    word("thread_teb", thread_teb);
    word("thread_stack_base", thread_stack_base);
    word("thread_stack_limit", thread_stack_limit);
    word("reserve", (ULONG_PTR)reserve);
    word("view", (ULONG_PTR)view);
    word("cow", (ULONG_PTR)cow);
    word("shared", (ULONG_PTR)shared);
    word("heap", (ULONG_PTR)heap);
    word("process_heap", (ULONG_PTR)GetProcessHeap());
    word("dll", (ULONG_PTR)dll);
    word("mm_test_add", (ULONG_PTR)GetProcAddress(dll, "mm_test_add"));
    word("mm_test_twice", (ULONG_PTR)GetProcAddress(dll, "mm_test_twice"));
    word("mm_test_data", (ULONG_PTR)GetProcAddress(dll, "mm_test_data"));
    word("exe", (ULONG_PTR)GetModuleHandleW(NULL));
    word("ntdll", (ULONG_PTR)GetModuleHandleW(L"ntdll.dll"));
    word("kernel32", (ULONG_PTR)GetModuleHandleW(L"kernel32.dll"));
    word("long_view", (ULONG_PTR)long_view);
    word("odd_view", (ULONG_PTR)odd_view);
    for (int i = 0; i < extra; i++) {
        VirtualAlloc(NULL, info.dwAllocationGranularity, MEM_RESERVE,
                     PAGE_NOACCESS);
    }
    printf("\n");

    while (fgets(line, sizeof(line), stdin) != NULL) {
        if (strncmp(line, "exit", 4) == 0) {
            break;
        }
    }
    SetEvent(thread_stop);
    WaitForSingleObject(thread, INFINITE);
    return 0;
}
