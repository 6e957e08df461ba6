"""The C core through its drivers in tools/: mmdump, elfdump, machodump,
darwinrecords, and the cross-compile checks."""
