"""Target for tests/live/test_pystack_example.py (CPython 3.13).

usage: python3.13 pystack_target.py

Two threads, each with a known Python stack, each printing one JSON line
before it sleeps in time.sleep until the process is killed: the worker
first, then the main thread.  A line is [native thread id, stack], the stack
as the interpreter itself sees it (traceback.extract_stack() for file and
line, the frames' code for the qualified name), innermost first, each frame
[qualified name, file, line].

The names carry latin-1 (é) and UCS-2 (λ) characters, and the test gives
this file a name with a UCS-4 one, so that every kind of str is read.  The
worker's innermost frame is a generator's.
"""

import json
import sys
import threading
import time
import traceback

printing = threading.Lock()
worker_reported = threading.Event()


def report(done=None):
    """Prints the caller's stack; returns how long to sleep.  The caller
    sleeps on the line that called this, so the line printed is the line of
    the sleep."""
    caller = sys._getframe(1)
    summaries = traceback.extract_stack(caller)[::-1]
    frames = [frame for frame, _ in traceback.walk_stack(caller)]
    stack = [
        [frame.f_code.co_qualname, summary.filename, summary.lineno]
        for frame, summary in zip(frames, summaries, strict=True)
    ]
    with printing:
        print(json.dumps([threading.get_native_id(), stack]), flush=True)
    if done is not None:
        done.set()
    return 3600


def ticks_λ():
    yield time.sleep(report(worker_reported))


class Worker(threading.Thread):
    def run(self):
        for _ in ticks_λ():
            pass


def inner_λ():
    time.sleep(report())


def middle_é():
    inner_λ()


def outer():
    middle_é()


Worker(daemon=True).start()
worker_reported.wait()
outer()
