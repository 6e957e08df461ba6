"""The command line: ``memmaps [PID|self]`` shows a process's memory map."""

from __future__ import annotations

import argparse
import errno
import json
import math
import os
import re
import sys
import time
from collections.abc import Sequence
from typing import Any, NoReturn

from . import (
    Error,
    Image,
    Maps,
    NoSuchProcess,
    Symbol,
    __version__,
    diff,
    images,
    region_at,
    regions,
    symbol,
    symbolize,
)
from .maps import COALESCE_BY, _count, _human_size, _printable
from .process_lookup import processes_named
from .region import KINDS
from .summary import Summary

# ASCII only: int() and re's \d also take "+1", " 1", "1_0" and the digits of
# every script ("\u0663" is 3), none of which is how anyone writes a pid.
_DECIMAL = re.compile(r"[0-9]+")
_ADDRESS = re.compile(r"0[xX][0-9a-fA-F]+|[0-9]+")
_PID_MAX = 2**31 - 1
# The wait between two reads of --diff and --watch.
_sleep = time.sleep
_ADDRESS_MAX = 2**64 - 1


class _UsageError(Exception):
    """A command line that does not say what to do: exit status 2."""


class _Printed(Exception):
    """--help or --version: print this text and stop."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # argparse's own error prints the whole usage block and exits; the
        # caller prints one line instead.
        raise _UsageError(message)


class _HelpAction(argparse.Action):
    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, *args: object) -> NoReturn:
        raise _Printed(parser.format_help())


class _VersionAction(_HelpAction):
    def __call__(self, parser: argparse.ArgumentParser, *args: object) -> NoReturn:
        raise _Printed(f"memmaps {__version__}\n")


def _looks_like_a_number(text: str) -> bool:
    """Whether Python would read text as a number: what someone who wrote
    it meant as a pid, never a process name."""
    if not any(char.isdigit() for char in text):
        return False
    for read in (int, lambda text: int(text, 0), float):
        try:
            read(text)
        except ValueError:
            continue
        return True
    return False


def _process_argument(text: str) -> int | str | None:
    """A pid (ASCII decimal digits), None for self, or a process name."""
    if text == "self":
        return None
    if _DECIMAL.fullmatch(text):
        pid = int(text)
        if pid > _PID_MAX:
            raise argparse.ArgumentTypeError(f"not a process id: {text!r} is above {_PID_MAX}")
        return pid
    if not text or _looks_like_a_number(text):
        raise argparse.ArgumentTypeError(
            f"not a process id: {text!r} (write it in decimal digits, or self; "
            "a process name cannot look like a number)"
        )
    return text


def _address_argument(text: str) -> int:
    if not _ADDRESS.fullmatch(text):
        raise argparse.ArgumentTypeError(
            f"not an address: {text!r} (write hex as 0x7f00..., or decimal)"
        )
    address = int(text, 0) if text[1:2] in ("x", "X") else int(text, 10)
    if address > _ADDRESS_MAX:
        raise argparse.ArgumentTypeError(f"not an address: {text!r} is above 2**64 - 1")
    return address


def _seconds_argument(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not math.isfinite(seconds) or seconds < 0:
        raise argparse.ArgumentTypeError(
            f"not a number of seconds: {text!r} (write it as 2, or 0.5)"
        )
    return seconds


def _perms_argument(text: str) -> str:
    try:
        Maps().filter(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return text


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="memmaps",
        description="Show the virtual memory map of a process (default: this one).",
        add_help=False,
    )
    parser.add_argument("-h", "--help", action=_HelpAction, help="show this help and exit")
    parser.add_argument(
        "--version", action=_VersionAction, help="print the version of memmaps and exit"
    )
    parser.add_argument(
        "pid",
        nargs="?",
        type=_process_argument,
        default=None,
        metavar="PID|NAME|self",
        help="the process to read: its pid, (part of) its executable's name, or self "
        "(the default: the memmaps process itself)",
    )
    parser.add_argument(
        "--format",
        choices=("table", "proc", "json", "vmmap"),
        default="table",
        help="table: for people (default); proc: exactly /proc/PID/maps; json; "
        "vmmap: laid out as macOS vmmap prints it, with its summary",
    )
    parser.add_argument(
        "--interleaved",
        action="store_true",
        help="with --format vmmap: all regions in address order, not the non-writable ones first",
    )
    parser.add_argument(
        "--usage",
        action="store_true",
        help="add what each region costs (RSS, PSS, dirty, swap) from smaps, "
        "with totals; this walks the target's page tables under its mmap lock",
    )
    parser.add_argument(
        "--perms",
        type=_perms_argument,
        help="keep regions with at least these permissions, e.g. r-x or rw",
    )
    parser.add_argument("--path", help="keep regions of this path or file name")
    parser.add_argument(
        "--kind", action="append", choices=KINDS, help="keep regions of this kind (repeatable)"
    )
    parser.add_argument(
        "--coalesce", action="store_true", help="merge neighbours with identical attributes"
    )
    parser.add_argument(
        "--coalesce-by",
        choices=COALESCE_BY,
        metavar="HOW",
        help="--coalesce, by attributes (the same) or by allocation (the pieces of one "
        "Windows allocation with the same perms, as Cygwin's /proc/PID/maps)",
    )
    parser.add_argument(
        "--summary",
        action="store_true",
        help="show the memory by category (image, mapped file, shared memory, heap, stack, "
        "private, guard, kernel, reserved, unusable) and the free space, as VMMap does; "
        "with --usage, resident, dirty and swapped memory too",
    )
    parser.add_argument(
        "--at", type=_address_argument, metavar="ADDR", help="show only the region holding ADDR"
    )
    parser.add_argument(
        "--diff",
        type=_seconds_argument,
        metavar="SECONDS",
        help="read the map, wait SECONDS, read it again and print what changed "
        "(as vmmap -d); the filters, --coalesce and --usage apply to both reads",
    )
    parser.add_argument(
        "--watch",
        type=_seconds_argument,
        metavar="SECONDS",
        help="print what changed every SECONDS until Ctrl-C (or until the process exits)",
    )
    parser.add_argument(
        "--images",
        action="store_true",
        help="list the loaded executables and libraries: base, end, bias, build-id, path",
    )
    parser.add_argument(
        "--symbol",
        metavar="NAME",
        help="print the runtime address of a symbol (ASLR applied) and the image "
        "that defines it, searched in the dynamic linker's order",
    )
    parser.add_argument(
        "--image",
        metavar="PATH",
        help="with --symbol: look only in the image with this path, file name or stem (libc)",
    )
    parser.add_argument(
        "--symbolize",
        type=_address_argument,
        action="append",
        metavar="ADDR",
        help="print the symbol that holds ADDR, and how far into it (repeatable)",
    )
    return parser


def _images_table(found: list[Image]) -> str:
    width = max([8, *(len(f"{image.end:x}") for image in found)])
    lines = [f"{'BASE':<{width}} {'END':<{width}} {'BIAS':<{width}} {'BUILD-ID':<40} PATH"]
    for image in found:
        path = _printable(image.path) + (" (deleted)" if image.deleted else "")
        lines.append(
            f"{image.base:0{width}x} {image.end:0{width}x} {image.bias:0{width}x} "
            f"{image.build_id or '-':<40} {path}"
        )
    return "\n".join(lines) + "\n"


def _images_json(found: list[Image], pid: int) -> str:
    entries = [
        {
            "path": image.path,
            "base": image.base,
            "end": image.end,
            "bias": image.bias,
            "build_id": image.build_id,
            "deleted": image.deleted,
        }
        for image in found
    ]
    return json.dumps({"pid": pid, "images": entries}, indent=2) + "\n"


def _render(maps: Maps, fmt: str, interleaved: bool = False) -> bytes:
    if fmt == "proc":
        # The kernel's bytes: names that are not valid UTF-8 stay as they are.
        return os.fsencode(maps.to_proc_maps())
    if fmt == "json":
        return (maps.to_json(indent=2) + "\n").encode()
    text = maps.to_vmmap(interleaved=interleaved) if fmt == "vmmap" else maps.to_table()
    return text.encode("utf-8", "backslashreplace")


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the command line and returns its exit status: 0, 1 (the process
    could not be read, or the output not written) or 2 (a usage error).
    Every failure is one line on stderr, never a traceback."""
    try:
        return _main(argv)
    except _UsageError as error:
        _complain(f"error: {error}; try 'memmaps --help'")
        return 2
    except _Printed as printed:
        return _write(printed.text.encode())


def _main(argv: Sequence[str] | None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    # From here on args.coalesce is how to coalesce, or None.
    args.coalesce = args.coalesce_by or ("attributes" if args.coalesce else None)
    if args.image is not None and args.symbol is None:
        parser.error("--image goes with --symbol")
    if args.interleaved and args.format != "vmmap":
        parser.error("--interleaved goes with --format vmmap")
    changes = [
        name
        for name, given in (("--diff", args.diff is not None), ("--watch", args.watch is not None))
        if given
    ]
    questions = [
        name
        for name, given in (
            ("--images", args.images),
            ("--symbol", args.symbol is not None),
            ("--symbolize", bool(args.symbolize)),
        )
        if given
    ]
    if len(questions) > 1:
        parser.error(f"{' and '.join(questions)} are separate questions: ask one at a time")
    if questions:
        listing_options = [
            name
            for name, given in (
                ("--usage", args.usage),
                ("--perms", args.perms is not None),
                ("--path", args.path is not None),
                ("--kind", bool(args.kind)),
                ("--coalesce", args.coalesce is not None),
                ("--at", args.at is not None),
                ("--summary", args.summary),
                *((name, True) for name in changes),
            )
            if given
        ]
        if listing_options:
            parser.error(f"{questions[0]} does not go with {', '.join(listing_options)}")
        if args.format in ("proc", "vmmap"):
            parser.error(f"{questions[0]} has no {args.format} format: use table or json")
        return _stdout_is_closed() or _find_by_name(args) or _images_main(args)
    if changes:
        if len(changes) > 1:
            parser.error("--diff and --watch do not go together: pick one")
        for name, given in (("--at", args.at is not None), ("--summary", args.summary)):
            if given:
                parser.error(f"{changes[0]} does not go with {name}")
        if args.format != "table":
            parser.error(f"{changes[0]} has no {args.format} format: its report is text")
        if args.watch is not None and args.watch <= 0:
            parser.error("--watch needs a number of seconds above 0")
        return _stdout_is_closed() or _find_by_name(args) or _changes_main(args)
    if args.usage and args.format == "proc":
        parser.error(
            "--usage has no proc format (it is what /proc/PID/smaps shows): use table or json"
        )
    if args.summary and args.at is not None:
        parser.error("--summary does not go with --at: it sums up the whole map")
    if args.summary and args.format not in ("table", "json"):
        parser.error(f"--summary has no {args.format} format: use table or json")
    if _stdout_is_closed() or _find_by_name(args):
        return 1
    filtering = args.perms is not None or args.path is not None or bool(args.kind)
    try:
        if args.at is not None and not (filtering or args.coalesce or args.usage):
            # One lookup, without listing the whole map.
            found = region_at(args.pid, args.at)
            maps = Maps(
                () if found is None else (found,), os.getpid() if args.pid is None else args.pid
            )
        else:
            maps = regions(args.pid, usage=args.usage)
            if filtering:
                maps = maps.filter(args.perms, path=args.path, kind=args.kind)
            if args.coalesce:
                maps = maps.coalesce(args.coalesce)
            if args.at is not None:
                found = maps.at(args.at)
                maps = Maps(() if found is None else (found,), maps.pid)
        if args.at is not None and not maps:
            _complain(f"no region holds {args.at:#x}")
            return 1
        output = (
            _render_summary(maps.summary(), args.format)
            if args.summary
            else _render(maps, args.format, args.interleaved)
        )
    except (Error, OSError, ValueError, TypeError) as error:
        _complain(str(error))
        return 1
    return _write(output)


def _find_by_name(args: argparse.Namespace) -> int:
    """Turns a process name given for the pid into that process's pid: 0,
    or 1 having said why not (no process has the name, or several do)."""
    if not isinstance(args.pid, str):
        return 0
    name = args.pid
    try:
        found = processes_named(name)
    except (Error, OSError) as error:
        _complain(str(error))
        return 1
    if not found:
        _complain(f"no process is named {_printable(name)!r}, nor has it in its name")
        return 1
    if len(found) > 1:
        lines = [f"{len(found)} processes match {_printable(name)!r}; give one of their pids:"]
        lines += [f"{candidate.pid} {_printable(candidate.name)}" for candidate in found]
        _complain("\n".join(lines))
        return 1
    args.pid = found[0].pid
    return 0


def _render_summary(summary: Summary, fmt: str) -> bytes:
    if fmt == "json":
        gap = summary.largest_gap
        document = {
            "pid": summary.pid,
            "categories": [row._asdict() for row in summary],
            "total": summary.total._asdict(),
            "free": summary.free._asdict(),
            "largest_gap": None
            if gap is None
            else {"start": gap.start, "end": gap.end, "size": gap.size},
        }
        return (json.dumps(document, indent=2) + "\n").encode()
    return summary.to_text().encode()


def _snapshot(args: argparse.Namespace) -> Maps:
    """One reading of the map, through the filters and --coalesce."""
    maps = regions(args.pid, usage=args.usage)
    if args.perms is not None or args.path is not None or args.kind:
        maps = maps.filter(args.perms, path=args.path, kind=args.kind)
    if args.coalesce:
        maps = maps.coalesce(args.coalesce)
    return maps


def _changes_main(args: argparse.Namespace) -> int:
    """--diff and --watch."""
    if args.watch is not None:
        return _watch(args)
    try:
        before = _snapshot(args)
    except (Error, OSError, ValueError, TypeError) as error:
        _complain(str(error))
        return 1
    try:
        _sleep(args.diff)
        after = _snapshot(args)
    except (Error, OSError, ValueError, TypeError) as error:
        _complain(str(error))
        return 1
    # Changes or none, the answer is the report: status 0, as vmmap -d.
    return _write(diff(before, after).to_text().encode("utf-8", "backslashreplace"))


def _watch(args: argparse.Namespace) -> int:
    """Prints what changed every args.watch seconds.  Ctrl-C is how a watch
    ends, whenever it comes: status 0, quietly, as watch(1) ends.  A process
    that exits ends it with one line and status 1."""
    try:
        try:
            before = _snapshot(args)
        except (Error, OSError, ValueError, TypeError) as error:
            _complain(str(error))
            return 1
        pid = before.pid
        header = (
            f"watching process {pid} every {args.watch:g}s, until Ctrl-C: "
            f"{_count(len(before), 'region')}, "
            f"{_human_size(sum(region.size for region in before))} mapped\n"
        )
        status = _send(header.encode())
        while status is None:
            _sleep(args.watch)
            try:
                after = _snapshot(args)
            except NoSuchProcess:
                _complain(f"process {pid} exited while watched")
                return 1
            except (Error, OSError, ValueError, TypeError) as error:
                _complain(str(error))
                return 1
            changes = diff(before, after)
            before = after
            if changes:
                stamp = time.strftime("%Y-%m-%d %H:%M:%S")
                report = f"---- {stamp}\n{changes.to_text()}"
                status = _send(report.encode("utf-8", "backslashreplace"))
    except KeyboardInterrupt:
        return 0
    return status


def _symbol_line(found: Symbol) -> str:
    offset = f"+{found.offset:#x}" if found.offset else ""
    return (
        f"{found.address + found.offset:#x} {_printable(found.name)}{offset} "
        f"({found.kind}, {_count(found.size, 'byte')}) in {_printable(found.image.path)}"
    )


def _symbol_json(found: Symbol) -> dict[str, object]:
    return {
        "symbol": found.name,
        "address": found.address,
        "size": found.size,
        "kind": found.kind,
        "image": found.image.path,
        "offset": found.offset,
    }


def _images_main(args: argparse.Namespace) -> int:
    pid = os.getpid() if args.pid is None else args.pid
    status = 0
    try:
        if args.symbol is not None:
            found = symbol(args.pid, args.symbol, args.image)
            output = (
                json.dumps({"pid": pid, **_symbol_json(found)}) + "\n"
                if args.format == "json"
                else _symbol_line(found) + "\n"
            )
        elif args.symbolize:
            answers = symbolize(args.pid, args.symbolize)
            for addr, answer in zip(args.symbolize, answers, strict=True):
                if answer is None:
                    _complain(f"no symbol of a loaded image holds {addr:#x}")
                    status = 1
            if args.format == "json":
                entries = [
                    {"query": addr, **({} if answer is None else _symbol_json(answer))}
                    for addr, answer in zip(args.symbolize, answers, strict=True)
                ]
                output = json.dumps({"pid": pid, "symbols": entries}, indent=2) + "\n"
            else:
                output = "".join(
                    _symbol_line(answer) + "\n" for answer in answers if answer is not None
                )
        else:
            loaded = images(args.pid)
            output = _images_json(loaded, pid) if args.format == "json" else _images_table(loaded)
    except (Error, OSError, ValueError, TypeError) as error:
        _complain(str(error))
        return 1
    return _write(output.encode("utf-8", "backslashreplace")) or status


def _complain(message: str) -> None:
    """One line on stderr, or nothing when stderr cannot be written to."""
    stream = sys.stderr
    if stream is None:  # started with its stderr closed
        return
    try:
        stream.write(f"memmaps: {message}\n")
        stream.flush()
    except (OSError, ValueError):
        _discard(stream)


def _stdout_is_closed() -> int:
    """1, having said so, when memmaps was started without a stdout
    (memmaps >&-): nothing it reads could be shown.  Checked before
    reading, as cat checks before copying."""
    if sys.stdout is not None:
        return 0
    _complain(f"write error: {os.strerror(errno.EBADF)}")
    return 1


def _write(output: bytes) -> int:
    """Writes output to stdout: 0, or 1 with one line on stderr when it
    cannot be written (a full disk, a descriptor not open for writing).  A
    reader that went away (memmaps | head) is no error of memmaps: 0, and
    quiet, as GNU cat is when SIGPIPE ends it."""
    status = _send(output)
    return 0 if status is None else status


def _send(output: bytes) -> int | None:
    """_write() for a command that goes on writing: None when the output
    was written, else the exit status to stop with."""
    stream = sys.stdout
    if stream is None:
        return _stdout_is_closed()
    try:
        stream.buffer.write(output)
        stream.flush()
    except BrokenPipeError:
        _discard(stream)
        return 0
    except OSError as error:
        _complain(f"write error: {error.strerror or error}")
        _discard(stream)
        return 1
    return None


def _discard(stream: Any) -> None:
    """Points the stream's descriptor at /dev/null.  What a failed write left
    in its buffer is written again when the interpreter flushes it at exit;
    there, it fails again and prints a traceback unless it goes nowhere."""
    try:
        descriptor = stream.fileno()
        devnull = os.open(os.devnull, os.O_WRONLY)
    except (OSError, ValueError, AttributeError):
        return
    try:
        os.dup2(devnull, descriptor)
    except OSError:
        pass
    finally:
        os.close(devnull)


def run() -> None:
    try:
        status = main()
    except KeyboardInterrupt:
        status = 130
    sys.exit(status)


if __name__ == "__main__":
    run()
