"""The Python layer on given text or memory: no other process, no C driver."""
