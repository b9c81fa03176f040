"""One writer per output: `<output>/_lock.json`, created only if absent, naming its holder.

    with OutputLock(output_uri, purpose="run", ttl_s=300) as lock:
        ...            # lock.check() raises LockLost if another process took the lock over
    # OutputLock(...).acquire() raises LockHeld (holder: host, pid, start time) or OutputNotWritable

Creation is atomic everywhere: locally a complete temp file hard-linked to the lock name (fails if it
exists), on S3 a PUT with `If-None-Match: *`. The holder refreshes a heartbeat every `ttl_s / 3`
seconds. A lock is taken over when its holder is dead (same host, no such pid) or its heartbeat is
older than its TTL; takeover and heartbeat are compare-and-swap (an flock'ed guard locally, `If-Match`
on the ETag on S3), so two runs can never both believe they hold it.
"""
from __future__ import annotations

import datetime
import json
import logging
import os
import socket
import threading
import time
import uuid
from dataclasses import asdict, dataclass
from typing import Optional

import psutil

from operators import storage
from pipelines.io.lock_backends import backend_for

log = logging.getLogger(__name__)
LOCK_NAME = "_lock.json"


class OutputNotWritable(RuntimeError):
    """The output cannot be written (a regular file, a read-only path, a missing bucket)."""


@dataclass(frozen=True)
class Holder:
    host: str
    pid: int
    started: str  # ISO 8601, UTC
    heartbeat: float  # epoch seconds of the last refresh
    ttl_s: float
    purpose: str
    token: str
    pid_created: float = 0.0  # the process's start time: tells a live holder from a reused pid

    def describe(self) -> str:
        age = max(0.0, time.time() - self.heartbeat)
        return (f"{self.purpose} on host {self.host}, pid {self.pid}, started {self.started} "
                f"(heartbeat {age:.0f} s ago, ttl {self.ttl_s:.0f} s)")

    def is_stale(self) -> bool:
        if self.host == socket.gethostname() and not _process_alive(self.pid, self.pid_created):
            return True
        return time.time() - self.heartbeat > self.ttl_s


class LockHeld(RuntimeError):
    """Another live run holds the output's lock."""

    def __init__(self, output_uri: str, holder: Holder):
        super().__init__(f"output {output_uri} is locked by another run: {holder.describe()}; it is taken "
                         f"over once that process has exited or its heartbeat is older than its ttl")
        self.holder = holder


class LockLost(RuntimeError):
    """The lock was taken over while this run held it (its heartbeat stalled past the TTL)."""


class OutputLock:
    def __init__(self, output_uri: str, purpose: str = "run", ttl_s: float = 300.0, force: bool = False):
        """`force`: take the lock over even from a holder that looks alive (`--force-unlock`; logged)."""
        self.output_uri, self.purpose, self.ttl_s, self.force = output_uri, purpose, ttl_s, force
        self.uri = storage.join(output_uri, LOCK_NAME)
        self.token = uuid.uuid4().hex
        self.started = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
        self._backend = None
        self._version: Optional[bytes | str] = None
        self._lost = False
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    def __enter__(self) -> "OutputLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()

    def acquire(self) -> "OutputLock":
        self._backend = backend_for(self.uri)
        for _ in range(3):
            record = self._record()
            try:
                self._version = self._backend.create(record)
                if self._version is None:
                    self._version = self._take_over(record)
            except OSError as err:
                raise OutputNotWritable(f"output {self.output_uri} is not writable: {_reason(err)}") from None
            if self._version is not None:
                self._start_heartbeat()
                return self
        raise RuntimeError(f"could not acquire {self.uri}: it changed hands three times")

    def check(self) -> None:
        if self._lost:
            raise LockLost(f"lost the lock on {self.output_uri}: another run took it over")

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self._version is not None and not self._lost:
            self._backend.delete(self._version)
        self._version = None

    def _take_over(self, record: bytes) -> Optional[bytes | str]:
        found = self._backend.read()
        if found is None:
            return None  # released meanwhile: try to create it again
        data, version = found
        holder = parse_holder(data)
        forced = holder is not None and not holder.is_stale()
        if forced and not self.force:
            raise LockHeld(self.output_uri, holder)
        taken = self._backend.replace(record, version)
        if taken is not None:
            log.warning("took over the lock on %s from %s: %s", self.output_uri,
                        "a holder that looked alive (forced: --force-unlock)" if forced else "a dead or expired holder",
                        holder.describe() if holder else "unreadable lock file")
        return taken

    def _record(self) -> bytes:
        holder = Holder(socket.gethostname(), os.getpid(), self.started, time.time(), self.ttl_s,
                        self.purpose, self.token, _created(os.getpid()))
        return json.dumps(asdict(holder), sort_keys=True).encode()

    def _start_heartbeat(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._beat, name="output-lock-heartbeat", daemon=True)
        self._thread.start()

    def _beat(self) -> None:
        while not self._stop.wait(self.ttl_s / 3):
            try:
                version = self._backend.replace(self._record(), self._version)
            except Exception as err:  # storage hiccup: the next beat tries again before the TTL runs out
                log.warning("lock heartbeat on %s failed: %s", self.output_uri, type(err).__name__)
                continue
            if version is None:
                self._lost = True
                log.error("lost the lock on %s: another run took it over", self.output_uri)
                return
            self._version = version


def parse_holder(data: bytes) -> Optional[Holder]:
    try:
        return Holder(**json.loads(data.decode("utf-8")))
    except (ValueError, TypeError):
        return None


def read_holder(output_uri: str) -> Optional[Holder]:
    """Who holds the output's lock now (None: nobody)."""
    found = backend_for(storage.join(output_uri, LOCK_NAME)).read()
    return parse_holder(found[0]) if found else None


def _process_alive(pid: int, created: float) -> bool:
    try:
        return abs(psutil.Process(pid).create_time() - created) < 1.0 if created else psutil.pid_exists(pid)
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True


def _created(pid: int) -> float:
    return psutil.Process(pid).create_time()


def _reason(err: OSError) -> str:
    if isinstance(err, NotADirectoryError):
        return "a path component is a regular file, not a directory"
    return err.strerror or type(err).__name__
