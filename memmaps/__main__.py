"""``python -m memmaps``: see memmaps.cli."""

from .cli import run

run()
