"""The library and the command line against real running processes."""
