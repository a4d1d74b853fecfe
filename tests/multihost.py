"""Several `voicebot serve` instances on loopback sharing one PostgreSQL, behind nginx.

For the multi-host test and scripts/bench_hosts.py. Each instance is started the way an
operator starts one, `voicebot serve` with settings in the environment (whatever server that
command runs), in its own process group, so kill() takes it down whole (its decoder and
speech workers too), like a host that dies. The load balancer is deploy/nginx.conf itself,
with the compose file's instance names replaced by the local ports. Each instance's log
(JSON lines naming the CallSid) tells which instance served which request of a call.

    with Hosts(cluster, 3, tmp_dir) as hosts:
        hosts.lb_url; hosts.instances[1].url
        hosts.served("call.started", call_sid) -> {1}
        hosts.kill(1)
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.pg import PostgresCluster, free_port

ROOT = Path(__file__).resolve().parent.parent
NGINX_CONF = ROOT / "deploy" / "nginx.conf"
AUTH_TOKEN = "multihost-twilio-token"
API_TOKEN = "multihost-api-token"
HASH_KEY = "multihost-hash-key"


def nginx_config(upstreams: list[int], listen_port: int) -> str:
    """deploy/nginx.conf with its instances and port replaced by local ones."""
    text = NGINX_CONF.read_text()
    servers = re.findall(r"^\s*server voicebot\d+:8080.*$", text, flags=re.M)
    if not servers:
        raise RuntimeError(f"{NGINX_CONF}: no 'server voicebotN:8080' lines to replace")
    options = servers[0].split(":8080", 1)[1]
    local = "\n".join(f"        server 127.0.0.1:{port}{options}" for port in upstreams)
    text = text.replace("\n".join(servers), local)
    return text.replace("listen 80;", f"listen 127.0.0.1:{listen_port};")


def nginx_check(config: Path, prefix: Path) -> subprocess.CompletedProcess:
    """`nginx -t` on a configuration, with the pid and error log in `prefix`."""
    return subprocess.run(["nginx", "-t", "-p", str(prefix), "-c", str(config),
                           "-g", f"pid {prefix}/nginx.pid; error_log {prefix}/error.log;"],
                          capture_output=True, text=True, timeout=30)


@dataclass
class Instance:
    index: int
    port: int
    log: Path
    process: subprocess.Popen

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def events(self) -> list[dict[str, Any]]:
        """The instance's JSON log lines (other lines are skipped)."""
        out = []
        for line in self.log.read_text(errors="replace").splitlines():
            if line.startswith("{"):
                with contextlib.suppress(ValueError):
                    out.append(json.loads(line))
        return out


class Hosts:
    def __init__(self, cluster: PostgresCluster, count: int, tmp: Path, *,
                 env: dict[str, str] | None = None) -> None:
        self.cluster = cluster
        self.count = count
        self.tmp = tmp
        self.extra_env = env or {}
        self.lb_port = free_port()
        self.lb_url = f"http://127.0.0.1:{self.lb_port}"
        self.database_url = ""
        self.instances: list[Instance] = []
        self.nginx: subprocess.Popen | None = None

    # ------------------------------------------------------------------ start and stop

    def __enter__(self) -> Hosts:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def env(self, port: int) -> dict[str, str]:
        clean = {k: v for k, v in os.environ.items()
                 if not k.startswith(("VOICEBOT_", "TWILIO_"))}
        return {**clean, "PYTHONPATH": str(ROOT), "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
                "VOICEBOT_API_TOKEN": API_TOKEN, "VOICEBOT_HASH_KEY": HASH_KEY,
                "VOICEBOT_DATABASE_URL": self.database_url,
                "VOICEBOT_PUBLIC_URL": self.lb_url,  # what Twilio requests, and signs
                "VOICEBOT_HOST": "127.0.0.1", "VOICEBOT_PORT": str(port),
                "VOICEBOT_ENGINE": "pocketsphinx", "VOICEBOT_LOG_FORMAT": "json",
                "VOICEBOT_TTS_CACHE": str(self.tmp / "tts-cache"), **self.extra_env}

    def start(self) -> None:
        self.database_url = self.cluster.new_database(upgraded=False)
        upgrade = subprocess.run([sys.executable, "-m", "voicebot", "db", "upgrade"],
                                 env=self.env(self.lb_port), cwd=ROOT, capture_output=True,
                                 text=True, timeout=120)
        if upgrade.returncode != 0:
            raise RuntimeError(f"voicebot db upgrade failed: {upgrade.stderr}")
        for index in range(self.count):
            port = free_port()
            log = self.tmp / f"instance-{index}.log"
            with open(log, "w") as out:
                process = subprocess.Popen([sys.executable, "-m", "voicebot", "serve"],
                                           env=self.env(port), cwd=ROOT, stdout=out,
                                           stderr=subprocess.STDOUT, start_new_session=True)
            self.instances.append(Instance(index, port, log, process))
        self._start_nginx()
        for instance in self.instances:
            self._wait_healthy(instance.url + "/healthz", instance)

    def _start_nginx(self) -> None:
        config = self.tmp / "nginx.conf"
        config.write_text(nginx_config([i.port for i in self.instances], self.lb_port))
        check = nginx_check(config, self.tmp)
        if check.returncode != 0:
            raise RuntimeError(f"nginx -t: {check.stderr}")
        with open(self.tmp / "nginx-access.log", "w") as out:
            self.nginx = subprocess.Popen(
                ["nginx", "-p", str(self.tmp), "-c", str(config), "-g",
                 f"daemon off; pid {self.tmp}/nginx.pid; error_log {self.tmp}/error.log;"],
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)

    def _wait_healthy(self, url: str, instance: Instance, timeout_s: float = 300) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                with urllib.request.urlopen(url, timeout=2) as resp:
                    if resp.status == 200:
                        return
            except OSError:
                pass
            if not instance.alive:
                raise RuntimeError(f"instance {instance.index} exited: "
                                   + instance.log.read_text()[-3000:])
            if time.monotonic() > deadline:
                raise RuntimeError(f"instance {instance.index} did not come up")
            time.sleep(0.3)

    def kill(self, index: int) -> None:
        """SIGKILL the instance and every process it started, like a host that dies."""
        instance = self.instances[index]
        with contextlib.suppress(ProcessLookupError):
            os.killpg(instance.process.pid, signal.SIGKILL)
        instance.process.wait(30)

    def stop(self) -> None:
        for instance in self.instances:
            if instance.alive:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(instance.process.pid, signal.SIGTERM)
        for instance in self.instances:
            try:
                instance.process.wait(20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(instance.process.pid, signal.SIGKILL)
        if self.nginx is not None and self.nginx.poll() is None:
            self.nginx.send_signal(signal.SIGQUIT)
            try:
                self.nginx.wait(10)
            except subprocess.TimeoutExpired:
                self.nginx.kill()

    # ------------------------------------------------------------------ who served what

    def served(self, event: str, call_sid: str, key: str = "call_sid") -> set[int]:
        """The instances whose log has `event` for this call."""
        return {i.index for i in self.instances
                if any(e.get("event") == event and e.get(key) == call_sid
                       for e in i.events())}

    def error_lines(self) -> list[str]:
        return [f"instance {i.index}: {e.get('event')}" for i in self.instances
                for e in i.events() if e.get("level") == "error"]
