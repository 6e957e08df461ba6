"""Helpers shared by the tests: reference parsers and process control
(procutil), cross-compiling with zig (crosscc), Mach-O files and simulated
macOS memory (machosim), the sanitized C drivers (sanitized)."""
