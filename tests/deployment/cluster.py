"""Several real `chatbot serve` replicas on one fresh PostgreSQL database, each with its own
data dir, sharing the secret key and the Redis rate limit, with nginx in front
(tests/deployment/nginx.py). Used by tests/deployment/test_replicas.py and
benchmarks/replicas.py.

As docs/DEPLOYMENT.md says: the migrations run once (`chatbot db upgrade`) before any
replica starts; then the replicas start together.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from tests.deployment.nginx import Nginx, start_nginx
from tests.served import Server, chatbot_command, free_port, server_env

POSTGRES_ADMIN_URL = os.environ.get(
    "CHATBOT_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
# Not the unit tests' database (15): both runs may share one Redis.
REDIS_URL = os.environ.get("CHATBOT_TEST_REPLICAS_REDIS_URL", "redis://127.0.0.1:6379/14")
RATE_KEY_PREFIX = "chatbot:ratelimit:"
START_TIMEOUT_S = 600


def _admin() -> sa.Engine:
    return sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)


def create_database(prefix: str = "chatbot_replicas") -> str:
    """A new, empty database on the PostgreSQL server; its URL."""
    name = f"{prefix}_{os.getpid()}_{secrets.token_hex(4)}"
    admin = _admin()
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError as exc:
        shown = make_url(POSTGRES_ADMIN_URL).render_as_string(hide_password=True)
        raise RuntimeError(
            f"PostgreSQL is not reachable at {shown} (start the server or set "
            f"CHATBOT_TEST_POSTGRES_URL): {exc.orig or exc}"
        ) from exc
    finally:
        admin.dispose()
    return make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)


def drop_database(url: str) -> None:
    admin = _admin()
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)'))
    admin.dispose()


def clear_rate_limits(redis_url: str = REDIS_URL) -> None:
    """Remove the rate-limit counts a run left in the replicas' Redis database."""
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match=f"{RATE_KEY_PREFIX}*"))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


def shared_env(database_url: str, redis_url: str = REDIS_URL) -> dict[str, str]:
    """What every replica must share (docs/DEPLOYMENT.md)."""
    return {
        "CHATBOT_DATABASE_URL": database_url,
        "CHATBOT_SERVER__SECRET_KEY": secrets.token_urlsafe(32),
        "CHATBOT_API__RATE_LIMIT_REDIS_URL": redis_url,
        "CHATBOT_SERVER__TRUSTED_PROXIES": "127.0.0.1",
    }


def run_cli(env: Mapping[str, str], *args: str) -> str:
    done = subprocess.run(
        [*chatbot_command(), *args],
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"chatbot {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
    return done.stdout


def create_key(cluster: Cluster, name: str, role: str, rate: int) -> str:
    """An API key made through the staff services (what `chatbot keys create` calls)."""
    from chatbot.container import key_actions
    from chatbot.settings import Settings
    from chatbot.staff.actor import CLI

    settings = Settings(database_url=cluster.database_url, data_dir=cluster.replicas[0].data_dir)
    return key_actions(settings).create(CLI, name, role, rate).key


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/", timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


def start_replicas(
    root: Path, count: int, env: Mapping[str, str], per_replica: Mapping[int, Mapping[str, str]]
) -> list[Server]:
    """`count` replicas started together, each with its own data dir under `root`; returns
    once every one answers. `per_replica[i]` adds settings for replica i only."""
    servers: list[Server] = []
    for i in range(count):
        replica_root = root / f"replica{i + 1}"
        replica_root.mkdir(parents=True, exist_ok=True)
        replica_env = server_env(replica_root, {**env, **per_replica.get(i, {})})
        port = free_port()
        log = replica_root / "serve.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [*chatbot_command(), "serve", "--host", "127.0.0.1", "--port", str(port)],
                env=replica_env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        url = f"http://127.0.0.1:{port}"
        servers.append(Server(url, replica_root, replica_root / "data", log, replica_env, proc))
    deadline = time.monotonic() + START_TIMEOUT_S
    waiting = list(servers)
    while waiting:
        for s in list(waiting):
            if s.proc.poll() is not None:
                stop_all(servers)
                raise RuntimeError(
                    f"replica {s.url} exited with {s.proc.returncode}:\n{s.log_text()}"
                )
            if _ready(s.url):
                waiting.remove(s)
        if waiting and time.monotonic() > deadline:
            stop_all(servers)
            raise RuntimeError(f"replicas did not answer in {START_TIMEOUT_S} s")
        time.sleep(0.5)
    return servers


def stop_all(servers: list[Server]) -> None:
    for s in servers:
        if s.proc.poll() is None:
            s.proc.terminate()
    for s in servers:
        try:
            s.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            s.proc.kill()
            s.proc.wait(timeout=20)


@dataclass
class Cluster:
    database_url: str
    env: dict[str, str]
    replicas: list[Server]
    nginx: Nginx

    def stop(self) -> None:
        self.nginx.stop()
        stop_all(self.replicas)


def start_cluster(
    root: Path,
    database_url: str,
    count: int,
    extra_env: Mapping[str, str] | None = None,
    per_replica: Mapping[int, Mapping[str, str]] | None = None,
) -> Cluster:
    """Migrate once, start `count` replicas together, then nginx in front of them."""
    env = {**shared_env(database_url), **(extra_env or {})}
    run_cli(server_env(root / "migrate", env), "db", "upgrade")
    replicas = start_replicas(root, count, env, per_replica or {})
    try:
        proxy = start_nginx(root / "nginx", [s.url.removeprefix("http://") for s in replicas])
    except Exception:
        stop_all(replicas)
        raise
    return Cluster(database_url, env, replicas, proxy)
