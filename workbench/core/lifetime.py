"""Child processes end with the process that started them, whatever killed it.

A measuring child forked from a fork server has that server as its parent, not the kernel that asked for it;
when the kernel dies (its own poller ends it once `workbench run` is gone), nothing tells the child, and a 4B
conversion would go on holding 10-20 GB that the next run's memory guard then misses. So the child watches the
process that asked for it, and ends itself and everything it started once that process is gone. It polls rather
than use Linux's parent-death signal: that signal follows the parent *thread* (a pool may start a child from a
thread that ends before the child should) and the direct parent only (here the fork server), and macOS lacks it.
"""

from __future__ import annotations

import os
import signal
import threading
import time

POLL_SECONDS = 0.5  # how often a child checks that its caller still exists: it ends at most this long after it


def caller_identity() -> tuple[int, float]:
    """This process's pid and start time, which a child compares against so that a reused pid is not mistaken
    for its caller."""
    import psutil

    return os.getpid(), psutil.Process().create_time()


def _caller_alive(pid: int, started: float) -> bool:
    import psutil

    try:
        process = psutil.Process(pid)
        return process.create_time() == started and process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def end_tree_now() -> None:
    """Kill every process this one started, then this one (no cleanup: the caller that wanted the result is gone)."""
    import psutil

    try:
        for child in psutil.Process().children(recursive=True):
            try:
                child.kill()
            except psutil.Error:
                pass
    finally:
        os.kill(os.getpid(), signal.SIGKILL)


def end_with_caller(caller: tuple[int, float], interval: float = POLL_SECONDS) -> None:
    """From now on, end this process and its descendants within `interval` s of `caller` (pid, start time) dying."""
    pid, started = caller

    def watch() -> None:
        while True:
            time.sleep(interval)
            if not _caller_alive(pid, started):
                end_tree_now()

    if not _caller_alive(pid, started):  # it died before this process got here
        end_tree_now()
    threading.Thread(target=watch, name="end-with-caller", daemon=True).start()
