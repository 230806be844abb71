"""Where passes run.  In-process by default; a remote executor (e.g. a task queue) implements the
same one-method interface and returns the same PassResult."""

from __future__ import annotations

from typing import Protocol

from provision.builder.job import PassJob, PassResult, Report, run_pass


class Executor(Protocol):
    def run(self, job: PassJob, report: Report) -> PassResult: ...


class InProcessExecutor:
    def run(self, job: PassJob, report: Report) -> PassResult:
        return run_pass(job, report)
