"""Off-board backups against a real S3-compatible server (moto) on 127.0.0.1."""

from __future__ import annotations

import hashlib
import socket
import threading
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from daemon_harness import Client, ProbeDaemon, start_daemon, wait_for
from moto.server import ThreadedMotoServer

from arduino_trader.adapters.clock import ManualClock
from arduino_trader.adapters.offsite_backup import OffsiteBackups, S3Target
from arduino_trader.config.settings import env_name
from arduino_trader.daemon.cli import main

BUCKET = "board-backups"
PREFIX = "arduino-trader/"
T0 = datetime(2026, 3, 2, 3, 0, tzinfo=UTC)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def s3_url() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=_free_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    # moto keeps its state per process: start every test from an empty account.
    urllib.request.urlopen(urllib.request.Request(url + "/moto-api/reset", method="POST"),
                           timeout=10).close()
    _client(url).create_bucket(Bucket=BUCKET)
    yield url
    server.stop()


def _client(url: str) -> Any:
    return boto3.client("s3", endpoint_url=url, region_name="us-east-1",
                        aws_access_key_id="test-key", aws_secret_access_key="test-secret")


def _env(url: str, **extra: str) -> dict[str, str]:
    env = {env_name("backup.s3_endpoint_url"): url, env_name("backup.s3_bucket"): BUCKET,
           env_name("backup.s3_region"): "us-east-1",
           env_name("backup.s3_access_key_id"): "test-key",
           env_name("backup.s3_secret_access_key"): "test-secret"}
    return {**env, **{env_name(k): v for k, v in extra.items()}}


def _objects(url: str) -> dict[str, Any]:
    listing = _client(url).list_objects_v2(Bucket=BUCKET, Prefix=PREFIX)
    return {o["Key"][len(PREFIX):]: o for o in listing.get("Contents", [])}


class CuttingProxy:
    """A TCP proxy on 127.0.0.1 that drops every connection after ``limit`` bytes sent
    upstream: an upload that fails midway, on every retry."""

    def __init__(self, upstream_port: int, limit: int) -> None:
        self.upstream_port = upstream_port
        self.limit = limit
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.server.getsockname()[1])
        self.cut = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            threading.Thread(target=self._pump, args=(conn, upstream, self.limit),
                             daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, conn, None),
                             daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, limit: int | None) -> None:
        sent = 0
        try:
            while data := src.recv(65536):
                if limit is not None and sent + len(data) > limit:
                    dst.sendall(data[:limit - sent])
                    self.cut += 1
                    break
                dst.sendall(data)
                sent += len(data)
        except OSError:
            pass
        for sock in (src, dst):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    def close(self) -> None:
        self.server.close()


def _run_backup(api: Client) -> dict[str, Any]:
    code, _ = api.call("POST", "/api/system/jobs/backup")
    assert code == 202
    wait_for(lambda: api.call("GET", "/api/system/jobs/backup")[1]["status"] == "idle",
             timeout=30, what="backup job")
    job: dict[str, Any] = api.call("GET", "/api/system/jobs/backup")[1]
    return job


def test_each_backup_is_uploaded_verified_and_retention_applies(tmp_path: Path,
                                                                  s3_url: str) -> None:
    clock = ManualClock(T0)
    daemon = start_daemon(tmp_path / "state", env=_env(s3_url, **{
        "backup.s3_retention_count": "2"}), clock=clock)
    try:
        api = Client(daemon)
        for _ in range(3):
            job = _run_backup(api)
            assert job["last_result"] == "ok", job["last_summary"]
            assert "uploaded and verified" in job["last_summary"]
            clock.advance(timedelta(minutes=1))
        local = sorted((tmp_path / "state" / "backups").glob("*.db"))
        remote = _objects(s3_url)
        assert sorted(remote) == [p.name for p in local[-2:]]  # the oldest was pruned
        newest = local[-1]
        head = _client(s3_url).head_object(Bucket=BUCKET, Key=PREFIX + newest.name)
        assert head["Metadata"]["sha256"] == hashlib.sha256(newest.read_bytes()).hexdigest()
    finally:
        daemon.gate.set()
        daemon.stop()


def test_an_upload_cut_midway_fails_the_job_and_keeps_older_backups(tmp_path: Path,
                                                                     s3_url: str) -> None:
    older = "arduino-trader-20260101T030000Z.db"
    _client(s3_url).put_object(Bucket=BUCKET, Key=PREFIX + older, Body=b"older backup")
    proxy = CuttingProxy(int(s3_url.rsplit(":", 1)[1]), limit=4096)
    daemon: ProbeDaemon = start_daemon(
        tmp_path / "state", env=_env(f"http://127.0.0.1:{proxy.port}",
                                     **{"backup.s3_retention_count": "1"}),
        clock=ManualClock(T0))
    try:
        api = Client(daemon)
        job = _run_backup(api)
        assert job["last_result"] == "failed"
        assert "off-board upload FAILED" in job["last_summary"]
        assert job["consecutive_failures"] == 1
        assert proxy.cut >= 1
        assert len(list((tmp_path / "state" / "backups").glob("*.db"))) == 1  # local stands
        assert list(_objects(s3_url)) == [older]  # nothing partial; retention did not run
        uploads = _client(s3_url).list_multipart_uploads(Bucket=BUCKET)
        assert not uploads.get("Uploads")
    finally:
        proxy.close()
        daemon.gate.set()
        daemon.stop()


def _target(url: str) -> S3Target:
    return S3Target(url, BUCKET, PREFIX, "us-east-1", "test-key", "test-secret", 5)


def _sqlite_file(path: Path) -> Path:
    import sqlite3

    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE t (x INTEGER)")
    conn.execute("INSERT INTO t VALUES (42)")
    conn.commit()
    conn.close()
    return path


def test_restore_fetches_and_verifies_a_chosen_backup(tmp_path: Path, s3_url: str,
                                                      monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]
                                                      ) -> None:
    for key, value in _env(s3_url).items():
        monkeypatch.setenv(key, value)
    name = "arduino-trader-20260301T030000Z.db"
    source = _sqlite_file(tmp_path / name)
    OffsiteBackups(_target(s3_url)).upload(source)
    assert main(["offsite-backups"]) == 0
    assert name in capsys.readouterr().out
    dest = tmp_path / "restored.db"
    assert main(["offsite-backups", "--restore", name, "--to", str(dest)]) == 0
    assert dest.read_bytes() == source.read_bytes()
    assert main(["offsite-backups", "--restore", name, "--to", str(dest)]) == 1
    assert "exists" in capsys.readouterr().err
    assert main(["offsite-backups", "--restore", "../etc/passwd", "--to",
                 str(tmp_path / "x.db")]) == 1
    assert "not a backup name" in capsys.readouterr().err


def test_restore_refuses_a_corrupt_object_and_leaves_nothing(
        tmp_path: Path, s3_url: str, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    for key, value in _env(s3_url).items():
        monkeypatch.setenv(key, value)
    name = "arduino-trader-20260301T030000Z.db"
    source = _sqlite_file(tmp_path / name)
    OffsiteBackups(_target(s3_url)).upload(source)
    client = _client(s3_url)
    head = client.head_object(Bucket=BUCKET, Key=PREFIX + name)
    damaged = bytearray(source.read_bytes())
    damaged[200] ^= 0xFF  # one flipped byte, as a bad disk or a broken transfer leaves
    client.put_object(Bucket=BUCKET, Key=PREFIX + name, Body=bytes(damaged),
                      Metadata=head["Metadata"])
    dest = tmp_path / "restore" / "restored.db"
    dest.parent.mkdir()
    assert main(["offsite-backups", "--restore", name, "--to", str(dest)]) == 1
    assert "is corrupt" in capsys.readouterr().err
    assert list(dest.parent.iterdir()) == []  # neither the file nor a partial


def test_a_bad_endpoint_fails_the_job_with_the_reason(tmp_path: Path) -> None:
    daemon = start_daemon(tmp_path / "state", env=_env("not a url"), clock=ManualClock(T0))
    try:
        job = _run_backup(Client(daemon))
        assert job["last_result"] == "failed"
        assert "refused by the S3 client" in job["last_summary"]
        assert len(list((tmp_path / "state" / "backups").glob("*.db"))) == 1
    finally:
        daemon.gate.set()
        daemon.stop()
