"""Domain errors.  The CLI turns every ProvisionError into one line and exit code 2."""

from __future__ import annotations


class ProvisionError(Exception):
    """Base of every error the user can act on (bad input, failed tool, missing file)."""

    exit_code = 2


class ConfigError(ProvisionError):
    """Invalid input: a profile, a config file, a command-line value."""

    def __init__(self, where: str, message: str) -> None:
        self.where = where
        self.message = message
        super().__init__(f"{where}: {message}" if where else message)


class CommandError(ProvisionError):
    """An external command failed (non-zero exit, timeout, or could not start)."""

    def __init__(
        self,
        argv: list[str],
        returncode: int | None,
        stdout: str = "",
        stderr: str = "",
        reason: str = "",
    ) -> None:
        self.argv = list(argv)
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr
        self.reason = reason
        super().__init__(self._summary())

    def _summary(self) -> str:
        cmd = " ".join(self.argv[:4]) + (" ..." if len(self.argv) > 4 else "")
        what = self.reason or f"exit code {self.returncode}"
        tail = last_line(self.stderr) or last_line(self.stdout)
        return f"command failed ({what}): {cmd}" + (f": {tail}" if tail else "")


class BuildError(ProvisionError):
    """A build pass failed; the profile is held."""


class PublishError(ProvisionError):
    """Publication refused (unsigned package, ABI check, inconsistent index)."""


class InstallError(ProvisionError):
    """The installer cannot continue (no disk, bad signature, server unreachable)."""


class NotFound(ProvisionError):
    """A named thing (profile, host, snapshot) does not exist."""


def last_line(text: str) -> str:
    """The last non-empty line of a text, stripped, for one-line summaries."""
    for line in reversed(text.splitlines()):
        if line.strip():
            return line.strip()
    return ""
