/* A DLL with known exports, for the Wine tests to find in a process and
 * compare with what GetProcAddress() returns there. */
#include <windows.h>

__declspec(dllexport) int mm_test_data = 42;

__declspec(dllexport) int mm_test_add(int a, int b)
{
    return a + b;
}

__declspec(dllexport) int mm_test_twice(int a)
{
    return mm_test_add(a, a);
}

BOOL WINAPI
DllMain(HINSTANCE instance, DWORD reason, LPVOID reserved)
{
    (void)instance;
    (void)reason;
    (void)reserved;
    return TRUE;
}
