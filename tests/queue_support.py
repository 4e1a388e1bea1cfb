"""A real `redis-server` and worker processes for the queue tests (fakeredis cannot be killed).

Redis runs on a free loopback port (a port of $ENHANCE_TEST_PORTS=LOW-HIGH when set, so
engineers sharing a machine stay in their own ranges), in a temp dir, with the append-only file
on — so a restart keeps the streams, as it would in production. Workers and coordinators are
separate Python processes (`lib_enhance.testing.queue_process`), so a test can SIGKILL one.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, PngImagePlugin

REPO = Path(__file__).resolve().parents[1]


def make_folder(folder: Path, prompts: dict[int, str], count: int = 6) -> Path:
    """`count` 64×64 PNGs with A1111 `parameters` (prompt from `prompts`, seed 1000 + i)."""
    folder.mkdir(parents=True)
    for i in range(count):
        info = PngImagePlugin.PngInfo()
        info.add_text(
            "parameters",
            f"{prompts.get(i, f'photo number {i}')}\nNegative prompt: blurry\nSteps: 12, "
            f"Sampler: Euler a, CFG scale: 6.5, Seed: {1000 + i}, Size: 64x64",
        )
        arr = np.full((64, 64, 3), 25 * i, np.uint8)
        arr[12:44, 16:48] = (200, 150 - 25 * i // 2, 90)
        Image.fromarray(arr).save(folder / f"img{i}.png", pnginfo=info)
    return folder


@contextlib.contextmanager
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A fresh redis-server (append-only file on) in `tmp_path`, killed afterwards."""
    server = RedisServer(tmp_path / "redis").start()
    try:
        yield server
    finally:
        server.kill()


def free_port() -> int:
    """A loopback port nobody listens on."""
    span = os.environ.get("ENHANCE_TEST_PORTS", "")
    candidates = range(int(span.split("-")[0]), int(span.split("-")[1]) + 1) if span else [0]
    for port in candidates:
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return sock.getsockname()[1]
    raise RuntimeError(f"no free port in {span}")


class RedisServer:
    """One redis-server process; `restart` keeps the data (AOF), `kill` is SIGKILL."""

    def __init__(self, directory: Path, port: int | None = None):
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError(
                "redis-server is not installed: bash tools/run_tests.sh installs it "
                "(apt-get install redis-server)"
            )
        self.binary = binary
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        args = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1",
                "--dir", str(self.dir), "--appendonly", "yes", "--save", "",
                "--protected-mode", "no", "--logfile", str(self.dir / "redis.log")]  # fmt: skip
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as sock,
            ):
                sock.sendall(b"PING\r\n")
                if sock.recv(64).startswith(b"+PONG"):
                    return self
            time.sleep(0.05)
        raise RuntimeError(f"redis-server did not start on port {self.port}")

    def stop(self) -> None:
        """Graceful (SIGTERM): Redis flushes its append-only file first."""
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def restart(self, down_for: float = 0.0) -> None:
        self.stop()
        time.sleep(down_for)
        self.start()


class Processes:
    """Worker and coordinator processes of one test, stopped (SIGKILL) at teardown."""

    def __init__(self, url: str, tmp: Path, claim_after: float = 1.0):
        self.url = url
        self.tmp = tmp
        self.claim_after = claim_after
        self.procs: dict[str, subprocess.Popen] = {}

    def _spawn(self, name: str, args: list[str]) -> subprocess.Popen:
        code = "from lib_enhance.testing import queue_process; queue_process()"
        env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONDONTWRITEBYTECODE": "1"}
        log = open(self.tmp / f"{name}.log", "ab")  # noqa: SIM115 - lives as long as the process
        proc = subprocess.Popen([sys.executable, "-c", code, *args], cwd=REPO, env=env,
                                stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
        self.procs[name] = proc
        return proc

    def worker(self, worker_id: str, *extra: str, cost: float = 0.05) -> subprocess.Popen:
        events = str(self.events_file(worker_id))
        args = ["worker", self.url, worker_id, "--claim-after", str(self.claim_after),
                "--cost", str(cost), "--events", events, *extra]  # fmt: skip
        return self._spawn(worker_id, args)

    def coordinator(self, name: str, src: Path, dst: Path, config: Any) -> subprocess.Popen:
        args = ["coordinate", self.url, str(src), str(dst), "--claim-after",
                str(self.claim_after), "--result", str(self.tmp / f"{name}.json")]  # fmt: skip
        if config is not None:
            args += ["--config", json.dumps(config)]
        return self._spawn(name, args)

    def events_file(self, worker_id: str) -> Path:
        return self.tmp / f"{worker_id}.events"

    def events(self, worker_id: str, kind: str | None = None) -> list[dict[str, Any]]:
        path = self.events_file(worker_id)
        if not path.exists():
            return []
        lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        return [e for e in lines if kind is None or e["event"] == kind]

    def wait_for(self, predicate: Any, timeout: float = 60.0, what: str = "") -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what or predicate}; logs: {self.logs()}")

    def kill(self, name: str) -> None:
        proc = self.procs[name]
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)

    def stop(self, name: str) -> None:
        proc = self.procs[name]
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()

    def logs(self) -> str:
        return "\n".join(
            f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}"
            for p in sorted(self.tmp.glob("*.log"))
        )

    def close(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
