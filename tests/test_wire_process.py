"""`chronik-lab serve` as a process (issue 19 items 1, 7, 9, 11): stopped by SIGTERM, short of
file handles, given absurd arguments, killed and started again. Real processes on 127.0.0.1;
every process a test starts is stopped or killed in a finally."""

from __future__ import annotations

import os
import resource
import signal
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from kafka.protocol.metadata import ApiVersionsRequest, MetadataRequest
from kafka.protocol.producer import ProduceRequest
from kafka_frames import call, record_batch
from served import ENV, run_cli, served

import chronik_lab as cl


class _Address:
    def __init__(self, bootstrap: str) -> None:
        host, port = bootstrap.rsplit(":", 1)
        self.host, self.port = host, int(port)


@contextmanager
def _served(*args: str, env=None, limit_files: int | None = None) -> Iterator[tuple]:
    """`chronik-lab serve` (served.served) with at most `limit_files` open files."""

    def limits() -> None:
        if limit_files is not None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (limit_files, limit_files))

    with served(*args, env=env, preexec=limits) as (proc, bootstrap):
        yield proc, _Address(bootstrap)


def _connect(address: _Address) -> socket.socket:
    sock = socket.create_connection((address.host, address.port), timeout=5)
    sock.settimeout(5)
    return sock


def _produce(sock, values: list[bytes], topic: str = "t") -> int:
    """Create the topic (Metadata), then write `values` with acks=1; the error code."""
    call(sock, MetadataRequest(topics=[MetadataRequest.MetadataRequestTopic(name=topic)]), 1)
    part = ProduceRequest.TopicProduceData.PartitionProduceData(
        index=0, records=record_batch(*values)
    )
    data = ProduceRequest.TopicProduceData(name=topic, partition_data=[part])
    ack = call(sock, ProduceRequest(acks=1, timeout_ms=1000, topic_data=[data]), 7)
    return ack.responses[0].partition_responses[0].error_code


@pytest.mark.slow
def test_sigterm_stops_the_server_as_cleanly_as_ctrl_c(tmp_path):
    data = tmp_path / "data"
    with _served("--data-dir", str(data), "--flush-batches", "100", "--partitions", "1") as (
        proc,
        address,
    ):
        with _connect(address) as sock:
            for i in range(5):  # acknowledged, pending: 5 batches of 100 before a flush
                assert _produce(sock, [b"%d" % i] * 3) == 0
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    with cl.Broker(data) as broker:
        assert broker.high_watermark("t", 0) == 15


@pytest.mark.slow
def test_running_out_of_file_handles_is_logged_once_and_served_after(tmp_path):
    with _served(limit_files=64) as (proc, address):
        clients = []
        try:
            for _ in range(150):  # more than the server can hold open
                clients.append(socket.create_connection((address.host, address.port), timeout=5))
            time.sleep(3)
        finally:
            for sock in clients:
                sock.close()
        deadline = time.monotonic() + 10
        while True:  # the accept loop's back-off is at most 1 s
            try:
                with _connect(address) as sock:
                    assert call(sock, ApiVersionsRequest(), 0).error_code == 0
                break
            except (ConnectionError, TimeoutError, OSError):
                assert time.monotonic() < deadline
                time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=15)
        log = proc.stderr.read()
    assert "Too many open files" in log
    assert len(log.splitlines()) < 10, log[:2000]


def test_serve_refuses_an_absurd_partition_count_in_one_line():
    done = run_cli("serve", "--port", "0", "--partitions", "99999999999", timeout=30)
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1 and "partitions" in done.stderr


@pytest.mark.slow
def test_a_killed_servers_private_directory_is_removed_by_the_next_start(tmp_path):
    env = ENV | {"TMPDIR": str(tmp_path)}
    with _served(env=env) as (proc, address):
        with _connect(address) as sock:
            assert _produce(sock, [b"x" * 1000] * 10) == 0
        left = [p for p in tmp_path.iterdir() if p.is_dir()]
        assert len(left) == 1
        proc.kill()
        proc.wait()
    assert left[0].exists()  # SIGKILL: nobody removed it
    an_hour_ago = time.time() - 3600  # a directory just made may be a server starting there
    os.utime(left[0], (an_hour_ago, an_hour_ago))
    with _served(env=env) as (proc, address):
        assert not left[0].exists()
        assert len([p for p in tmp_path.iterdir() if p.is_dir()]) == 1  # its own
    assert not any(tmp_path.iterdir())  # removed when it stopped
