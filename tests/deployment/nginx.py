"""nginx in front of several `chatbot serve` replicas, run as the test's own process: a config
file in a temporary folder (`-p prefix -c conf`, `daemon off;`, pid, logs and buffers there),
listening on a free port of 127.0.0.1. Never the system's nginx service.

The config is the one docs/DEPLOYMENT.md shows: the HTTP API (`/api/`, `/v1/`) is stateless
and goes to the least busy replica; everything else (the Gradio chat page and console, whose
queue and event stream live in one process) sticks to one replica per browser, chosen by a
cookie nginx sets on the first response (open-source nginx has no `sticky` directive).
The access log records which replica answered each request and its sticky key.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

NGINX = "/usr/sbin/nginx"
START_TIMEOUT_S = 15
ROUTE_COOKIE = "chatbot_replica"

CONFIG = """\
daemon off;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 1024; }}

http {{
    log_format replicas '$request_method $uri $status route=$chatbot_route upstream=$upstream_addr';
    access_log {prefix}/access.log replicas;
    client_body_temp_path {prefix}/client_body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;

    # The replica a browser sticks to: its cookie, or on its first request a new random id,
    # which the response then sets as that cookie.
    map $cookie_{cookie} $chatbot_route {{
        "" $request_id;
        default $cookie_{cookie};
    }}
    map $cookie_{cookie} $chatbot_route_cookie {{
        "" "{cookie}=$request_id; Path=/; HttpOnly; SameSite=Lax";
        default "";
    }}

    upstream chatbot_pages {{
        hash $chatbot_route consistent;
{servers}
    }}
    upstream chatbot_api {{
        least_conn;
{servers}
    }}

    server {{
        listen 127.0.0.1:{port};
        client_max_body_size 64m;

        proxy_http_version 1.1;
        proxy_set_header Host $http_host;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_set_header X-Forwarded-Proto $scheme;
        # Streamed answers (Server-Sent Events) reach the client as they are written.
        proxy_buffering off;
        proxy_read_timeout 300s;

        location /api/ {{ proxy_pass http://chatbot_api; }}
        location /v1/ {{ proxy_pass http://chatbot_api; }}
        location / {{
            add_header Set-Cookie $chatbot_route_cookie always;
            proxy_pass http://chatbot_pages;
        }}
    }}
}}
"""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def render_config(prefix: Path, port: int, replicas: Sequence[str]) -> str:
    """The config for `replicas` ("127.0.0.1:PORT" each)."""
    servers = "\n".join(f"        server {r} max_fails=1 fail_timeout=5s;" for r in replicas)
    return CONFIG.format(prefix=prefix, port=port, servers=servers, cookie=ROUTE_COOKIE)


@dataclass(frozen=True)
class Logged:
    request: str  # "METHOD /path STATUS"
    route: str  # the sticky key: the browser's cookie, or the request's id on a first visit
    upstream: str  # the replica's address, "127.0.0.1:PORT"


@dataclass
class Nginx:
    url: str
    prefix: Path
    proc: subprocess.Popen[bytes] = field(repr=False)

    def requests(self) -> list[Logged]:
        """Every request logged so far, with the replica that answered it."""
        rows = []
        for line in (self.prefix / "access.log").read_text().splitlines():
            rest, _, upstream = line.rpartition(" upstream=")
            request, _, route = rest.rpartition(" route=")
            rows.append(Logged(request, route, upstream))
        return rows

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)


def start_nginx(prefix: Path, replicas: Sequence[str]) -> Nginx:
    """nginx (no daemon) on a free port of 127.0.0.1 in front of `replicas`."""
    if shutil.which(NGINX) is None:
        raise RuntimeError(f"{NGINX} is missing: run `make e2e-deps` (apt-get install nginx)")
    prefix.mkdir(parents=True, exist_ok=True)
    port = free_port()
    conf = prefix / "nginx.conf"
    conf.write_text(render_config(prefix, port, replicas))
    log = (prefix / "stderr.log").open("wb")
    proc = subprocess.Popen(
        [NGINX, "-p", str(prefix), "-c", str(conf), "-e", str(prefix / "error.log")],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    log.close()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        if proc.poll() is not None:
            errors = (prefix / "error.log").read_text(errors="replace")
            raise RuntimeError(f"nginx exited with {proc.returncode}:\n{errors}")
        try:
            httpx.get(f"{url}/healthz", timeout=2)
            return Nginx(url, prefix, proc)
        except httpx.HTTPError as exc:
            if time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError(f"nginx did not answer at {url} in {START_TIMEOUT_S} s") from exc
            time.sleep(0.1)
