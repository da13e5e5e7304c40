"""Compiler flags for Sluice's own code (system headers stay -isystem)."""

SLUICE_COPTS = [
    "-Wall",
    "-Wextra",
    "-Werror",
    "-Wnon-virtual-dtor",
]
