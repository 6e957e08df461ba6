"""Print the Python stack of every thread of a running CPython 3.13 process.

usage: python pystack.py PID

Only the target's memory is read: it is not stopped and does not cooperate.
Every offset comes from the table the interpreter publishes at the start of
_PyRuntime; only the order of that table's fields is written here.
"""

import struct
import sys

import memmaps

# _Py_DebugOffsets of CPython 3.13 (Include/internal/pycore_runtime.h): after
# the 8-byte cookie, uint64_t fields in this order, grouped by struct.
LAYOUT = """version free_threaded
    runtime_state: size finalizing interpreters_head
    interpreter_state: size id next threads_head gc imports_modules sysdict builtins
        ceval_gil gil_runtime_state gil_runtime_state_enabled gil_runtime_state_locked
        gil_runtime_state_holder
    thread_state: size prev next interp current_frame thread_id native_thread_id
        datastack_chunk status
    interpreter_frame: size previous executable instr_ptr localsplus owner
    code_object: size filename name qualname linetable firstlineno argcount
        localsplusnames localspluskinds co_code_adaptive
    pyobject: size ob_type
    type_object: size tp_name tp_repr tp_flags
    tuple_object: size ob_item ob_size
    list_object: size ob_item ob_size
    dict_object: size ma_keys ma_values
    float_object: size ob_fval
    long_object: size lv_tag ob_digit
    bytes_object: size ob_size ob_sval
    unicode_object: size state length asciiobject_size"""
NAMES, group = [], ""
for token in LAYOUT.split():
    if token.endswith(":"):
        group = token[:-1] + "."
    else:
        NAMES.append(group + token)
FRAME_OWNED_BY_CSTACK = 3  # Include/internal/pycore_frame.h: a C function's entry frame
LIMIT = 1 << 20  # no struct, string or line table of a real interpreter is bigger
# What reading memory that changes under us can give: a freed frame, a
# pointer to garbage, a half-written string or line table.
TORN = (memmaps.MemoryReadError, ValueError, IndexError, struct.error)


def word(data, offset, fmt="<Q"):
    return struct.unpack_from(fmt, data, offset)[0]


def read_offsets(proc):
    runtime = proc.symbol("_PyRuntime")  # in the executable, or in libpython
    cookie, version = struct.unpack("<8sQ", proc.read(runtime.address, 16))
    if cookie != b"xdebugpy":
        sys.exit(
            f"pystack: {runtime.image.path}: no debug offsets, so CPython older than 3.13 "
            "(this script reads 3.13)"
        )
    if version >> 16 != 0x030D:  # PY_VERSION_HEX: 0x030D00F0 is 3.13.0
        sys.exit(f"pystack: CPython {version >> 24}.{version >> 16 & 255}, this script reads 3.13")
    values = struct.unpack(f"<{len(NAMES)}Q", proc.read(runtime.address + 8, 8 * len(NAMES)))
    o = dict(zip(NAMES, values, strict=True))
    if any(value > LIMIT for name, value in o.items() if name != "version"):
        sys.exit("pystack: implausible debug offsets")
    return runtime.address, o


def text(proc, o, address):
    """A str's value: compact ASCII, latin-1, UCS-2 or UCS-4."""
    head = proc.read(address, o["unicode_object.asciiobject_size"])
    state = word(head, o["unicode_object.state"], "<I")
    length = word(head, o["unicode_object.length"], "<q")
    kind, compact, ascii = state >> 2 & 7, state >> 5 & 1, state >> 6 & 1
    if not compact or kind not in (1, 2, 4) or not 0 <= length <= LIMIT:
        raise ValueError(f"no compact str at {address:#x}")
    # A non-ASCII compact str has two more words (utf8_length, utf8) first.
    data = address + o["unicode_object.asciiobject_size"] + (0 if ascii else 16)
    encoding = {1: "latin-1", 2: "utf-16-le", 4: "utf-32-le"}[kind]
    return proc.read(data, length * kind).decode(encoding, "surrogatepass")


def line_of(table, line, offset):
    """The line of the instruction at byte offset, from a 3.11+ location
    table (Objects/locations.md): entries of 1-8 code units, each with a
    line delta and column numbers, which are skipped."""
    i = end = 0

    def varint():
        nonlocal i
        value = shift = 0
        while True:
            byte, i = table[i], i + 1
            value, shift = value | (byte & 63) << shift, shift + 6
            if not byte & 64:
                return value

    while i < len(table):
        code, units, i = table[i] >> 3 & 15, (table[i] & 7) + 1, i + 1
        if code in (13, 14):  # no columns, long form: the delta is a signed varint
            delta = varint()
            line += -(delta >> 1) if delta & 1 else delta >> 1
        elif code in (10, 11, 12):  # one-line forms: the delta is in the code
            line += code - 10
        if code == 14:
            varint(), varint(), varint()  # end line, column, end column
        elif code < 13:
            i += 1 if code < 10 else 2  # short form: 1 byte of columns, one-line: 2
        end += 2 * units
        if offset < end:
            return None if code == 15 else line  # 15: no location
    return None


def frame(proc, o, code_type, address):
    """'name (file:line)' and the caller's frame; None for a C entry frame."""
    f = proc.read(address, o["interpreter_frame.size"])
    previous = word(f, o["interpreter_frame.previous"])
    if f[o["interpreter_frame.owner"]] == FRAME_OWNED_BY_CSTACK:
        return None, previous
    code_address = word(f, o["interpreter_frame.executable"])
    code = proc.read(code_address, o["code_object.size"])
    if word(code, o["pyobject.ob_type"]) != code_type:
        raise ValueError(f"frame {address:#x} runs no code object")
    table = word(code, o["code_object.linetable"])  # a bytes object
    size = word(proc.read(table, o["bytes_object.ob_sval"]), o["bytes_object.ob_size"], "<q")
    if not 0 <= size <= LIMIT:
        raise ValueError(f"no line table at {table:#x}")
    table = proc.read(table + o["bytes_object.ob_sval"], size)
    # instr_ptr: the instruction running; in a caller, its call.
    bytecode = code_address + o["code_object.co_code_adaptive"]
    offset = word(f, o["interpreter_frame.instr_ptr"]) - bytecode
    line = line_of(table, word(code, o["code_object.firstlineno"], "<i"), offset)
    name = text(proc, o, word(code, o["code_object.qualname"]))
    filename = text(proc, o, word(code, o["code_object.filename"]))
    return f"{name} ({filename}:{'?' if line is None else line})", previous


def stack(proc, o, code_type, tstate):
    """A thread's frames, innermost first.  The thread runs on while we
    read: a walk that met a frame it could not read, or after which the
    thread's top frame is another, is done again; the last try is shown
    with what went wrong."""
    top_of = o["thread_state.current_frame"]
    for _ in range(3):
        lines, problem = [], "<the stack changed while it was read>"
        try:
            top = address = word(proc.read(tstate + top_of, 8), 0)
            seen = set()
            while address:
                if address in seen or len(seen) == 10_000:
                    raise ValueError("the frames loop or never end")
                seen.add(address)
                line, address = frame(proc, o, code_type, address)
                lines += [line] if line else []
            if word(proc.read(tstate + top_of, 8), 0) == top:
                return lines
        except TORN as error:
            problem = f"<unreadable frame: {error}>"
    return [*lines, problem]


def main(pid):
    with memmaps.Process(pid) as proc:
        runtime, o = read_offsets(proc)
        code_type = proc.symbol("PyCode_Type").address
        interp = word(proc.read(runtime + o["runtime_state.interpreters_head"], 8), 0)
        seen = set()  # a thread that exits while we read may leave a loop behind
        while interp:  # each interpreter, each of its threads, newest first
            tstate = word(proc.read(interp + o["interpreter_state.threads_head"], 8), 0)
            while tstate and tstate not in seen:
                seen.add(tstate)
                try:
                    t = proc.read(tstate, o["thread_state.size"])
                except memmaps.MemoryReadError:
                    print("<the list of threads changed while it was read>")
                    break
                print(f"Thread {word(t, o['thread_state.native_thread_id'])}")
                for line in stack(proc, o, code_type, tstate) or ["(no Python frames)"]:
                    print(f"    {line}")
                tstate = word(t, o["thread_state.next"])
            interp = word(proc.read(interp + o["interpreter_state.next"], 8), 0)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    try:
        main(int(sys.argv[1]))
    except memmaps.Error as error:
        sys.exit(f"pystack: {error}")
