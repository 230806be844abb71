"""Which directories changed: a generation per watched directory, advanced by inotify events.

A reader remembers something it read from a directory together with the directory's
generation, and trusts it while the generation is the same: no system call to check.  The order
makes that safe: `watch()` sets the watch up *before* the caller reads, so a change after that
point is an event, and the event advances the generation (here, in one thread reading the
inotify descriptor) — whether it arrives before the caller stores its reading (then the stored
generation is already old) or after (then it ages it).  What stays is the time the kernel takes
to hand over the event and this thread to run: the same order of time as the gap between a
`stat` and the answer it was made for.

Without inotify (another kernel, the limit of watches reached) `watch()` answers None and the
caller reads every time, as before.  One watcher serves the process, started on first use.
"""

from __future__ import annotations

import ctypes
import os
import select
import struct
import threading

IN_MODIFY, IN_ATTRIB, IN_MOVED_FROM, IN_MOVED_TO = 0x2, 0x4, 0x40, 0x80
IN_CREATE, IN_DELETE, IN_DELETE_SELF, IN_MOVE_SELF = 0x100, 0x200, 0x400, 0x800
IN_Q_OVERFLOW, IN_IGNORED, IN_ONLYDIR = 0x4000, 0x8000, 0x1000000
DIRECTORY_CHANGES = (
    IN_MODIFY | IN_ATTRIB | IN_MOVED_FROM | IN_MOVED_TO | IN_CREATE | IN_DELETE
    | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR
)  # fmt: skip
EVENT = struct.Struct("iIII")  # wd, mask, cookie, len (then len bytes of name)


class Watcher:
    """inotify watches on directories, each with a generation (see the module docstring)."""

    def __init__(self, fd: int, libc: ctypes.CDLL) -> None:
        self._fd = fd
        self._libc = libc
        self._lock = threading.Lock()
        self._wd: dict[int, str] = {}  # watch descriptor -> directory
        self._generation: dict[str, int] = {}  # watched directories only
        self._counter = 0
        self._thread = threading.Thread(target=self._run, name="provision-watch", daemon=True)
        self._thread.start()

    def generation(self, directory: str) -> int | None:
        """The directory's generation; None when it is not watched (any more)."""
        return self._generation.get(directory)

    def watch(self, directory: str) -> int | None:
        """Watch `directory` (if not yet) and return its generation; None when it cannot be
        watched (missing, not a directory, no watches left)."""
        known = self._generation.get(directory)
        if known is not None:
            return known
        with self._lock:
            known = self._generation.get(directory)
            if known is not None:
                return known
            wd = self._libc.inotify_add_watch(self._fd, os.fsencode(directory), DIRECTORY_CHANGES)
            if wd < 0:
                return None
            self._counter += 1
            self._wd[wd] = directory
            self._generation[directory] = self._counter
            return self._counter

    def _run(self) -> None:
        poller = select.poll()
        poller.register(self._fd, select.POLLIN)
        while True:
            poller.poll()
            try:
                data = os.read(self._fd, 64 * 1024)
            except BlockingIOError:
                continue
            self.handle(data)

    def handle(self, data: bytes) -> None:
        """Advance the generation of every directory an event names; forget a directory whose
        watch ended (removed, moved away: watched anew by the next `watch()`)."""
        at = 0
        with self._lock:
            while at + EVENT.size <= len(data):
                wd, mask, _cookie, length = EVENT.unpack_from(data, at)
                at += EVENT.size + length
                self._counter += 1
                if mask & IN_Q_OVERFLOW:  # events were lost: trust nothing
                    self._generation.clear()
                    for old in list(self._wd):
                        self._libc.inotify_rm_watch(self._fd, old)
                    self._wd.clear()
                    continue
                directory = self._wd.get(wd)
                if directory is None:
                    continue
                if mask & (IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF):
                    self._generation.pop(directory, None)
                    del self._wd[wd]
                    if not mask & IN_IGNORED:
                        self._libc.inotify_rm_watch(self._fd, wd)
                    continue
                self._generation[directory] = self._counter


_WATCHER: Watcher | None = None
_STARTED = False
_START_LOCK = threading.Lock()


def watcher() -> Watcher | None:
    """The process's watcher (started on first use); None without inotify."""
    global _WATCHER, _STARTED
    if _STARTED:
        return _WATCHER
    with _START_LOCK:
        if not _STARTED:
            _WATCHER = _start()
            _STARTED = True
    return _WATCHER


def _start() -> Watcher | None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fd = libc.inotify_init1(os.O_CLOEXEC | os.O_NONBLOCK)
    except (OSError, AttributeError):
        return None
    if fd < 0:
        return None
    libc.inotify_add_watch.argtypes = (ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32)
    libc.inotify_rm_watch.argtypes = (ctypes.c_int, ctypes.c_int)
    return Watcher(fd, libc)
