"""The parallel check helper: a forked process that checks the second half of a large file
(PostgreSQL only, where the check phase leaves the database idle and the machine has a second
core) and hands back its counts, errors, rejected rows and spool. Everything here is about
doing that safely: its own database connections, a reader that does not move the parent's
file offset, and no helper outliving its import."""

from __future__ import annotations

import contextlib
import io
import mmap
import os
import pickle
import shutil
import signal
import struct
import tempfile
from typing import TYPE_CHECKING, BinaryIO

from django.db import connections

from orders.importing.reader import CsvSource, FileProblem
from orders.importing.results import MAX_SHOWN_ERRORS, RejectsWriter
from orders.importing.spool import Spool

if TYPE_CHECKING:
    from orders.importing.pipeline import OrderFileImport


class _PositionalReader(io.RawIOBase):
    """Reads a file descriptor with ``pread`` from its own position: a forked helper must not
    move the read offset it shares with its parent."""

    def __init__(self, fd: int) -> None:
        self._fd, self._pos = fd, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = os.pread(self._fd, len(buffer), self._pos)
        buffer[: len(data)] = data
        self._pos += len(data)
        return len(data)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET:
            self._pos = offset
        elif whence == io.SEEK_CUR:
            self._pos += offset
        else:
            self._pos = os.fstat(self._fd).st_size + offset
        return self._pos

    def tell(self) -> int:
        return self._pos


def private_reader(binary) -> BinaryIO | None:
    """How a forked helper reads the file without disturbing its parent; ``None``: it can't."""
    if isinstance(binary, io.BytesIO):
        return binary  # the helper has its own copy of the memory
    try:
        fd = binary.fileno()
        os.fstat(fd)
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        return None
    return io.BufferedReader(_PositionalReader(fd), buffer_size=1 << 20)


_COUNTER = struct.Struct("q")


_INHERITED: list = []  # the helper's inherited database wrappers: kept, never used or closed


def _fresh_connections() -> None:
    """In the helper: new database wrappers for every alias. The inherited ones may hold a
    socket the parent still uses (closing one, even by garbage collection, would end the
    parent's session), so they are kept referenced until ``os._exit``."""
    for alias in connections:
        _INHERITED.append(connections[alias])
        connections[alias] = connections.create_connection(alias)


def _end_with_parent() -> None:
    """In the helper: SIGTERM ends it (whatever handler the task worker installed), and on
    Linux it gets SIGTERM when the import process dies, so no helper outlives its import."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    with contextlib.suppress(OSError, AttributeError):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class CheckHelper:
    """A forked process checking a large file's second half (see ``OrderFileImport._run``).

    It writes three files the parent reads after it has checked the first half: the result
    (counts, errors, the spool index, as pickle), its rejected rows (CSV, in file order) and
    its spool. The parent closes its database connections before the fork; the helper starts with
    new ones and never touches those it inherited: each process has its own.
    """

    def __init__(self, pid: int, paths: dict[str, str], shared: mmap.mmap) -> None:
        self.pid, self.paths, self._shared = pid, paths, shared

    def rows_checked(self) -> int:
        """Rows the helper has checked so far (it counts into memory shared with us)."""
        return _COUNTER.unpack_from(self._shared)[0]

    @classmethod
    def start(cls, job: OrderFileImport, split_line: int) -> CheckHelper:
        paths = {}
        for name in ("result", "rejects", "spool"):
            fd, paths[name] = tempfile.mkstemp(prefix=f"bpo-import-{name}-")
            os.close(fd)
        shared = mmap.mmap(-1, _COUNTER.size)  # anonymous and shared with the child
        connections.close_all()
        pid = os.fork()
        if pid == 0:  # the helper: never returns
            code = 1
            try:
                _end_with_parent()
                _fresh_connections()
                job.progress = lambda result, _line: _COUNTER.pack_into(
                    shared, 0, result.total_rows
                )
                cls._work(job, split_line, paths)
                code = 0
            except BaseException as exc:  # reported to the parent, which raises it
                with open(paths["result"], "wb") as fh:
                    pickle.dump({"error": (isinstance(exc, FileProblem), str(exc))}, fh)
            finally:
                try:
                    connections.close_all()
                finally:
                    os._exit(code)
        return cls(pid, paths, shared)

    @staticmethod
    def _work(job: OrderFileImport, split_line: int, paths: dict[str, str]) -> None:
        with open(paths["rejects"], "w", newline="", encoding="utf-8") as rejects:
            report = job.report
            report.rejects = RejectsWriter(rejects) if report.rejects is not None else None
            with open(paths["spool"], "w+b") as spool:
                job.spool = Spool(file=spool)
                reader = private_reader(job.binary)
                reader.seek(0)
                job._check(CsvSource(reader), start_at=split_line)
        with open(paths["result"], "wb") as fh:
            pickle.dump({"result": job.result, "spooled": job.spool.index}, fh, protocol=5)

    def abandon(self) -> None:
        try:
            os.kill(self.pid, signal.SIGTERM)
            os.waitpid(self.pid, 0)
        finally:
            self._remove()
            self._shared.close()

    def _remove(self) -> None:
        for path in self.paths.values():
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)

    def merge_into(self, job: OrderFileImport) -> None:
        try:
            _, status = os.waitpid(self.pid, 0)
            with open(self.paths["result"], "rb") as fh:
                payload = pickle.load(fh) if os.path.getsize(self.paths["result"]) else {}
            if "error" in payload:
                is_file_problem, message = payload["error"]
                raise (FileProblem if is_file_problem else RuntimeError)(message)
            if "result" not in payload or status != 0:
                raise RuntimeError(f"The import's helper process failed (status {status}).")
            theirs, ours = payload["result"], job.result
            for name in (
                "total_rows",
                "orders_new",
                "lines_new",
                "orders_skipped",
                "orders_conflict",
                "orders_rejected",
                "rows_rejected",
                "error_count",
                "orders_created_earlier",
                "lines_created_earlier",
            ):
                setattr(ours, name, getattr(ours, name) + getattr(theirs, name))
            ours.skip_reasons.update(theirs.skip_reasons)
            ours.errors += theirs.errors[: max(MAX_SHOWN_ERRORS - len(ours.errors), 0)]
            if job._rejects_file is not None:
                with open(self.paths["rejects"], encoding="utf-8", newline="") as fh:
                    shutil.copyfileobj(fh, job._rejects_file)
            if payload["spooled"]:
                spool = open(self.paths["spool"], "rb")  # noqa: SIM115 (closed by run())
                job.spool.adopt(spool, payload["spooled"])
        finally:
            self._remove()  # (an open spool stays readable until closed)
            self._shared.close()
