/* Native errors become memmaps exceptions: the status picks the class, in
 * memmaps/errors.py's _from_native, and the message is the native one. */
#include "binding.h"

/* A ParseError keeps the first bytes of its line, not all of it: the line can
 * be the whole input (100 MB without a newline), and the exception, its
 * message and its pickle must cost the same whatever the input. */
#define PARSE_ERROR_EXCERPT 200

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
        [MM_ERR_CANCELLED] = "cancelled",
    };
    PyObject *line, *pid_object, *exc;
    Py_ssize_t line_length = -1;

    if (err->status == MM_ERR_CANCELLED && PyErr_Occurred()) {
        return NULL; /* the signal handler's exception (KeyboardInterrupt) */
    }
    if (err->status == MM_ERR_NOMEM) {
        return PyErr_NoMemory();
    }
    if (err->status == MM_ERR_PARSE && input != NULL &&
        err->line_off <= input_len &&
        err->line_len <= input_len - err->line_off) {
        const unsigned char *start =
            (const unsigned char *)input + err->line_off;
        size_t keep = err->line_len;

        if (keep > PARSE_ERROR_EXCERPT) {
            keep = PARSE_ERROR_EXCERPT;
            /* Cut before a UTF-8 sequence, not through it, so that the
             * excerpt decodes as the start of the line does. */
            for (int back = 0; back < 3 && (start[keep] & 0xC0) == 0x80;
                 back++) {
                keep--;
            }
        }
        line =
            PyBytes_FromStringAndSize((const char *)start, (Py_ssize_t)keep);
        line_length = (Py_ssize_t)err->line_len;
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
    exc = PyObject_CallFunction(
        state->make_error, "ssOinOn", names[err->status], err->message,
        pid_object, err->os_errno, (Py_ssize_t)err->lineno, line, line_length);
    Py_DECREF(pid_object);
    Py_DECREF(line);
    if (exc != NULL) {
        PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
        Py_DECREF(exc);
    }
    return NULL;
}
