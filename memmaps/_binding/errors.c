/* Native errors become memmaps exceptions: the status picks the class, in
 * memmaps/errors.py's _from_native, and the message is the native one. */
#include "binding.h"

PyObject *
raise_native_error(module_state *state, const mm_err *err, long pid,
                   const char *input, size_t input_len)
{
    static const char *const names[] = {
        [MM_OK] = "ok",
        [MM_ERR_NOMEM] = "nomem",
        [MM_ERR_NO_PROCESS] = "no_process",
        [MM_ERR_ZOMBIE] = "zombie",
        [MM_ERR_ACCESS] = "access",
        [MM_ERR_PARSE] = "parse",
        [MM_ERR_UNSUPPORTED] = "unsupported",
        [MM_ERR_ARGUMENT] = "argument",
        [MM_ERR_OS] = "os",
        [MM_ERR_NOT_FOUND] = "not_found",
    };
    PyObject *line, *pid_object, *exc;

    if (err->status == MM_ERR_NOMEM) {
        return PyErr_NoMemory();
    }
    if (err->status == MM_ERR_PARSE && input != NULL &&
        err->line_off <= input_len &&
        err->line_len <= input_len - err->line_off) {
        line = PyBytes_FromStringAndSize(input + err->line_off,
                                         (Py_ssize_t)err->line_len);
    }
    else {
        line = Py_NewRef(Py_None);
    }
    if (line == NULL) {
        return NULL;
    }
    pid_object = pid < 0 ? Py_NewRef(Py_None) : PyLong_FromLong(pid);
    if (pid_object == NULL) {
        Py_DECREF(line);
        return NULL;
    }
    exc = PyObject_CallFunction(state->make_error, "ssOinO",
                                names[err->status], err->message, pid_object,
                                err->os_errno, (Py_ssize_t)err->lineno, line);
    Py_DECREF(pid_object);
    Py_DECREF(line);
    if (exc != NULL) {
        PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
        Py_DECREF(exc);
    }
    return NULL;
}
