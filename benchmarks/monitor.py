"""A child process run and measured: wall time, CPU time, output lines and the peak RSS of its tree.

Peak RSS is the largest kernel high-water mark (VmHWM) of any process of the tree or the sampled
sum of the tree's resident memory, whichever is larger, both read from ``/proc`` every 0.1 s.
"""

from __future__ import annotations

import contextlib
import resource
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class ProcessRun:
    """A finished child process: wall time, peak memory of its tree, output."""

    seconds: float
    returncode: int
    peak_rss_bytes: int  # the larger of hwm_bytes and sampled_peak_bytes
    hwm_bytes: int  # the largest VmHWM (kernel high-water mark of resident memory) of any process of the tree
    sampled_peak_bytes: int  # the largest sampled sum of the tree's resident memory
    stdout: str
    stderr: str
    cpu_seconds: float = 0.0  # user + system time of the tree (its reaped processes)
    samples: list[tuple[float, int]] = field(default_factory=list)
    lines: list[tuple[float, str]] = field(default_factory=list)


def _rss_hwm(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) of a process in bytes, from ``/proc/PID/status``."""
    values = {"VmRSS:": 0, "VmHWM:": 0}
    for line in Path(f"/proc/{pid}/status").read_text(encoding="utf-8").splitlines():
        key = line.split(None, 1)[0] if line else ""
        if key in values:
            values[key] = int(line.split()[1]) * 1024
    return values["VmRSS:"], values["VmHWM:"]


def _sample_tree(root: object, program: str, hwm: dict[int, int]) -> int | None:
    """The summed RSS of ``root`` and its descendants, updating each one's VmHWM in ``hwm``.

    None until ``root`` has executed ``program``: before its exec a child still shares or copies the
    harness's memory. (For the same reason the ``ru_maxrss`` of ``wait4`` is not used: Linux carries the
    forking parent's high-water mark into it.)
    """
    import psutil

    assert isinstance(root, psutil.Process)
    total = 0
    for proc in [root, *root.children(recursive=True)]:
        with contextlib.suppress(psutil.Error, OSError):
            if proc.pid == root.pid and proc.cmdline()[:1] != [program]:
                return None
            rss, peak = _rss_hwm(proc.pid)
            total += rss
            hwm[proc.pid] = max(hwm.get(proc.pid, 0), peak)
    return total


def run_monitored(command: Sequence[str], interval: float = 0.1, env: dict[str, str] | None = None) -> ProcessRun:
    """Run ``command``; its wall time, stdout, timestamped stderr lines and the peak RSS of its tree."""
    import psutil

    before = _children_cpu()
    started = time.perf_counter()
    child = subprocess.Popen(
        list(command), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, encoding="utf-8", env=env
    )
    out: list[str] = []
    lines: list[tuple[float, str]] = []
    readers = [
        threading.Thread(target=lambda: out.append(child.stdout.read() if child.stdout else "")),
        threading.Thread(target=_read_lines, args=(child, lines, started)),
    ]
    for reader in readers:
        reader.start()
    root = psutil.Process(child.pid)
    samples: list[tuple[float, int]] = []
    hwm: dict[int, int] = {}
    while child.poll() is None:
        total = _sample_tree(root, command[0], hwm)
        if total is not None:
            samples.append((time.perf_counter() - started, total))
        time.sleep(interval if samples else 0.005)
    seconds = time.perf_counter() - started
    for reader in readers:
        reader.join()
    sampled = max((rss for _, rss in samples), default=0)
    highest = max(hwm.values(), default=0)
    return ProcessRun(
        seconds=seconds, returncode=child.returncode, peak_rss_bytes=max(highest, sampled), hwm_bytes=highest,
        sampled_peak_bytes=sampled, stdout="".join(out), stderr="".join(line for _, line in lines),
        cpu_seconds=_children_cpu() - before, samples=samples, lines=lines,
    )  # fmt: skip


def _children_cpu() -> float:
    """User + system seconds of every child process reaped so far (one child runs at a time here)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _read_lines(child: subprocess.Popen, lines: list[tuple[float, str]], started: float) -> None:
    assert child.stderr is not None
    for line in child.stderr:
        lines.append((time.perf_counter() - started, line))


def run_checked(command: Sequence[str], env: dict[str, str] | None = None) -> ProcessRun:
    """``run_monitored``, raising ``RuntimeError`` with the end of its stderr when the command fails."""
    run = run_monitored(command, env=env)
    if run.returncode:
        raise RuntimeError(run.stderr[-2000:])
    return run
