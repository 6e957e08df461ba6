/* The Windows backend: a VirtualQueryEx walk of the user address space,
 * named by GetMappedFileNameW and labelled from the PEB and the TEBs.
 *
 * Every range VirtualQueryEx reports that is not MEM_FREE is a region:
 * reserved ranges too (tag "reserved", no access), since address space that
 * is reserved cannot be used by anything else and is what a person looking
 * for where memory went wants to see.  Each region keeps the AllocationBase
 * of the VirtualAlloc or MapViewOfFile it is a piece of, so that the pieces
 * VirtualProtect split can be put together again.
 *
 * The labels (heaps, stacks, PEB, TEBs) come from structures the system
 * keeps in the target's memory and that are read, never walked: the PEB's
 * list of heap handles (a heap handle is the base of the heap's first
 * segment) and each thread's TEB, whose NT_TIB says where its stack is.
 * The target is never suspended and its heaps are never walked (HeapWalk
 * and Toolhelp's Heap32First take the heap's lock, and Toolhelp's heap
 * walk is slow and, as Cygwin's /proc/PID/maps found, easy to get wrong),
 * so a listing is a snapshot that may be torn while the target maps and
 * unmaps; mm_list_normalize() cleans up what overlaps.
 *
 * Names are UTF-16 on Windows and stored as WTF-8: UTF-8 that encodes an
 * unpaired surrogate as a 3-byte sequence, so a file name that is not valid
 * UTF-16 (NTFS allows that) survives, and Python's "surrogatepass" gets the
 * same code units back.
 *
 * Handles are closed on every path; GetCurrentProcess() is a pseudo handle
 * that is never closed.
 *
 * This file is compiled only on Windows; the cross-compile tests build it
 * with mingw-w64 and zig, and tests/wine/ runs it under Wine.
 */
#ifndef PSAPI_VERSION
#define PSAPI_VERSION 2 /* the K32* functions of kernel32: no psapi.dll */
#endif
#define WIN32_LEAN_AND_MEAN
#include <windows.h>
#include <psapi.h>
#include <tlhelp32.h>

#include "core/mm.h"
#include "core/reader.h"
#include "core/switches.h"
#include "formats/pe.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* GetMappedFileNameW and GetModuleFileNameExW take their buffer's size in
 * characters (psutil#2934 passed bytes and overflowed its stack).  A path
 * with the \\?\ prefix may be up to 32767 characters; the buffer grows up
 * to this many, which holds the longest with its device prefix. */
#define NAME_CHARS_FIRST 1024
#define NAME_CHARS_MAX   65536

/* Entries per QueryWorkingSetEx call: 64 KiB of records, 16 MiB of pages. */
#define WORKING_SET_BATCH 4096

/* A read that fails whole is retried in pieces of this size, so that a
 * range running into unmapped memory yields what comes before it.  Every
 * Windows page size is a multiple of it. */
#define READ_PIECE 4096

/* No process has this many heaps or threads; the bounds only keep a torn or
 * hostile PEB from costing more than a fixed budget. */
#define MAX_HEAPS 4096

/* How often the regions are checked for a cancel request. */
#define QUERIES_PER_CHECK 256

const char *
mm_backend_name(void)
{
    return "windows";
}

/* ---- ntdll, found at run time: it has no import library in every
 * toolchain, and the calls used are the documented-by-use ones every
 * debugger and Process Explorer rely on ---- */

typedef LONG(WINAPI *query_information_fn)(HANDLE, ULONG, PVOID, ULONG,
                                           PULONG);
typedef BOOL(WINAPI *is_wow64_process_fn)(HANDLE, PBOOL);
typedef BOOL(WINAPI *get_process_information_fn)(HANDLE, int, LPVOID, DWORD);

#define PROCESS_BASIC_INFORMATION_CLASS 0
#define PROCESS_WOW64_INFORMATION_CLASS 26
#define THREAD_BASIC_INFORMATION_CLASS  0
#define PROCESS_PROTECTION_LEVEL_CLASS  7 /* GetProcessInformation's */
#define PROTECTION_LEVEL_NONE_VALUE     0xFFFFFFFEu

/* The layouts ntdll fills (winternl.h has them only in part). */
typedef struct basic_process_info {
    LONG exit_status;
    PVOID peb;
    ULONG_PTR affinity;
    LONG base_priority;
    ULONG_PTR pid;
    ULONG_PTR parent_pid;
} basic_process_info;

typedef struct basic_thread_info {
    LONG exit_status;
    PVOID teb;
    HANDLE client_process;
    HANDLE client_thread;
    ULONG_PTR affinity;
    LONG priority;
    LONG base_priority;
} basic_thread_info;

/* A function of a system DLL that is always loaded (ntdll, kernel32), or
 * NULL where this version of the system lacks it.  The cast goes through
 * a function type that GCC takes as "any function". */
static void (*system_function(const wchar_t *module, const char *name))(void)
{
    HMODULE handle = GetModuleHandleW(module);

    if (handle == NULL) {
        return NULL;
    }
    return (void (*)(void))GetProcAddress(handle, name);
}

static query_information_fn
query_process_fn(void)
{
    return (query_information_fn)system_function(L"ntdll.dll",
                                                 "NtQueryInformationProcess");
}

static query_information_fn
query_thread_fn(void)
{
    return (query_information_fn)system_function(L"ntdll.dll",
                                                 "NtQueryInformationThread");
}

/* ---- the process ---- */

typedef struct proc_ref {
    long asked;    /* the pid as given, for messages */
    DWORD pid;     /* the real pid: GetCurrentProcessId() for the caller */
    HANDLE handle; /* NULL while none was had */
    int self;      /* handle is GetCurrentProcess(): not ours to close */
} proc_ref;

/* Why OpenProcess() refused a process that exists, as a sentence's end:
 * the process is protected (not even SeDebugPrivilege opens it for
 * reading), belongs to another user (reading it needs SeDebugPrivilege), or
 * runs at a higher integrity level than the reader. */
static void
access_reason(DWORD pid, char *why, size_t size)
{
    HANDLE limited =
        OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, FALSE, pid);
    get_process_information_fn get_information;
    HANDLE token = NULL, own_token = NULL;
    union {
        TOKEN_USER user;
        char room[256];
    } theirs, ours;
    DWORD level = PROTECTION_LEVEL_NONE_VALUE, len = 0;

    if (limited == NULL) {
        snprintf(why, size,
                 "not even PROCESS_QUERY_LIMITED_INFORMATION was granted: a "
                 "system process, or another user's process (reading that "
                 "needs SeDebugPrivilege, which an elevated administrator "
                 "has)");
        return;
    }
    get_information = (get_process_information_fn)system_function(
        L"kernel32.dll", "GetProcessInformation");
    if (get_information != NULL &&
        get_information(limited, PROCESS_PROTECTION_LEVEL_CLASS, &level,
                        sizeof(level)) &&
        level != PROTECTION_LEVEL_NONE_VALUE) {
        snprintf(why, size,
                 "it is a protected process (protection level %lu): not even "
                 "SeDebugPrivilege opens it for reading",
                 (unsigned long)level);
        CloseHandle(limited);
        return;
    }
    if (!OpenProcessToken(limited, TOKEN_QUERY, &token) ||
        !GetTokenInformation(token, TokenUser, &theirs, sizeof(theirs),
                             &len) ||
        !OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &own_token) ||
        !GetTokenInformation(own_token, TokenUser, &ours, sizeof(ours),
                             &len) ||
        !EqualSid(theirs.user.User.Sid, ours.user.User.Sid)) {
        snprintf(why, size,
                 "it belongs to another user: reading another user's process "
                 "needs SeDebugPrivilege, which an elevated administrator "
                 "has");
    }
    else {
        snprintf(why, size,
                 "it runs at a higher integrity level than this process (it "
                 "is elevated): reading it needs an elevated reader or "
                 "SeDebugPrivilege");
    }
    if (token != NULL) {
        CloseHandle(token);
    }
    if (own_token != NULL) {
        CloseHandle(own_token);
    }
    CloseHandle(limited);
}

static mm_status
process_gone(const proc_ref *p, mm_err *err)
{
    return mm_err_set(err, MM_ERR_NO_PROCESS, ESRCH,
                      "process %ld does not exist (or exited while being "
                      "read)",
                      p->asked);
}

/* Opens the process for the queries and reads every call here makes;
 * `what` says what for, in the error. */
static mm_status
proc_open(const mm_target *target, const char *what, proc_ref *p, mm_err *err)
{
    DWORD error;
    char why[320];

    p->asked = target->pid;
    p->handle = NULL;
    /* long is 32 bits on Windows (LLP64): every pid fits a DWORD. */
    p->self = target->pid < 0 || (DWORD)target->pid == GetCurrentProcessId();
    if (p->self) {
        p->pid = GetCurrentProcessId();
        p->handle = GetCurrentProcess();
        return MM_OK;
    }
    if (target->pid == 0) {
        /* 0 is the System Idle Process, which has no user address space;
         * the callers take it for a process that does not exist. */
        p->pid = 0;
        return process_gone(p, err);
    }
    p->pid = (DWORD)target->pid;
    /* SYNCHRONIZE lets an exit be seen without asking for its exit code
     * (a process may exit with STILL_ACTIVE's value); it is asked for
     * separately so that a process that grants the rest is still read. */
    p->handle =
        OpenProcess(PROCESS_QUERY_INFORMATION | PROCESS_VM_READ | SYNCHRONIZE,
                    FALSE, p->pid);
    if (p->handle == NULL && GetLastError() == ERROR_ACCESS_DENIED) {
        p->handle = OpenProcess(PROCESS_QUERY_INFORMATION | PROCESS_VM_READ,
                                FALSE, p->pid);
    }
    if (p->handle != NULL) {
        return MM_OK;
    }
    error = GetLastError();
    if (error == ERROR_INVALID_PARAMETER) {
        return process_gone(p, err);
    }
    if (error == ERROR_ACCESS_DENIED) {
        access_reason(p->pid, why, sizeof(why));
        return mm_err_set(err, MM_ERR_ACCESS, EACCES,
                          "access denied to process %ld: %s needs "
                          "PROCESS_QUERY_INFORMATION and PROCESS_VM_READ, "
                          "and OpenProcess() refused them: %s",
                          p->asked, what, why);
    }
    return mm_err_set(err, MM_ERR_OS, 0,
                      "OpenProcess() failed for process %ld (error %lu)",
                      p->asked, (unsigned long)error);
}

static void
proc_close(proc_ref *p)
{
    if (!p->self && p->handle != NULL) {
        CloseHandle(p->handle);
    }
    p->handle = NULL;
}

/* Whether the process has exited: what was read of it may be cut short. */
static int
proc_ended(const proc_ref *p)
{
    DWORD code = 0;

    if (p->self) {
        return 0;
    }
    if (WaitForSingleObject(p->handle, 0) == WAIT_OBJECT_0) {
        return 1;
    }
    return GetExitCodeProcess(p->handle, &code) && code != STILL_ACTIVE;
}

/* A call on the process failed: it exited, or something else. */
static mm_status
call_failed(const proc_ref *p, const char *call, DWORD error, mm_err *err)
{
    if (proc_ended(p)) {
        return process_gone(p, err);
    }
    if (error == ERROR_ACCESS_DENIED) {
        return mm_err_set(err, MM_ERR_ACCESS, EACCES,
                          "access denied to process %ld: %s refused (error "
                          "%lu)",
                          p->asked, call, (unsigned long)error);
    }
    return mm_err_set(err, MM_ERR_OS, 0,
                      "%s failed for process %ld (error %lu)", call, p->asked,
                      (unsigned long)error);
}

/* Reads exactly len bytes of the target at addr; 0, or -1. */
static int
read_exact(const proc_ref *p, uint64_t addr, void *buf, size_t len)
{
    SIZE_T got = 0;

    if (addr > UINTPTR_MAX || len > UINTPTR_MAX - addr) {
        return -1;
    }
    if (!ReadProcessMemory(p->handle, (LPCVOID)(uintptr_t)addr, buf, len,
                           &got)) {
        return -1;
    }
    return got == len ? 0 : -1;
}

/* A pointer of the target's, read as 4 or 8 bytes. */
static int
read_pointer(const proc_ref *p, uint64_t addr, int size, uint64_t *value)
{
    uint32_t small = 0;

    *value = 0;
    if (size == 8) {
        return read_exact(p, addr, value, 8);
    }
    if (read_exact(p, addr, &small, 4) != 0) {
        return -1;
    }
    *value = small;
    return 0;
}

/* ---- names: UTF-16 to WTF-8, devices to drive letters ---- */

/* The WTF-8 form of n UTF-16 code units, malloc'd (*len bytes), or NULL
 * when out of memory.  A surrogate without its partner is encoded as the
 * 3-byte sequence of its value, as WTF-8 does. */
static char *
wtf8_from_utf16(const wchar_t *text, size_t n, size_t *len)
{
    char *out = malloc(n * 3 + 1);
    size_t used = 0;

    if (out == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        uint32_t c = text[i];

        if (c >= 0xD800 && c <= 0xDBFF && i + 1 < n && text[i + 1] >= 0xDC00 &&
            text[i + 1] <= 0xDFFF) {
            c = 0x10000 + ((c - 0xD800) << 10) + (text[i + 1] - 0xDC00);
            i++;
        }
        if (c < 0x80) {
            out[used++] = (char)c;
        }
        else if (c < 0x800) {
            out[used++] = (char)(0xC0 | (c >> 6));
            out[used++] = (char)(0x80 | (c & 0x3F));
        }
        else if (c < 0x10000) {
            out[used++] = (char)(0xE0 | (c >> 12));
            out[used++] = (char)(0x80 | ((c >> 6) & 0x3F));
            out[used++] = (char)(0x80 | (c & 0x3F));
        }
        else {
            out[used++] = (char)(0xF0 | (c >> 18));
            out[used++] = (char)(0x80 | ((c >> 12) & 0x3F));
            out[used++] = (char)(0x80 | ((c >> 6) & 0x3F));
            out[used++] = (char)(0x80 | (c & 0x3F));
        }
    }
    *len = used;
    return out;
}

/* The NT device name behind each drive letter ("C:" ->
 * "\Device\HarddiskVolume3"), asked once per call and only when a name
 * needs it. */
typedef struct drive_table {
    int loaded;
    wchar_t device[26][MAX_PATH];
    size_t device_len[26];
} drive_table;

static void
drive_table_load(drive_table *drives)
{
    drives->loaded = 1;
    for (int i = 0; i < 26; i++) {
        wchar_t letter[3] = {(wchar_t)(L'A' + i), L':', 0};
        DWORD n = QueryDosDeviceW(letter, drives->device[i], MAX_PATH);

        /* The answer is a list of strings: the first is the device. */
        drives->device_len[i] =
            n > 0 ? wcsnlen(drives->device[i], MAX_PATH) : 0;
    }
}

/* A name as the system gives it (a \Device\ path) made into one a person
 * and the file functions know (C:\...), in place in name (room for n + 2
 * characters); returns its new length. */
static size_t
dos_name(drive_table *drives, wchar_t *name, size_t n)
{
    static const wchar_t mup[] = L"\\Device\\Mup\\";
    static const wchar_t nt_prefix[] = L"\\??\\";
    size_t mup_len = sizeof(mup) / sizeof(mup[0]) - 1;
    size_t nt_len = sizeof(nt_prefix) / sizeof(nt_prefix[0]) - 1;

    if (n >= nt_len &&
        memcmp(name, nt_prefix, nt_len * sizeof(wchar_t)) == 0) {
        /* The object manager's spelling of a DOS path. */
        memmove(name, name + nt_len, (n - nt_len) * sizeof(wchar_t));
        return n - nt_len;
    }
    if (n > mup_len && memcmp(name, mup, mup_len * sizeof(wchar_t)) == 0) {
        /* A file on a network share: \\server\share\... */
        memmove(name + 2, name + mup_len, (n - mup_len) * sizeof(wchar_t));
        name[0] = L'\\';
        name[1] = L'\\';
        return n - mup_len + 2;
    }
    if (!drives->loaded) {
        drive_table_load(drives);
    }
    for (int i = 0; i < 26; i++) {
        size_t len = drives->device_len[i];

        if (len > 0 && n > len && name[len] == L'\\' &&
            memcmp(name, drives->device[i], len * sizeof(wchar_t)) == 0) {
            name[0] = (wchar_t)(L'A' + i);
            name[1] = L':';
            memmove(name + 2, name + len, (n - len) * sizeof(wchar_t));
            return n - len + 2;
        }
    }
    return n;
}

/* Asks a name with a buffer that grows while the answer may have been cut
 * (GetMappedFileNameW and GetModuleFileNameExW return the size they were
 * given, or one less, when they truncate).  Returns the malloc'd name with
 * room for 2 more characters and *len, NULL with *len 0 when the system
 * has none, NULL with *nomem set when out of memory. */
typedef DWORD (*name_call)(HANDLE process, uint64_t addr, wchar_t *buf,
                           DWORD chars);

static DWORD
mapped_file_name(HANDLE process, uint64_t addr, wchar_t *buf, DWORD chars)
{
    return GetMappedFileNameW(process, (LPVOID)(uintptr_t)addr, buf, chars);
}

static DWORD
module_file_name(HANDLE process, uint64_t addr, wchar_t *buf, DWORD chars)
{
    return GetModuleFileNameExW(process, (HMODULE)(uintptr_t)addr, buf, chars);
}

static wchar_t *
ask_name(HANDLE process, uint64_t addr, name_call call, size_t *len,
         int *nomem)
{
    DWORD chars = NAME_CHARS_FIRST;

    *len = 0;
    *nomem = 0;
    for (;;) {
        wchar_t *buf = malloc(((size_t)chars + 2) * sizeof(wchar_t));
        DWORD n;

        if (buf == NULL) {
            *nomem = 1;
            return NULL;
        }
        n = call(process, addr, buf, chars);
        if (n == 0) {
            free(buf);
            return NULL;
        }
        if (n < chars - 1 || chars >= NAME_CHARS_MAX) {
            /* Wine counts the NUL of some names in what it returns. */
            *len = wcsnlen(buf, n < chars ? n : chars);
            return buf;
        }
        free(buf);
        chars *= 2;
    }
}

/* The name of the file mapped at addr (an image or a view), as WTF-8 in
 * the list's bytes; *named 0 when it has none.  0, or -1 when out of
 * memory. */
static int
add_mapped_name(HANDLE process, drive_table *drives, mm_list *list,
                uint64_t addr, size_t *off, uint32_t *len_out, int *named)
{
    size_t chars = 0, len = 0;
    int nomem = 0;
    wchar_t *wide = ask_name(process, addr, mapped_file_name, &chars, &nomem);
    char *text;

    *named = 0;
    if (wide == NULL) {
        return nomem ? -1 : 0;
    }
    chars = dos_name(drives, wide, chars);
    text = wtf8_from_utf16(wide, chars, &len);
    free(wide);
    if (text == NULL || len > UINT32_MAX ||
        mm_list_reserve_bytes(list, len) != 0) {
        free(text);
        return -1;
    }
    memcpy(list->bytes + list->bytes_len, text, len);
    *off = list->bytes_len;
    *len_out = (uint32_t)len;
    list->bytes_len += len;
    *named = len > 0;
    free(text);
    return 0;
}

/* ---- regions ---- */

/* MM_PROT_* of a PAGE_* protection (the modifier bits GUARD, NOCACHE and
 * WRITECOMBINE aside).  The WRITECOPY protections are writable: the first
 * write makes the page a private copy. */
static uint8_t
prot_of(DWORD protect)
{
    switch (protect & 0xFF) {
    case PAGE_READONLY:
        return MM_PROT_READ;
    case PAGE_READWRITE:
    case PAGE_WRITECOPY:
        return MM_PROT_READ | MM_PROT_WRITE;
    case PAGE_EXECUTE:
        return MM_PROT_EXEC;
    case PAGE_EXECUTE_READ:
        return MM_PROT_READ | MM_PROT_EXEC;
    case PAGE_EXECUTE_READWRITE:
    case PAGE_EXECUTE_WRITECOPY:
        return MM_PROT_READ | MM_PROT_WRITE | MM_PROT_EXEC;
    default: /* PAGE_NOACCESS, and 0 for reserved memory */
        return 0;
    }
}

static int
is_copy_on_write(DWORD protect)
{
    return (protect & 0xFF) == PAGE_WRITECOPY ||
           (protect & 0xFF) == PAGE_EXECUTE_WRITECOPY;
}

/* What the walk carries from one region to the next. */
typedef struct walk {
    proc_ref *p;
    mm_list *out;
    drive_table drives;
    /* The last allocation named, so that its pieces share one name. */
    uint64_t named_base;
    DWORD named_type;
    int have_named;
    int named;
    size_t name_off;
    uint32_t name_len;
} walk;

/* One VirtualQueryEx record as a region.  0, or -1 when out of memory. */
static int
add_record(walk *w, const MEMORY_BASIC_INFORMATION *mbi)
{
    uint64_t start = (uint64_t)(uintptr_t)mbi->BaseAddress;
    uint64_t alloc_base = (uint64_t)(uintptr_t)mbi->AllocationBase;
    int committed = mbi->State == MEM_COMMIT;
    int file_type = mbi->Type == MEM_IMAGE || mbi->Type == MEM_MAPPED;
    mm_region *r = mm_list_push(w->out);

    if (r == NULL) {
        return -1;
    }
    r->start = start;
    r->end = start + mbi->RegionSize;
    r->alloc_base = alloc_base;
    r->prot = committed ? prot_of(mbi->Protect) : 0;
    r->max_prot = mbi->AllocationProtect != 0 ? prot_of(mbi->AllocationProtect)
                                              : MM_PROT_UNKNOWN;
    if (!committed) {
        r->tag = "reserved";
    }
    else if (mbi->Type == MEM_IMAGE) {
        r->tag = "image";
    }
    else if (mbi->Type == MEM_MAPPED) {
        r->tag = "mapped";
    }
    else {
        r->tag = "private";
    }
    /* A view of a section is shared unless it was mapped copy-on-write
     * (FILE_MAP_COPY), which AllocationProtect says for the whole view. */
    if (committed && mbi->Type == MEM_MAPPED &&
        !is_copy_on_write(mbi->Protect) &&
        !is_copy_on_write(mbi->AllocationProtect)) {
        r->prot |= MM_PROT_SHARED;
    }
    if (file_type) {
        if (!w->have_named || w->named_base != alloc_base ||
            w->named_type != mbi->Type) {
            size_t index = w->out->count - 1;
            w->have_named = 1;
            w->named_base = alloc_base;
            w->named_type = mbi->Type;
            if (add_mapped_name(w->p->handle, &w->drives, w->out, start,
                                &w->name_off, &w->name_len, &w->named) != 0) {
                return -1;
            }
            r = &w->out->regions[index]; /* the bytes moved, not regions */
        }
        if (w->named) {
            r->flags |= MM_REGION_NAMED;
            r->name_off = w->name_off;
            r->name_len = w->name_len;
        }
    }
    if (committed && (mbi->Protect & PAGE_GUARD)) {
        r->kind = MM_KIND_GUARD;
    }
    else if (file_type && (r->flags & MM_REGION_NAMED)) {
        r->kind = MM_KIND_FILE;
    }
    else if (committed && mbi->Type == MEM_MAPPED) {
        /* A view of a section backed by the paging file: shared memory
         * with no file, as Linux's shmem. */
        r->kind = MM_KIND_SHMEM;
    }
    else {
        r->kind = MM_KIND_ANON;
    }
    return 0;
}

/* The user address space's bounds, as the system gives them. */
static void
user_range(uint64_t *low, uint64_t *high, uint64_t *page_size)
{
    SYSTEM_INFO info;

    GetSystemInfo(&info);
    *low = (uint64_t)(uintptr_t)info.lpMinimumApplicationAddress;
    *high = (uint64_t)(uintptr_t)info.lpMaximumApplicationAddress;
    *page_size = info.dwPageSize ? info.dwPageSize : 4096;
}

/* Every region, or with only_one every piece of the allocation that holds
 * from (VirtualQueryEx reports a region from the page asked about, not
 * from where it begins, so the walk starts at the allocation's base). */
static mm_status
walk_regions(const mm_target *target, walk *w, uint64_t from, int only_one,
             mm_err *err)
{
    uint64_t low, high, page_size, addr, alloc = 0;
    unsigned queries = 0;

    user_range(&low, &high, &page_size);
    addr = from < low ? low : from;
    if (only_one) {
        MEMORY_BASIC_INFORMATION mbi;

        if (from < low || from > high) {
            return MM_OK;
        }
        if (VirtualQueryEx(w->p->handle, (LPCVOID)(uintptr_t)from, &mbi,
                           sizeof(mbi)) == 0) {
            DWORD error = GetLastError();
            return error == ERROR_INVALID_PARAMETER
                       ? MM_OK
                       : call_failed(w->p, "VirtualQueryEx()", error, err);
        }
        if (mbi.State == MEM_FREE) {
            return MM_OK;
        }
        /* The whole allocation: its labels (a stack's is found from its
         * top) are given to all of its pieces. */
        alloc = addr = (uint64_t)(uintptr_t)mbi.AllocationBase;
    }
    while (addr <= high) {
        MEMORY_BASIC_INFORMATION mbi;
        uint64_t base, next;

        if (++queries % QUERIES_PER_CHECK == 0 &&
            mm_target_cancelled(target)) {
            return mm_err_set(err, MM_ERR_CANCELLED, 0,
                              "the listing was cancelled");
        }
        if (VirtualQueryEx(w->p->handle, (LPCVOID)(uintptr_t)addr, &mbi,
                           sizeof(mbi)) == 0) {
            DWORD error = GetLastError();
            if (error == ERROR_INVALID_PARAMETER) {
                break; /* above the highest address of the space */
            }
            return call_failed(w->p, "VirtualQueryEx()", error, err);
        }
        base = (uint64_t)(uintptr_t)mbi.BaseAddress;
        next = base + mbi.RegionSize;
        if (mbi.RegionSize == 0 || next <= addr) {
            break; /* a system that reports nothing more: stop, not loop */
        }
        if (only_one && (mbi.State == MEM_FREE ||
                         (uint64_t)(uintptr_t)mbi.AllocationBase != alloc)) {
            break; /* past the allocation that holds from */
        }
        if (mbi.State != MEM_FREE && add_record(w, &mbi) != 0) {
            return mm_err_set(err, MM_ERR_NOMEM, 0, "out of memory");
        }
        addr = next;
    }
    return MM_OK;
}

/* ---- labels: heaps, stacks, the PEB and the TEBs ---- */

/* The index of the region holding addr, or of the first above it. */
static size_t
region_index(const mm_list *list, uint64_t addr)
{
    size_t low = 0, high = list->count;

    while (low < high) {
        size_t middle = low + (high - low) / 2;
        if (list->regions[middle].end <= addr) {
            low = middle + 1;
        }
        else {
            high = middle;
        }
    }
    return low;
}

/* Splits the region holding addr in two at addr, when addr is inside it;
 * 0, or -1 when out of memory. */
static int
split_at(mm_list *list, uint64_t addr)
{
    size_t i = region_index(list, addr);

    if (i >= list->count || list->regions[i].start >= addr) {
        return 0;
    }
    if (mm_list_reserve(list, 1) != 0) {
        return -1;
    }
    memmove(&list->regions[i + 1], &list->regions[i],
            (list->count - i) * sizeof(mm_region));
    list->count++;
    list->regions[i].end = addr;
    list->regions[i + 1].start = addr;
    return 0;
}

/* Text for labels, in the list's bytes; 0, or -1 when out of memory. */
static int
add_text(mm_list *list, const char *text, size_t *off, uint32_t *len)
{
    size_t n = strlen(text);

    if (mm_list_reserve_bytes(list, n) != 0) {
        return -1;
    }
    memcpy(list->bytes + list->bytes_len, text, n);
    *off = list->bytes_len;
    *len = (uint32_t)n;
    list->bytes_len += n;
    return 0;
}

static void
set_detail(mm_region *r, size_t off, uint32_t len)
{
    r->flags |= MM_REGION_DETAIL;
    r->detail_off = off;
    r->detail_len = len;
}

/* Labels the pages [lo, hi) (split off their regions) with text, unless
 * they have a label already.  0, or -1 when out of memory. */
static int
label_range(mm_list *list, uint64_t lo, uint64_t hi, const char *text)
{
    size_t off = 0;
    uint32_t len = 0;
    int have_text = 0;

    if (lo >= hi || split_at(list, lo) != 0 || split_at(list, hi) != 0) {
        return lo >= hi ? 0 : -1;
    }
    for (size_t i = region_index(list, lo);
         i < list->count && list->regions[i].start < hi; i++) {
        mm_region *r = &list->regions[i];
        if (r->flags & MM_REGION_DETAIL) {
            continue;
        }
        if (!have_text) {
            if (add_text(list, text, &off, &len) != 0) {
                return -1;
            }
            have_text = 1;
            r = &list->regions[i];
        }
        set_detail(r, off, len);
    }
    return 0;
}

/* Labels every region of the allocation that holds addr: kind and text,
 * and for its guard pages guard_text (kind guard), unless labelled
 * already.  0, or -1 when out of memory. */
static int
label_allocation(mm_list *list, uint64_t addr, uint8_t kind, const char *text,
                 const char *guard_text)
{
    size_t i = region_index(list, addr);
    size_t off = 0, guard_off = 0;
    uint32_t len = 0, guard_len = 0;
    uint64_t base;

    if (i >= list->count || list->regions[i].start > addr ||
        list->regions[i].alloc_base == 0) {
        return 0;
    }
    base = list->regions[i].alloc_base;
    while (i > 0 && list->regions[i - 1].alloc_base == base) {
        i--;
    }
    if (add_text(list, text, &off, &len) != 0 ||
        (guard_text != NULL &&
         add_text(list, guard_text, &guard_off, &guard_len) != 0)) {
        return -1;
    }
    for (; i < list->count && list->regions[i].alloc_base == base; i++) {
        mm_region *r = &list->regions[i];
        if (r->flags & MM_REGION_DETAIL) {
            continue;
        }
        if (r->kind == MM_KIND_GUARD && guard_text != NULL) {
            set_detail(r, guard_off, guard_len);
        }
        else if (r->kind != MM_KIND_GUARD) {
            r->kind = kind;
            set_detail(r, off, len);
        }
    }
    return 0;
}

/* Where the fields are in a PEB and a TEB of either pointer size. */
typedef struct layout {
    int pointer;       /* 4 or 8 */
    uint64_t peb_size; /* rounded up to pages when labelled */
    uint64_t teb_size;
    unsigned process_heap;
    unsigned heap_count;
    unsigned heap_list;
    unsigned tib_self;  /* NT_TIB.Self */
    const char *suffix; /* for the labels of a WoW64 target's 32-bit ones */
} layout;

static const layout layout64 = {8, 0x7C8, 0x1838, 0x30, 0xE8, 0xF0, 0x30, ""};
static const layout layout32 = {4, 0x480, 0xFE8, 0x18, 0x88, 0x90, 0x18, ""};
static const layout layout_wow64 = {4,    0x480, 0xFE8, 0x18,
                                    0x88, 0x90,  0x18,  " (32-bit)"};

static uint64_t
round_up(uint64_t value, uint64_t page)
{
    return (value + page - 1) / page * page;
}

/* The PEB's heaps: each heap handle is the base of its first segment's
 * allocation.  A heap the PEB does not list (one another's module made
 * with its own allocator) stays unlabelled. */
static int
label_heaps(const proc_ref *p, mm_list *list, uint64_t peb, const layout *l)
{
    uint32_t count = 0;
    uint64_t heaps = 0, heap = 0;
    char text[64];

    if (read_exact(p, peb + l->heap_count, &count, 4) != 0 ||
        read_pointer(p, peb + l->heap_list, l->pointer, &heaps) != 0) {
        count = 0;
    }
    if (count > MAX_HEAPS) {
        count = MAX_HEAPS;
    }
    for (uint32_t i = 0; i < count; i++) {
        if (read_pointer(p, heaps + (uint64_t)i * l->pointer, l->pointer,
                         &heap) != 0) {
            break;
        }
        if (heap == 0) {
            continue;
        }
        snprintf(text, sizeof(text), "heap 0x%" PRIx64 "%s", heap, l->suffix);
        if (label_allocation(list, heap, MM_KIND_HEAP, text, NULL) != 0) {
            return -1;
        }
    }
    /* The process heap itself, where the list was unreadable. */
    if (read_pointer(p, peb + l->process_heap, l->pointer, &heap) == 0 &&
        heap != 0) {
        snprintf(text, sizeof(text), "heap 0x%" PRIx64 "%s", heap, l->suffix);
        return label_allocation(list, heap, MM_KIND_HEAP, text, NULL);
    }
    return 0;
}

/* One thread's TEB and stack, from the TEB's NT_TIB: StackBase is the top
 * of the stack, StackLimit the lowest committed page; the guard page is
 * just below it, in the same allocation. */
static int
label_thread(const proc_ref *p, mm_list *list, uint64_t teb, DWORD tid,
             const layout *l, uint64_t page_size, uint64_t *peb)
{
    uint64_t self = 0, stack_base = 0, stack_limit = 0;
    char text[64], guard[64];

    if (read_pointer(p, teb + l->tib_self, l->pointer, &self) != 0 ||
        self != teb ||
        read_pointer(p, teb + l->pointer, l->pointer, &stack_base) != 0 ||
        read_pointer(p, teb + 2 * (uint64_t)l->pointer, l->pointer,
                     &stack_limit) != 0) {
        return 0; /* not a TEB of this layout, or gone */
    }
    /* TEB.ProcessEnvironmentBlock, the 13th pointer of either layout. */
    if (*peb == 0) {
        read_pointer(p, teb + 12 * (uint64_t)l->pointer, l->pointer, peb);
    }
    snprintf(text, sizeof(text), "TEB tid %lu%s", (unsigned long)tid,
             l->suffix);
    if (label_range(list, teb, teb + round_up(l->teb_size, page_size), text) !=
        0) {
        return -1;
    }
    if (stack_base > stack_limit && stack_limit != 0) {
        snprintf(text, sizeof(text), "stack tid %lu%s", (unsigned long)tid,
                 l->suffix);
        snprintf(guard, sizeof(guard), "stack guard tid %lu%s",
                 (unsigned long)tid, l->suffix);
        if (label_allocation(list, stack_base - 1, MM_KIND_STACK, text,
                             guard) != 0) {
            return -1;
        }
    }
    return 0;
}

/* Labels the threads' TEBs and stacks, from a Toolhelp snapshot of the
 * system's threads.  A thread that ends meanwhile is left out. */
static int
label_threads(const proc_ref *p, mm_list *list, int wow64, uint64_t page_size,
              uint64_t *peb32)
{
    uint64_t native_peb = 0;
    query_information_fn query = query_thread_fn();
    HANDLE snapshot;
    THREADENTRY32 entry;
    int status = 0;

    if (query == NULL) {
        return 0;
    }
    snapshot = CreateToolhelp32Snapshot(TH32CS_SNAPTHREAD, 0);
    if (snapshot == INVALID_HANDLE_VALUE) {
        return 0;
    }
    entry.dwSize = sizeof(entry);
    for (BOOL more = Thread32First(snapshot, &entry); more && status == 0;
         more = Thread32Next(snapshot, &entry)) {
        basic_thread_info info;
        HANDLE thread;
        uint64_t teb;

        if (entry.th32OwnerProcessID != p->pid) {
            continue;
        }
        thread = OpenThread(THREAD_QUERY_LIMITED_INFORMATION, FALSE,
                            entry.th32ThreadID);
        if (thread == NULL) {
            thread = OpenThread(THREAD_QUERY_INFORMATION, FALSE,
                                entry.th32ThreadID);
        }
        if (thread == NULL) {
            continue;
        }
        memset(&info, 0, sizeof(info));
        if (query(thread, THREAD_BASIC_INFORMATION_CLASS, &info, sizeof(info),
                  NULL) == 0 &&
            info.teb != NULL) {
            teb = (uint64_t)(uintptr_t)info.teb;
            status = label_thread(p, list, teb, entry.th32ThreadID,
                                  sizeof(void *) == 8 ? &layout64 : &layout32,
                                  page_size, &native_peb);
            if (status == 0 && wow64) {
                /* A WoW64 thread's 32-bit TEB follows its 64-bit one, two
                 * pages of 4 KiB on; label_thread checks its Self field. */
                status =
                    label_thread(p, list, teb + 0x2000, entry.th32ThreadID,
                                 &layout_wow64, page_size, peb32);
            }
        }
        CloseHandle(thread);
    }
    CloseHandle(snapshot);
    return status;
}

/* Whether the target is a 32-bit process under WoW64, for a 64-bit reader. */
static int
is_wow64_target(const proc_ref *p)
{
    is_wow64_process_fn is_wow64 = (is_wow64_process_fn)system_function(
        L"kernel32.dll", "IsWow64Process");
    BOOL answer = FALSE;

    if (sizeof(void *) != 8 || is_wow64 == NULL) {
        return 0;
    }
    return is_wow64(p->handle, &answer) && answer;
}

/* The PEB's address (the native one: 64-bit for a 64-bit reader), 0 when
 * ntdll does not say. */
static uint64_t
peb_address(const proc_ref *p)
{
    query_information_fn query = query_process_fn();
    basic_process_info info;

    memset(&info, 0, sizeof(info));
    if (query == NULL || query(p->handle, PROCESS_BASIC_INFORMATION_CLASS,
                               &info, sizeof(info), NULL) != 0) {
        return 0;
    }
    return (uint64_t)(uintptr_t)info.peb;
}

/* A WoW64 target's 32-bit PEB, 0 when there is none. */
static uint64_t
peb32_address(const proc_ref *p)
{
    query_information_fn query = query_process_fn();
    ULONG_PTR peb32 = 0;

    if (query == NULL || query(p->handle, PROCESS_WOW64_INFORMATION_CLASS,
                               &peb32, sizeof(peb32), NULL) != 0) {
        return 0;
    }
    return (uint64_t)peb32;
}

static int
label_peb(const proc_ref *p, mm_list *list, uint64_t peb, const layout *l,
          uint64_t page_size)
{
    char text[32];

    if (peb == 0) {
        return 0;
    }
    snprintf(text, sizeof(text), "PEB%s", l->suffix);
    if (label_range(list, peb, peb + round_up(l->peb_size, page_size), text) !=
        0) {
        return -1;
    }
    return label_heaps(p, list, peb, l);
}

/* All the labels; only running out of memory is an error: a label the
 * system does not give is left out. */
static mm_status
add_labels(const proc_ref *p, mm_list *list, mm_err *err)
{
    uint64_t low, high, page_size;
    int wow64 = is_wow64_target(p);
    const layout *native = sizeof(void *) == 8 ? &layout64 : &layout32;

    user_range(&low, &high, &page_size);
    (void)low;
    (void)high;
    uint64_t peb32 = 0;

    /* A WoW64 target's 32-bit PEB is where its 32-bit TEBs point;
     * ntdll's ProcessWow64Information says the same on Windows, but Wine 8
     * answers it with 1, a yes. */
    if (label_peb(p, list, peb_address(p), native, page_size) != 0 ||
        label_threads(p, list, wow64, page_size, &peb32) != 0 ||
        (wow64 && label_peb(p, list, peb32 ? peb32 : peb32_address(p),
                            &layout_wow64, page_size) != 0)) {
        return mm_err_set(err, MM_ERR_NOMEM, 0, "out of memory");
    }
    return MM_OK;
}

/* ---- usage: the working set, page by page ----
 *
 * QueryWorkingSetEx says of each page whether it is resident (Valid),
 * whether it is shareable (a page of a section: an image, a mapped file,
 * shared memory) and by how many processes' working sets (ShareCount,
 * which saturates at 7), and whether it is locked.  It does not say
 * whether a page is dirty, nor anything of what is paged out.  The figures
 * in Linux's terms:
 *   rss            resident pages
 *   pss            each resident page divided by its ShareCount (private
 *                  pages whole); an upper bound where more than 7 share one
 *   private_dirty  resident private pages (not Shared): committed private
 *                  memory and pages copied on write, which exist only once
 *                  written or zero-filled, as Linux's dirty anonymous pages
 *   anonymous      the same pages
 *   private_clean  resident section pages in no other working set
 *   shared_clean   resident section pages in other working sets too
 *   shared_dirty   0: Windows does not say which section pages are dirty,
 *                  so all of them count as clean
 *   locked         resident pages locked in the working set
 *   kernel_page_size, mmu_page_size  the page size (mmu: 2 MiB large pages
 *                  where the region has them)
 * Reserved memory has all of them 0.  swap, referenced and the rest are
 * not given. */

#define WS_VALID(f)       ((f)&1u)
#define WS_SHARE_COUNT(f) (((f) >> 1) & 7u)
#define WS_SHARED(f)      (((f) >> 15) & 1u)
#define WS_LOCKED(f)      (((f) >> 22) & 1u)
#define WS_LARGE_PAGE(f)  (((f) >> 23) & 1u)
#define LARGE_PAGE_SIZE   (2u * 1024 * 1024)

static const unsigned usage_given[] = {
    MM_USAGE_SIZE,          MM_USAGE_KERNEL_PAGE_SIZE,
    MM_USAGE_MMU_PAGE_SIZE, MM_USAGE_RSS,
    MM_USAGE_PSS,           MM_USAGE_SHARED_CLEAN,
    MM_USAGE_SHARED_DIRTY,  MM_USAGE_PRIVATE_CLEAN,
    MM_USAGE_PRIVATE_DIRTY, MM_USAGE_ANONYMOUS,
    MM_USAGE_LOCKED,
};

/* The usage of one region.  Where the system refuses the working set
 * (*refused, its error: Wine answers only for the calling process), the
 * region gets its size alone, and so do the ones after it. */
static mm_status
region_usage(const proc_ref *p, mm_list *list, size_t index,
             PSAPI_WORKING_SET_EX_INFORMATION *batch, uint64_t page_size,
             DWORD *refused, mm_err *err)
{
    mm_region *r = &list->regions[index];
    uint64_t start = r->start, end = r->end;
    int committed = r->tag == NULL || strcmp(r->tag, "reserved") != 0;
    uint64_t pss_scaled = 0; /* in 1/4096ths of a byte */
    mm_usage *u = mm_list_add_usage(list, index);
    int large = 0;

    if (u == NULL) {
        return mm_err_set(err, MM_ERR_NOMEM, 0, "out of memory");
    }
    u->value[MM_USAGE_SIZE] = end - start;
    u->value[MM_USAGE_KERNEL_PAGE_SIZE] = page_size;
    u->present = 1u << MM_USAGE_SIZE | 1u << MM_USAGE_KERNEL_PAGE_SIZE;
    if (*refused) {
        return MM_OK;
    }
    for (uint64_t at = start; committed && at < end;) {
        DWORD n = 0;

        while (n < WORKING_SET_BATCH && at < end) {
            batch[n].VirtualAddress = (PVOID)(uintptr_t)at;
            batch[n].VirtualAttributes.Flags = 0;
            n++;
            at += page_size;
        }
        if (!QueryWorkingSetEx(p->handle, batch,
                               n * (DWORD)sizeof(batch[0]))) {
            DWORD error = GetLastError();
            if (proc_ended(p) || error == ERROR_ACCESS_DENIED) {
                return call_failed(p, "QueryWorkingSetEx()", error, err);
            }
            *refused = error ? error : ERROR_INVALID_FUNCTION;
            memset(u->value + MM_USAGE_RSS, 0,
                   sizeof(u->value) - MM_USAGE_RSS * sizeof(u->value[0]));
            return MM_OK;
        }
        for (DWORD i = 0; i < n; i++) {
            ULONG_PTR f = batch[i].VirtualAttributes.Flags;
            uint64_t count = WS_SHARE_COUNT(f);

            if (!WS_VALID(f)) {
                continue;
            }
            u->value[MM_USAGE_RSS] += page_size;
            large |= WS_LARGE_PAGE(f) != 0;
            if (WS_LOCKED(f)) {
                u->value[MM_USAGE_LOCKED] += page_size;
            }
            if (!WS_SHARED(f)) {
                u->value[MM_USAGE_PRIVATE_DIRTY] += page_size;
                u->value[MM_USAGE_ANONYMOUS] += page_size;
                pss_scaled += page_size << 12;
            }
            else if (count <= 1) {
                u->value[MM_USAGE_PRIVATE_CLEAN] += page_size;
                pss_scaled += page_size << 12;
            }
            else {
                u->value[MM_USAGE_SHARED_CLEAN] += page_size;
                pss_scaled += (page_size << 12) / count;
            }
        }
    }
    for (size_t i = 0; i < sizeof(usage_given) / sizeof(usage_given[0]); i++) {
        u->present |= 1u << usage_given[i];
    }
    u->value[MM_USAGE_PSS] = pss_scaled >> 12;
    u->value[MM_USAGE_MMU_PAGE_SIZE] = large ? LARGE_PAGE_SIZE : page_size;
    return MM_OK;
}

static mm_status
add_usage(const mm_target *target, const proc_ref *p, mm_list *list,
          mm_err *err)
{
    uint64_t low, high, page_size;
    PSAPI_WORKING_SET_EX_INFORMATION *batch;
    mm_status status = MM_OK;
    DWORD refused = 0;

    user_range(&low, &high, &page_size);
    batch = malloc(WORKING_SET_BATCH * sizeof(*batch));
    if (batch == NULL) {
        return mm_err_set(err, MM_ERR_NOMEM, 0, "out of memory");
    }
    for (size_t i = 0; i < list->count && status == MM_OK; i++) {
        if (i % QUERIES_PER_CHECK == QUERIES_PER_CHECK - 1 &&
            mm_target_cancelled(target)) {
            status = mm_err_set(err, MM_ERR_CANCELLED, 0,
                                "the listing was cancelled");
        }
        else {
            status = region_usage(p, list, i, batch, page_size, &refused, err);
        }
    }
    free(batch);
    if (status == MM_OK && refused &&
        mm_list_set_partial(list,
                            "the working set of process %ld could not be "
                            "read (QueryWorkingSetEx() failed with error "
                            "%lu): its regions' usage has their sizes only",
                            p->asked, (unsigned long)refused) != 0) {
        status = mm_err_set(err, MM_ERR_NOMEM, 0, "out of memory");
    }
    return status;
}

/* ---- the calls ---- */

/* The regions (all, or only_one: the one holding from), labelled, with
 * usage when flags ask. */
static mm_status
list_regions(const mm_target *target, uint64_t from, int only_one,
             unsigned flags, mm_list *out, mm_err *err)
{
    proc_ref p;
    walk *w;
    mm_status status;

    mm_list_clear(out);
    status = proc_open(target, "reading its memory map", &p, err);
    if (status != MM_OK) {
        return status;
    }
    /* The drive table is 13 KiB: not on the stack of a Python thread. */
    w = calloc(1, sizeof(*w));
    if (w == NULL) {
        proc_close(&p);
        return mm_err_set(err, MM_ERR_NOMEM, 0, "out of memory");
    }
    w->p = &p;
    w->out = out;
    status = walk_regions(target, w, from, only_one, err);
    free(w);
    if (status == MM_OK) {
        status = add_labels(&p, out, err);
    }
    if (status == MM_OK && only_one) {
        /* The label's split may have cut the region: keep the piece that
         * holds the address. */
        size_t i = region_index(out, from);
        if (i < out->count && out->regions[i].start <= from) {
            out->regions[0] = out->regions[i];
            out->count = 1;
        }
        else {
            out->count = 0;
        }
    }
    if (status == MM_OK && (flags & MM_REGIONS_USAGE)) {
        status = add_usage(target, &p, out, err);
    }
    if (status == MM_OK && proc_ended(&p)) {
        /* It exited while being read: what was read may be cut. */
        status = process_gone(&p, err);
    }
    proc_close(&p);
    if (status != MM_OK) {
        mm_list_clear(out);
    }
    return status;
}

mm_status
mm_regions(const mm_target *target, unsigned flags, mm_list *out, mm_err *err)
{
    return list_regions(target, 0, 0, flags, out, err);
}

mm_status
mm_region_at(const mm_target *target, uint64_t addr, unsigned flags,
             mm_list *out, mm_err *err)
{
    if (flags & MM_SWITCH_FROM_LISTING) {
        mm_list_clear(out);
        return mm_region_at_from_listing(target, addr, out, err);
    }
    return list_regions(target, addr, 1, flags, out, err);
}

/* How much of [addr, addr + len) is committed and readable from its start,
 * by the map: Windows refuses to read reserved, PAGE_NOACCESS and guard
 * pages itself, Wine reads them as zeros (its ReadProcessMemory goes
 * around the protection of its Unix mappings), and a guard page read by
 * the target's own code would lose its guard. */
static size_t
readable_prefix(const proc_ref *p, uint64_t addr, size_t len)
{
    size_t done = 0;

    while (done < len) {
        MEMORY_BASIC_INFORMATION mbi;
        uint64_t end;

        if (VirtualQueryEx(p->handle, (LPCVOID)(uintptr_t)(addr + done), &mbi,
                           sizeof(mbi)) == 0 ||
            mbi.State != MEM_COMMIT || (mbi.Protect & PAGE_GUARD) ||
            prot_of(mbi.Protect) == 0) {
            break;
        }
        end = (uint64_t)(uintptr_t)mbi.BaseAddress + mbi.RegionSize;
        if (end <= addr + done) {
            break;
        }
        done = end - addr >= len ? len : (size_t)(end - addr);
    }
    return done;
}

/* Reads as much of [addr, addr + len) as is readable from its start. */
static mm_status
read_process(const proc_ref *p, uint64_t addr, char *buf, size_t len,
             size_t *got, mm_err *err)
{
    SIZE_T n = 0;
    size_t done = 0;
    DWORD error;

    *got = 0;
    if (len == 0 || addr > UINTPTR_MAX) {
        return MM_OK;
    }
    if (len > UINTPTR_MAX - addr) {
        len = (size_t)(UINTPTR_MAX - addr);
    }
    len = readable_prefix(p, addr, len);
    if (len == 0) {
        return proc_ended(p) ? process_gone(p, err) : MM_OK;
    }
    if (ReadProcessMemory(p->handle, (LPCVOID)(uintptr_t)addr, buf, len, &n) &&
        n == len) {
        *got = len;
        return MM_OK;
    }
    error = GetLastError();
    if (error != ERROR_PARTIAL_COPY && error != ERROR_NOACCESS &&
        error != ERROR_INVALID_ADDRESS && error != ERROR_INVALID_PARAMETER) {
        return call_failed(p, "ReadProcessMemory()", error, err);
    }
    /* Some page of the range cannot be read: take it piece by piece up to
     * the first that fails. */
    while (done < len) {
        uint64_t at = addr + done;
        size_t piece = READ_PIECE - (size_t)(at % READ_PIECE);

        if (piece > len - done) {
            piece = len - done;
        }
        n = 0;
        if (!ReadProcessMemory(p->handle, (LPCVOID)(uintptr_t)at, buf + done,
                               piece, &n) ||
            n == 0) {
            break;
        }
        done += (size_t)n;
    }
    *got = done;
    if (done == 0 && proc_ended(p)) {
        return process_gone(p, err);
    }
    return MM_OK;
}

mm_status
mm_read_memory(const mm_target *target, uint64_t addr, void *buf, size_t len,
               size_t *got, mm_err *err)
{
    proc_ref p;
    mm_status status = proc_open(target, "reading its memory", &p, err);

    *got = 0;
    if (status == MM_OK) {
        status = read_process(&p, addr, buf, len, got, err);
        proc_close(&p);
    }
    return status;
}

/* PROCESS_MEMORY_COUNTERS_EX, whose PrivateUsage is commit charge: memory
 * promised, not resident, so it is not one of Linux's figures. */
mm_status
mm_process_usage(const mm_target *target, unsigned flags, mm_list *out,
                 mm_err *err)
{
    PROCESS_MEMORY_COUNTERS_EX counters;
    uint64_t low, high, page_size;
    mm_status status;
    mm_region *r;
    mm_usage *u;
    proc_ref p;

    if (flags & MM_SWITCH_NO_ROLLUP) {
        /* The sum of the regions' working-set figures, as regions(usage)
         * gives them: every figure, at the cost of a query per page. */
        mm_usage total;
        memset(&total, 0, sizeof(total));
        status = mm_regions(target, MM_REGIONS_USAGE, out, err);
        if (status != MM_OK) {
            return status;
        }
        for (size_t i = 0; i < out->usage_count; i++) {
            mm_usage_add(&total, &out->usages[i], i == 0);
        }
        user_range(&low, &high, &page_size);
        /* The count goes, the note of a working set refused stays. */
        out->count = 0;
        out->usage_count = 0;
        out->bytes_len = 0;
        r = mm_list_push(out);
        if (r == NULL || (u = mm_list_add_usage(out, 0)) == NULL) {
            mm_list_clear(out);
            return mm_err_set(err, MM_ERR_NOMEM, 0, "out of memory");
        }
        r->start = low;
        r->end = high + 1;
        r->kind = MM_KIND_SPECIAL;
        *u = total;
        return MM_OK;
    }
    mm_list_clear(out);
    status = proc_open(target, "reading its memory usage", &p, err);
    if (status != MM_OK) {
        return status;
    }
    memset(&counters, 0, sizeof(counters));
    counters.cb = sizeof(counters);
    if (!GetProcessMemoryInfo(p.handle, (PROCESS_MEMORY_COUNTERS *)&counters,
                              sizeof(counters))) {
        status =
            call_failed(&p, "GetProcessMemoryInfo()", GetLastError(), err);
    }
    else if (proc_ended(&p)) {
        status = process_gone(&p, err);
    }
    proc_close(&p);
    if (status != MM_OK) {
        return status;
    }
    user_range(&low, &high, &page_size);
    r = mm_list_push(out);
    if (r == NULL || (u = mm_list_add_usage(out, 0)) == NULL) {
        mm_list_clear(out);
        return mm_err_set(err, MM_ERR_NOMEM, 0, "out of memory");
    }
    /* The range of the user address space, as Linux's [rollup] line
     * spans the mapped one. */
    r->start = low;
    r->end = high + 1;
    r->kind = MM_KIND_SPECIAL;
    /* The working set is what Linux calls resident; nothing else of the
     * counters is one of Linux's figures (PagefileUsage and PrivateUsage
     * are commit charge, PeakWorkingSetSize a high-water mark). */
    u->present = 1u << MM_USAGE_RSS | 1u << MM_USAGE_KERNEL_PAGE_SIZE;
    u->value[MM_USAGE_RSS] = counters.WorkingSetSize;
    u->value[MM_USAGE_KERNEL_PAGE_SIZE] = page_size;
    return MM_OK;
}

/* ---- images ---- */

/* Modules, at most: far above any real process's few hundred, so that the
 * list's growth stops. */
#define MAX_MODULES 65536
/* EnumProcessModulesEx() fails with ERROR_PARTIAL_COPY while the loader
 * changes the list (a process starting, a DLL being loaded): retried. */
#define MODULE_LIST_TRIES 5

/* The read callback of the PE reader: absolute addresses of the target,
 * only whole reads succeed. */
static int
read_target_exact(void *ctx, uint64_t address, void *buf, size_t len)
{
    return read_exact(ctx, address, buf, len);
}

/* The target's modules in the loader's order, malloc'd into *modules. */
static mm_status
list_modules(const proc_ref *p, HMODULE **modules, DWORD *count, mm_err *err)
{
    DWORD capacity = 256, needed = 0;

    *modules = NULL;
    *count = 0;
    for (int attempt = 0;;) {
        HMODULE *list = malloc(capacity * sizeof(HMODULE));

        if (list == NULL) {
            return mm_err_set(err, MM_ERR_NOMEM, 0, "out of memory");
        }
        if (!EnumProcessModulesEx(p->handle, list,
                                  capacity * (DWORD)sizeof(HMODULE), &needed,
                                  LIST_MODULES_ALL)) {
            DWORD error = GetLastError();
            free(list);
            if (error == ERROR_PARTIAL_COPY && ++attempt < MODULE_LIST_TRIES &&
                !proc_ended(p)) {
                Sleep(1);
                continue;
            }
            return call_failed(p, "EnumProcessModulesEx()", error, err);
        }
        if (needed <= capacity * sizeof(HMODULE) || capacity >= MAX_MODULES) {
            *modules = list;
            *count = needed / (DWORD)sizeof(HMODULE);
            if (*count > capacity) {
                *count = capacity;
            }
            return MM_OK;
        }
        free(list);
        capacity = needed / (DWORD)sizeof(HMODULE) + 16;
        if (capacity > MAX_MODULES) {
            capacity = MAX_MODULES;
        }
    }
}

/* The module's file name as WTF-8 in the image list.  0, or -1 when out of
 * memory; an image without a name gets none. */
static int
add_module_path(const proc_ref *p, drive_table *drives, mm_image_list *out,
                size_t index)
{
    size_t chars = 0, len = 0;
    int nomem = 0;
    wchar_t *wide = ask_name(p->handle, out->images[index].base,
                             module_file_name, &chars, &nomem);
    char *text;
    int status;

    if (wide == NULL) {
        return nomem ? -1 : 0;
    }
    chars = dos_name(drives, wide, chars);
    text = wtf8_from_utf16(wide, chars, &len);
    free(wide);
    if (text == NULL) {
        return -1;
    }
    status =
        mm_image_list_add_text(out, text, len, &out->images[index].path_off,
                               &out->images[index].path_len);
    free(text);
    return status;
}

/* One module, from the PE headers in the target's memory.  A module whose
 * headers cannot be read (unloaded meanwhile, torn) is left out, never
 * guessed at. */
static mm_status
add_module(const proc_ref *p, drive_table *drives, uint64_t base,
           uint64_t main_base, uint32_t order, uint64_t page_size,
           mm_image_list *out, mm_err *err)
{
    mm_offset_reader at_base = {read_target_exact, (void *)p, base};
    mm_pe pe;
    mm_err ignored;
    mm_status status;
    mm_image *image;
    size_t index;

    memset(&ignored, 0, sizeof(ignored));
    status = mm_pe_open(&pe, mm_read_offset, &at_base, MM_SIZE_UNKNOWN,
                        MM_PE_MEMORY, &ignored);
    if (status == MM_ERR_NOMEM) {
        return mm_err_set(err, MM_ERR_NOMEM, 0, "out of memory");
    }
    if (status != MM_OK) {
        return MM_OK;
    }
    image = mm_image_list_push(out);
    if (image == NULL) {
        mm_pe_close(&pe);
        return mm_err_set(err, MM_ERR_NOMEM, 0, "out of memory");
    }
    index = out->count - 1;
    image->base = base;
    image->end = base + round_up(pe.size_of_image, page_size);
    image->bias = mm_pe_bias(&pe, base);
    image->header = base;
    image->format = MM_FORMAT_PE;
    image->load_order = order;
    /* The headers come from memory: the file may have changed since it
     * was loaded, and the memory is what runs. */
    image->flags = MM_IMAGE_FROM_MEMORY;
    if (base == main_base) {
        image->flags |= MM_IMAGE_MAIN;
    }
    image->build_id_len =
        (uint8_t)mm_pe_build_id(&pe, image->build_id, sizeof(image->build_id));
    for (uint16_t i = 0; i < pe.section_count; i++) {
        const mm_pe_section *section = &pe.sections[i];
        uint32_t extent =
            section->virtual_size ? section->virtual_size : section->raw_size;
        mm_image_segment *segment;

        if (extent == 0) {
            continue;
        }
        segment = mm_image_list_add_segment(out, index);
        if (segment == NULL) {
            mm_pe_close(&pe);
            return mm_err_set(err, MM_ERR_NOMEM, 0, "out of memory");
        }
        segment->start = base + section->virtual_address;
        segment->end = round_up(segment->start + extent, page_size);
        memcpy(segment->name, section->name, sizeof(section->name));
        segment->prot = section->prot;
    }
    mm_pe_close(&pe);
    if (add_module_path(p, drives, out, index) != 0) {
        return mm_err_set(err, MM_ERR_NOMEM, 0, "out of memory");
    }
    return MM_OK;
}

/* The main executable's base: PEB.ImageBaseAddress, 0 when unreadable. */
static uint64_t
main_image_base(const proc_ref *p)
{
    uint64_t peb = peb_address(p), base = 0;
    int pointer = (int)sizeof(void *);

    if (peb == 0 ||
        read_pointer(p, peb + 2 * (uint64_t)pointer, pointer, &base) != 0) {
        return 0;
    }
    return base;
}

mm_status
mm_images(const mm_target *target, unsigned flags, mm_image_list *out,
          mm_err *err)
{
    uint64_t low, high, page_size, main_base;
    HMODULE *modules = NULL;
    drive_table *drives = NULL;
    DWORD count = 0;
    proc_ref p;
    mm_status status;

    (void)flags; /* none yet */
    mm_image_list_clear(out);
    status = proc_open(target, "finding its images", &p, err);
    if (status != MM_OK) {
        return status;
    }
    user_range(&low, &high, &page_size);
    main_base = main_image_base(&p);
    status = list_modules(&p, &modules, &count, err);
    /* The drive table is 13 KiB: not on the stack of a Python thread. */
    if (status == MM_OK && (drives = calloc(1, sizeof(*drives))) == NULL) {
        status = mm_err_set(err, MM_ERR_NOMEM, 0, "out of memory");
    }
    for (DWORD i = 0; status == MM_OK && i < count; i++) {
        if (i % 64 == 63 && mm_target_cancelled(target)) {
            status = mm_err_set(err, MM_ERR_CANCELLED, 0,
                                "the listing was cancelled");
            break;
        }
        status = add_module(&p, drives, (uint64_t)(uintptr_t)modules[i],
                            main_base, i, page_size, out, err);
    }
    free(modules);
    free(drives);
    if (status == MM_OK && mm_image_list_sort(out) != 0) {
        status = mm_err_set(err, MM_ERR_NOMEM, 0, "out of memory");
    }
    if (status == MM_OK && proc_ended(&p)) {
        /* It exited while its headers were read: they may be cut. */
        status = process_gone(&p, err);
    }
    proc_close(&p);
    if (status != MM_OK) {
        mm_image_list_clear(out);
    }
    return status;
}
