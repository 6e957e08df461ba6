"""The exceptions of memmaps, all under :class:`Error`."""

from __future__ import annotations

import errno
import os


class Error(Exception):
    """Base class of every exception memmaps raises on purpose."""


class NoSuchProcess(Error, ProcessLookupError):
    """The process does not exist, or exited while it was being read."""

    def __init__(self, message: str, pid: int | None = None) -> None:
        super().__init__(message)
        self.pid = pid

    def __reduce__(self) -> tuple[type[NoSuchProcess], tuple[str, int | None]]:
        return type(self), (str(self.args[0]), self.pid)


class ZombieProcess(NoSuchProcess):
    """The process has exited and waits to be reaped: it has no memory map."""


class AccessDenied(Error, PermissionError):
    """The OS refused to show the process's memory map; ``reason`` says why."""

    def __init__(self, message: str, pid: int | None = None) -> None:
        super().__init__(message)
        self.pid = pid
        self.reason = message

    def __reduce__(self) -> tuple[type[AccessDenied], tuple[str, int | None]]:
        return type(self), (str(self.args[0]), self.pid)


def _byte_length(text: str) -> int:
    """The length of text in the bytes os.fsencode gives (parse()'s own
    encoding of a str), or in characters for text it cannot encode."""
    try:
        return len(os.fsencode(text))
    except UnicodeError:
        return len(text)


class ParseError(Error, ValueError):
    """Text that is not what the kernel prints.  ``lineno`` is 1-based;
    ``line`` is the start of that line (at most its first 200 bytes, decoded
    with ``os.fsdecode``), ``line_length`` the length of the whole line in
    bytes, so that an error in a huge input stays small."""

    def __init__(
        self, message: str, lineno: int, line: str | None, line_length: int | None = None
    ) -> None:
        super().__init__(message)
        self.lineno = lineno
        self.line = line
        if line_length is None and line is not None:
            line_length = _byte_length(line)
        self.line_length = line_length

    def __reduce__(
        self,
    ) -> tuple[type[ParseError], tuple[str, int, str | None, int | None]]:
        return type(self), (str(self.args[0]), self.lineno, self.line, self.line_length)

    def __str__(self) -> str:
        if self.line is None:
            return str(self.args[0])
        shown = _byte_length(self.line)
        if self.line_length is not None and self.line_length > shown:
            return f"{self.args[0]}: {self.line!r} (the first {shown} of {self.line_length} bytes)"
        return f"{self.args[0]}: {self.line!r}"


class SymbolNotFound(Error, LookupError):
    """No loaded image defines the symbol."""


class MemoryReadError(Error, OSError):
    """Not every byte asked for could be read: ``address`` is where the
    read began, ``read`` how many bytes were readable before the first that
    was not (unmapped, or without read permission)."""

    def __init__(self, message: str, address: int, read: int) -> None:
        super().__init__(errno.EFAULT, message)
        self.address = address
        self.read = read

    def __str__(self) -> str:
        return str(self.strerror)

    def __reduce__(self) -> tuple[type[MemoryReadError], tuple[str, int, int]]:
        return type(self), (str(self.strerror), self.address, self.read)


class PartialListingWarning(UserWarning):
    """A listing is incomplete although it was read: ``Maps.partial`` says
    why (macOS without the task port shows no submaps).  Issued once per
    reason."""


class UnsupportedPlatform(Error, NotImplementedError):
    """This operating system has no backend for the call."""


def _from_native(
    status: str,
    message: str,
    pid: int | None,
    os_errno: int,
    lineno: int,
    line: bytes | None,
    line_length: int,
) -> Exception:
    """Builds the exception for a failure reported by the C core."""
    error: Exception
    if status == "no_process":
        error = NoSuchProcess(message, pid)
    elif status == "zombie":
        error = ZombieProcess(message, pid)
    elif status == "access":
        error = AccessDenied(message, pid)
    elif status == "parse":
        error = (
            ParseError(message, lineno, None)
            if line is None
            else ParseError(message, lineno, os.fsdecode(line), line_length)
        )
    elif status == "unsupported":
        error = UnsupportedPlatform(message)
    elif status == "not_found":
        error = SymbolNotFound(message)
    elif status == "argument":
        error = ValueError(message)
    else:
        error = Error(message)
    if isinstance(error, OSError) and os_errno:
        error.errno = os_errno
    return error
