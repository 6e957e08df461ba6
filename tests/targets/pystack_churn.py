"""Target for tests/live/test_pystack_example.py: Python stacks that never
hold still.

usage: python3.13 pystack_churn.py

Two threads recurse to ever other depths and back, over and over, while the
main thread starts and joins short-lived threads (so thread states come
and go too).  Prints "ready" and runs until killed.
"""

import threading


def down(depth):
    if depth:
        down(depth - 1)


def churn(depth):
    while True:  # depths all over 0..60, in plain arithmetic: no other Python code runs
        depth = (depth * 7 + 3) % 61
        down(depth)


def short_lived():
    down(20)


for start in range(2):
    threading.Thread(target=churn, args=(start,), daemon=True).start()
print("ready", flush=True)
while True:
    thread = threading.Thread(target=short_lived)
    thread.start()
    thread.join()
