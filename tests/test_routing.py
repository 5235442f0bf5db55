"""The routing core's process set-up."""

from __future__ import annotations

import ctypes
import platform
import subprocess
import sys

import pytest

from planner.routing import hold_freed_memory

GLIBC = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"

# 8 MiB in 64 KiB blocks (on the heap, below glibc's mmap threshold), freed from the top:
# prints how many bytes the heap shrank by
_HEAP_PROBE = """
import ctypes, sys
if sys.argv[1] == "hold":
    from planner.routing import hold_freed_memory
    assert hold_freed_memory()
libc = ctypes.CDLL(None)
libc.sbrk.restype = ctypes.c_void_p
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
blocks = [libc.malloc(64 << 10) for _ in range(128)]
top = libc.sbrk(0)
for b in reversed(blocks):
    libc.free(b)
print(top - libc.sbrk(0))
"""


def _shrunk(mode: str) -> int:
    out = subprocess.run(
        [sys.executable, "-c", _HEAP_PROBE, mode], capture_output=True, text=True, check=True
    )
    return int(out.stdout)


@pytest.mark.skipif(not GLIBC, reason="mallopt is glibc's")
def test_hold_freed_memory_keeps_the_heap():
    assert _shrunk("default") > 4 << 20  # glibc hands freed memory back at once
    assert _shrunk("hold") == 0  # ... and keeps it once told to


def test_hold_freed_memory_is_harmless_without_mallopt(monkeypatch):
    monkeypatch.setattr(ctypes, "CDLL", lambda *_a, **_k: object())
    assert hold_freed_memory() is False
