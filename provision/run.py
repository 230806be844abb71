"""The one subprocess chokepoint: argv lists only, captured output, timeout, one error type."""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import tempfile
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from provision.errors import CommandError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Result:
    argv: list[str]
    returncode: int
    stdout: str
    stderr: str


def run(
    argv: Sequence[str | os.PathLike[str]],
    *,
    env: Mapping[str, str] | None = None,
    extra_env: Mapping[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
    timeout: float | None = 600,
    check: bool = True,
    input: str | bytes | None = None,
    log_path: Path | None = None,
    interactive: bool = False,
) -> Result:
    """Run argv and return its Result; raise CommandError on failure when check is set.

    With log_path, stdout and stderr go (appended, interleaved) to that file instead of being
    captured in memory; the Result then carries the log's last 4 KiB as stdout.
    With interactive, the program uses this process's terminal (an editor): nothing is captured.
    """
    args = [os.fspath(a) for a in argv]
    full_env = dict(os.environ if env is None else env)
    if extra_env:
        full_env.update(extra_env)
    log.debug("run: %s", args)
    data = input.encode() if isinstance(input, str) else input
    try:
        if interactive:
            proc = subprocess.run(args, env=full_env, cwd=cwd, timeout=timeout, check=False)
            out, err = "", ""
        elif log_path is not None:
            log_path.parent.mkdir(parents=True, exist_ok=True)
            with open(log_path, "ab") as fh:
                proc = subprocess.run(
                    args,
                    env=full_env,
                    cwd=cwd,
                    timeout=timeout,
                    input=data,
                    stdout=fh,
                    stderr=subprocess.STDOUT,
                    stdin=None if data is not None else subprocess.DEVNULL,
                    check=False,
                )
            out, err = tail_of(log_path), ""
        else:
            proc = subprocess.run(
                args,
                env=full_env,
                cwd=cwd,
                timeout=timeout,
                input=data,
                capture_output=True,
                stdin=None if data is not None else subprocess.DEVNULL,
                check=False,
            )
            out = proc.stdout.decode(errors="replace")
            err = proc.stderr.decode(errors="replace")
    except FileNotFoundError as exc:
        raise CommandError(args, None, reason=f"{args[0]} not found") from exc
    except subprocess.TimeoutExpired as exc:
        raise CommandError(args, None, reason=f"timed out after {timeout} s") from exc
    result = Result(args, proc.returncode, out, err)
    if check and proc.returncode != 0:
        raise CommandError(args, proc.returncode, out, err)
    return result


def tail_of(path: Path, size: int = 4096) -> str:
    """The last `size` bytes of a file as text (for error summaries and event log tails)."""
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            end = fh.tell()
            fh.seek(max(0, end - size))
            return fh.read().decode(errors="replace")
    except FileNotFoundError:
        return ""


def run_feeding(
    argv: Sequence[str | os.PathLike[str]],
    chunks: Iterable[bytes],
    *,
    env: Mapping[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
    timeout: float | None = 3600,
) -> Result:
    """Run argv with `chunks` streamed to its stdin (e.g. tar -x fed by a verified download).

    stdout and stderr go to temporary files (no pipe deadlock, bounded memory).  If the program
    exits early, or the chunk iterator raises, the program is stopped and the error propagates
    (a CommandError for the program, the iterator's own exception otherwise).
    """
    args = [os.fspath(a) for a in argv]
    log.debug("run (feeding stdin): %s", args)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        try:
            proc = subprocess.Popen(
                args,
                stdin=subprocess.PIPE,
                stdout=out,
                stderr=err,
                env=dict(env or os.environ),
                cwd=cwd,
            )
        except FileNotFoundError as exc:
            raise CommandError(args, None, reason=f"{args[0]} not found") from exc
        assert proc.stdin is not None
        broken = False
        try:
            for chunk in chunks:
                try:
                    proc.stdin.write(chunk)
                except BrokenPipeError:
                    broken = True
                    break
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        finally:
            with contextlib.suppress(BrokenPipeError):
                proc.stdin.close()
        # Popen.wait(timeout) polls with sleeps of up to 50 ms; block instead, with a kill timer.
        expired = threading.Event()

        def expire() -> None:
            expired.set()
            proc.kill()

        timer = threading.Timer(timeout, expire) if timeout else None
        if timer:
            timer.start()
        try:
            proc.wait()
        finally:
            if timer:
                timer.cancel()
        if expired.is_set():
            raise CommandError(args, None, reason=f"timed out after {timeout} s")
        out.seek(0)
        err.seek(0)
        result = Result(
            args,
            proc.returncode,
            out.read().decode(errors="replace"),
            err.read().decode(errors="replace"),
        )
    if proc.returncode != 0 or broken:
        raise CommandError(args, proc.returncode, result.stdout, result.stderr)
    return result


class Spawned:
    """A long-running program (a daemon kept in the foreground) started by spawn()."""

    def __init__(self, argv: list[str], proc: subprocess.Popen[bytes], log_path: Path) -> None:
        self.argv = argv
        self.proc = proc
        self.log_path = log_path

    @property
    def running(self) -> bool:
        return self.proc.poll() is None

    def stop(self, timeout: float = 10) -> int:
        """SIGTERM, then SIGKILL after `timeout` seconds; returns the exit status."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def check(self) -> None:
        """Raise CommandError (with the log's tail) if the program has exited."""
        if self.proc.poll() is not None:
            raise CommandError(self.argv, self.proc.returncode, tail_of(self.log_path))


def spawn(
    argv: Sequence[str | os.PathLike[str]],
    *,
    log_path: Path,
    env: Mapping[str, str] | None = None,
) -> Spawned:
    """Start a long-running program with its output appended to log_path; stop() ends it."""
    args = [os.fspath(a) for a in argv]
    log.debug("spawn: %s", args)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as fh:
        try:
            proc = subprocess.Popen(
                args, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env
            )
        except FileNotFoundError as exc:
            raise CommandError(args, None, reason=f"{args[0]} not found") from exc
    return Spawned(args, proc, log_path)
