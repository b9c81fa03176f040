"""The output lock on a local path and on moto's S3: exclusive, names its holder, taken over from a
dead or expired holder, released; a stalled holder whose lock was taken over notices."""
import json
import socket
import subprocess
import sys
import time

import pytest

from pipelines.io.lock import LOCK_NAME, LockHeld, LockLost, OutputLock, OutputNotWritable, read_holder
from pipelines.io.lock_backends import backend_for


@pytest.fixture(params=["local", "s3"])
def output(request, tmp_path):
    if request.param == "local":
        return str(tmp_path / "out")
    return f"s3://{request.getfixturevalue('s3_bucket')}/out"


def plant(output, **fields):
    """A lock file as another holder would have left it."""
    holder = {"host": socket.gethostname(), "pid": 1, "started": "2026-01-01T00:00:00+00:00",
              "heartbeat": time.time(), "ttl_s": 300.0, "purpose": "instructpipe run", "token": "other"}
    holder.update(fields)
    backend_for(output.rstrip("/") + "/" + LOCK_NAME).create(json.dumps(holder).encode())


def test_second_holder_is_refused_with_the_holders_details(output):
    with OutputLock(output, purpose="instructpipe run") as first:
        with pytest.raises(LockHeld) as refused:
            OutputLock(output).acquire()
        holder = refused.value.holder
        assert (holder.host, holder.pid, holder.started) == (socket.gethostname(), first_pid(), first.started)
        assert f"pid {holder.pid}" in str(refused.value) and holder.started in str(refused.value)
    assert read_holder(output) is None
    OutputLock(output).acquire().release()  # free again


def first_pid():
    import os
    return os.getpid()


def test_dead_holder_on_this_host_is_taken_over(output):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    plant(output, pid=dead.pid)
    with OutputLock(output) as lock:
        assert read_holder(output).token == lock.token


def test_live_holder_elsewhere_is_taken_over_only_after_its_ttl(output):
    plant(output, host="another-host", pid=4242, heartbeat=time.time())
    with pytest.raises(LockHeld, match="another-host, pid 4242"):
        OutputLock(output).acquire()
    backend = backend_for(output.rstrip("/") + "/" + LOCK_NAME)
    data, version = backend.read()
    backend.replace(json.dumps({**json.loads(data), "heartbeat": time.time() - 301}).encode(), version)
    with OutputLock(output) as lock:
        assert read_holder(output).token == lock.token


def test_heartbeat_keeps_a_short_ttl_alive_and_notices_a_takeover(output):
    lock = OutputLock(output, ttl_s=0.6).acquire()
    try:
        time.sleep(1.5)  # several TTLs: only the heartbeat keeps it fresh
        with pytest.raises(LockHeld):
            OutputLock(output).acquire()
        backend = backend_for(lock.uri)
        data, version = backend.read()
        backend.replace(json.dumps({**json.loads(data), "token": "thief"}).encode(), version)
        time.sleep(0.6)
        with pytest.raises(LockLost):
            lock.check()
    finally:
        lock.release()
    assert read_holder(output).token == "thief"  # release leaves a lock it no longer holds


def test_output_that_is_a_regular_file_is_not_writable(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputNotWritable, match="regular file"):
        OutputLock(str(tmp_path / "file" / "out")).acquire()


def test_missing_bucket_is_not_writable(s3_server):
    with pytest.raises(OutputNotWritable, match="no-such-bucket"):
        OutputLock("s3://no-such-bucket-13/out").acquire()


def test_force_takes_over_a_live_holder_and_says_so(tmp_path, caplog):
    import logging
    from pipelines.io.lock import LockHeld, OutputLock, read_holder
    out = str(tmp_path / "root")
    with OutputLock(out, purpose="first", ttl_s=60):
        try:
            OutputLock(out, purpose="second", ttl_s=60).acquire()
            raise AssertionError("a live holder's lock was taken without force")
        except LockHeld:
            pass
        with caplog.at_level(logging.WARNING):
            forced = OutputLock(out, purpose="second", ttl_s=60, force=True).acquire()
        assert read_holder(out).purpose == "second" and "--force-unlock" in caplog.text
        forced.release()
