"""A local Citus cluster (a coordinator and two workers on 127.0.0.1) for tests and benchmarks, and
building Citus from its vendored source when the PostgreSQL that runs the cluster lacks it.

    python -m tests.citus.cluster build [--force]
    python -m tests.citus.cluster up [--database NAME]     # prints the coordinator's URL
    python -m tests.citus.cluster status
    python -m tests.citus.cluster down [--remove]

The source (a `citus-*.tar.gz` and `*.patch` files) is found in $SETTLEMENT_CITUS_SOURCE when set,
else in <repo>/../shared/vendor/citus, else in /work/shared/vendor/citus. Ports come from
$SETTLEMENT_CITUS_PORTS ("coordinator,worker,worker"), the data from $SETTLEMENT_CITUS_DATA_DIR
(default .data/citus), the PostgreSQL from $SETTLEMENT_CITUS_PG_BINDIR (default the Debian 15 one).
"""

import argparse
import contextlib
import fcntl
import os
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import psycopg

from settlement import db

REPO_ROOT = Path(__file__).resolve().parents[2]
SOURCE_ENV = "SETTLEMENT_CITUS_SOURCE"
DEFAULT_SOURCE_DIRS = tuple(
    dict.fromkeys([(REPO_ROOT.parent / "shared" / "vendor" / "citus").resolve(), Path("/work/shared/vendor/citus")])
)
BUILD_DIR = REPO_ROOT / ".data" / "citus-build"
DEFAULT_DATA_DIR = REPO_ROOT / ".data" / "citus"
# Below Linux's ephemeral range (32768-60999): there, any outgoing connection may hold the port.
DEFAULT_PORTS = (25432, 25433, 25434)
DEFAULT_PG_BINDIR = Path("/usr/lib/postgresql/15/bin")
BUILD_JOBS = 2  # the machine's two cores are shared with other work
HOST = "127.0.0.1"
SUPERUSER = "postgres"
OS_USER = "postgres"  # PostgreSQL refuses to run as root: as root, its commands run as this user
CONF_FILE = "citus_cluster.conf"

# The Debian packages that Citus's configure and PGXS link against (PostgreSQL's own LIBS included).
BUILD_PACKAGES = (
    "libcurl4-openssl-dev", "liblz4-dev", "libzstd-dev", "libkrb5-dev", "libselinux1-dev", "libxslt1-dev",
    "libpam0g-dev", "libssl-dev", "zlib1g-dev", "libreadline-dev", "gcc", "make", "patch",
)  # fmt: skip

SERVER_SETTINGS = {
    "listen_addresses": f"'{HOST}'",
    # TCP only: a socket path under a deep checkout can pass the 107-byte limit.
    "unix_socket_directories": "''",
    "shared_preload_libraries": "'citus'",
    # dbt threads and an API pool, plus Citus's own: every coordinator session may open up to
    # citus.max_adaptive_executor_pool_size (16) connections to each worker.
    "max_connections": "200",
    "shared_buffers": "512MB",
    "work_mem": "32MB",
    "maintenance_work_mem": "256MB",
    "effective_cache_size": "4GB",
    "max_wal_size": "4GB",
    # A throwaway cluster for tests and benchmarks: durability is not worth the writes.
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    # All nodes share one host: no TLS between them. Without sslmode=disable, CREATE EXTENSION citus
    # turns ssl on and writes a self-signed certificate.
    "ssl": "off",
    "citus.node_conninfo": "'sslmode=disable'",
    "citus.local_hostname": f"'{HOST}'",
    "citus.enable_statistics_collection": "off",  # no daily report to citusdata.com
    # Shards per distributed table (Citus's default is 32): two per worker on this 2-core machine. Each
    # day partition of each distributed table has this many shards, each created on a worker: 32 made
    # the test scenario's five runs take 23-32 s instead of ~20 s. A production cluster keeps 32 or more
    # (shards are what rebalancing moves, so they bound how many workers can share a table).
    "citus.shard_count": "4",
}


class CitusError(RuntimeError):
    """A one-line reason, naming the log file that holds the details."""


def progress(message: str) -> None:
    print(f"[citus] {message}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def timed_step(name: str):
    progress(f"{name} ...")
    started = time.monotonic()
    yield
    progress(f"{name}: done in {time.monotonic() - started:.1f} s")


def run_logged(
    command: list[str], log_path: Path, *, step: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> None:
    """Run a command with its output appended to log_path; CitusError naming the log when it fails."""
    with log_path.open("a") as log:
        log.write(f"\n$ {shlex.join(command)}\n")
        log.flush()
        try:
            subprocess.run(command, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, check=True)
        except subprocess.CalledProcessError as error:
            raise CitusError(f"{step} failed (exit {error.returncode}); output in {log_path}") from None
        except FileNotFoundError:
            raise CitusError(f"{step} failed: {command[0]} not found") from None


def is_root() -> bool:
    return os.geteuid() == 0


def as_postgres_user(command: list[str]) -> list[str]:
    return ["runuser", "-u", OS_USER, "--", *command] if is_root() else command


def chown_to_postgres(path: Path) -> None:
    if is_root():
        shutil.chown(path, OS_USER, OS_USER)


class PostgresInstall:
    """The PostgreSQL installation (binaries and pg_config) that runs the cluster."""

    def __init__(self, bindir: Path | str | None = None):
        self.bindir = Path(bindir or os.environ.get("SETTLEMENT_CITUS_PG_BINDIR") or DEFAULT_PG_BINDIR)

    def binary(self, name: str) -> str:
        return str(self.bindir / name)

    @cached_property
    def _config(self) -> dict[str, str]:
        try:
            output = subprocess.run(
                [self.binary("pg_config"), "--pkglibdir", "--sharedir", "--version"],
                capture_output=True, text=True, check=True,
            ).stdout  # fmt: skip
        except (OSError, subprocess.CalledProcessError) as error:
            raise CitusError(f"no usable pg_config in {self.bindir}: {error}") from None
        pkglibdir, sharedir, version = output.splitlines()
        return {"pkglibdir": pkglibdir, "sharedir": sharedir, "version": version}

    @property
    def pkglibdir(self) -> Path:
        return Path(self._config["pkglibdir"])

    @property
    def extension_dir(self) -> Path:
        return Path(self._config["sharedir"]) / "extension"

    @property
    def major_version(self) -> str:
        return self._config["version"].split()[1].split(".")[0]  # "PostgreSQL 15.20 (Debian ...)"

    def has_citus(self) -> bool:
        return (self.pkglibdir / "citus.so").is_file() and (self.extension_dir / "citus.control").is_file()


# --- building Citus ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class CitusSource:
    tarball: Path
    patches: tuple[Path, ...]

    @property
    def top_dir(self) -> str:
        return self.tarball.name.removesuffix(".tar.gz")  # git archive --prefix=citus-13.2.2/


def find_citus_source() -> CitusSource:
    explicit = os.environ.get(SOURCE_ENV)
    candidates = [Path(explicit)] if explicit else list(DEFAULT_SOURCE_DIRS)
    for directory in candidates:
        tarballs = sorted(directory.glob("citus-*.tar.gz"))
        if tarballs:
            return CitusSource(tarball=tarballs[-1], patches=tuple(sorted(directory.glob("*.patch"))))
    places = f"${SOURCE_ENV}={explicit}" if explicit else f"${SOURCE_ENV} (unset), " + ", ".join(map(str, candidates))
    raise CitusError(f"no Citus source (citus-*.tar.gz) found in {places}")


def ensure_citus_installed(pg: PostgresInstall | None = None, *, force: bool = False) -> bool:
    """Build and install Citus into pg unless it is there already. True when it built."""
    pg = pg or PostgresInstall()
    if pg.has_citus() and not force:
        return False
    with build_lock():
        if pg.has_citus() and not force:  # another process built it while we waited
            return False
        build_and_install(pg, find_citus_source())
    if not pg.has_citus():
        raise CitusError(f"make install finished but citus.so or citus.control is missing in {pg.pkglibdir}")
    return True


@contextlib.contextmanager
def build_lock():
    """One build at a time on this machine: checkouts share the PostgreSQL they install into."""
    with open(Path(tempfile.gettempdir()) / "settlement-citus-build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def build_and_install(pg: PostgresInstall, source: CitusSource) -> None:
    if not os.access(pg.pkglibdir, os.W_OK):
        raise CitusError(f"Citus is missing from {pg.pkglibdir} and installing it there needs root")
    BUILD_DIR.mkdir(parents=True, exist_ok=True)
    log_path = BUILD_DIR / "build.log"
    log_path.write_text(f"building {source.tarball} for {pg.bindir}\n")
    progress(f"building Citus from {source.tarball} (log: {log_path})")
    started = time.monotonic()
    install_build_packages(pg.major_version, log_path)
    tree = unpack_and_patch(source, log_path)
    # with_llvm=no: no LLVM bitcode (only used to JIT-inline Citus's own functions): half the compiler runs.
    make_options = ["with_llvm=no"]
    with timed_step("configure"):
        run_logged(["./configure", f"PG_CONFIG={pg.binary('pg_config')}"], log_path, step="configure", cwd=tree)
    with timed_step(f"make -j{BUILD_JOBS}"):
        run_logged(["make", f"-j{BUILD_JOBS}", *make_options], log_path, step="make", cwd=tree)
    with timed_step("make install"):
        run_logged(["make", "install", *make_options], log_path, step="make install", cwd=tree)
    progress(f"Citus installed into {pg.pkglibdir} in {time.monotonic() - started:.1f} s")


def missing_packages(packages: list[str]) -> list[str]:
    result = subprocess.run(
        ["dpkg-query", "-W", "-f=${Package} ${db:Status-Status}\n", *packages],
        capture_output=True,
        text=True,
        check=False,
    )  # exits 1 when some package is unknown to dpkg; those are missing too
    installed = {line.split()[0].split(":")[0] for line in result.stdout.splitlines() if line.endswith(" installed")}
    return [package for package in packages if package not in installed]


def install_build_packages(pg_major: str, log_path: Path) -> None:
    missing = missing_packages([f"postgresql-server-dev-{pg_major}", *BUILD_PACKAGES])
    if not missing:
        progress("build dependencies: all installed")
        return
    if not is_root():
        raise CitusError(f"missing build dependencies (apt-get needs root): {' '.join(missing)}")
    install = ["apt-get", "install", "-y", "--no-install-recommends", *missing]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    with timed_step(f"apt-get install {' '.join(missing)}"):
        try:
            run_logged(install, log_path, step="apt-get install", env=env)
        except CitusError:  # package lists missing or stale (a fresh container): refresh them once
            run_logged(["apt-get", "update"], log_path, step="apt-get update", env=env)
            run_logged(install, log_path, step="apt-get install", env=env)


def unpack_and_patch(source: CitusSource, log_path: Path) -> Path:
    tree = BUILD_DIR / source.top_dir
    with timed_step(f"unpack {source.tarball.name}"):
        shutil.rmtree(tree, ignore_errors=True)  # always a pristine tree, so the patches apply
        run_logged(["tar", "-xzf", str(source.tarball), "-C", str(BUILD_DIR)], log_path, step="unpack")
    if not tree.is_dir():
        raise CitusError(f"{source.tarball} did not unpack into {tree}")
    for patch in source.patches:
        apply = ["patch", "-p1", "--batch", "--forward", "-i", str(patch)]
        run_logged(apply, log_path, step=f"patch {patch.name}", cwd=tree)
        progress(f"applied {patch.name}")
    return tree


# --- the cluster ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Node:
    name: str
    port: int
    home: Path  # owned by the postgres user: data/ and server.log

    @property
    def data_dir(self) -> Path:
        return self.home / "data"

    @property
    def server_log(self) -> Path:
        return self.home / "server.log"

    def url(self, dbname: str = "postgres") -> str:
        return db.to_url({"host": HOST, "port": self.port, "user": SUPERUSER, "dbname": dbname})

    def initialized_for(self, pg_major: str) -> bool:
        version_file = self.data_dir / "PG_VERSION"
        return version_file.is_file() and version_file.read_text().strip() == pg_major

    def running_pid(self) -> int | None:
        """The postmaster serving this data dir, read from its lock file and checked against /proc (a
        lock file left by a crash or a reboot may name a pid that is now another process)."""
        try:
            pid = int((self.data_dir / "postmaster.pid").read_text().split()[0])
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except (OSError, ValueError, IndexError):
            return None
        return pid if str(self.data_dir).encode() in cmdline else None

    def configured_port(self) -> int | None:
        try:
            lines = (self.data_dir / CONF_FILE).read_text().splitlines()
        except OSError:
            return None
        return next((int(line.split("=")[1]) for line in lines if line.startswith("port =")), None)

    def conf_text(self) -> str:
        settings = {**SERVER_SETTINGS, "port": str(self.port)}
        return "# written by tests/citus/cluster.py on every start\n" + "".join(
            f"{key} = {value}\n" for key, value in settings.items()
        )


@dataclass(frozen=True)
class NodeStatus:
    name: str
    port: int
    state: str  # "running", "stopped" or "absent"
    data_dir: Path


def port_in_use(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a just-stopped node's TIME_WAIT is no owner
        try:
            probe.bind((HOST, port))
        except OSError:
            return True
    return False


def env_ports() -> tuple[int, ...]:
    value = os.environ.get("SETTLEMENT_CITUS_PORTS")
    return tuple(int(port) for port in value.split(",")) if value else DEFAULT_PORTS


class CitusCluster:
    """A coordinator and two workers, each a PostgreSQL instance in base_dir/<name>.

    `with CitusCluster(database="x") as url:` brings it up and yields the coordinator's URL of that
    database; on exit it stops the nodes if this object started any (a cluster found running stays up).
    """

    def __init__(
        self,
        base_dir: Path | str | None = None,
        ports: tuple[int, int, int] | None = None,
        database: str | None = "settlement",
        pg_bindir: Path | str | None = None,
    ):
        self.base_dir = Path(base_dir or os.environ.get("SETTLEMENT_CITUS_DATA_DIR") or DEFAULT_DATA_DIR).resolve()
        ports = tuple(ports or env_ports())
        if len(ports) != 3 or len(set(ports)) != 3:
            raise CitusError(f"a Citus cluster needs three distinct ports (coordinator, worker, worker), not {ports}")
        names = ("coordinator", "worker1", "worker2")
        self.nodes = tuple(Node(name, port, self.base_dir / name) for name, port in zip(names, ports))
        self.database = database
        self.pg = PostgresInstall(pg_bindir)
        self.started_here = False

    @property
    def coordinator(self) -> Node:
        return self.nodes[0]

    @property
    def workers(self) -> tuple[Node, ...]:
        return self.nodes[1:]

    @property
    def command_log(self) -> Path:
        return self.base_dir / "commands.log"

    def url(self, dbname: str | None = None) -> str:
        """The coordinator's URL of dbname (default: this cluster's database, else postgres)."""
        return self.coordinator.url(dbname or self.database or "postgres")

    def __enter__(self) -> str:
        return self.up()

    def __exit__(self, *exc_info) -> None:
        if self.started_here:
            self.down()

    def up(self) -> str:
        """Build Citus if needed, init and start the nodes that are not running, create the database
        (extension on every node, workers registered). Returns the coordinator's URL of it."""
        ensure_citus_installed(self.pg)
        started = time.monotonic()
        self.base_dir.mkdir(parents=True, exist_ok=True)
        if not all(node.initialized_for(self.pg.major_version) for node in self.nodes):
            self._initialize_all()  # the nodes' metadata must agree: a missing one means all start over
        self._refuse_other_ports()
        stopped = [node for node in self.nodes if self._configure(node)]
        self._refuse_taken_ports(stopped)
        try:
            for node in stopped:
                self._start(node)
            if stopped:
                progress(f"started {', '.join(node.name for node in stopped)} in {time.monotonic() - started:.1f} s")
            if self.database:
                self.create_database(self.database)
        except BaseException:  # leave no node of ours running behind a failed (or interrupted) up
            self._stop(stopped)
            raise
        self.started_here = self.started_here or bool(stopped)
        return self.url()

    def down(self, remove: bool = False) -> None:
        """Stop the running nodes (fast mode); with remove, delete base_dir too."""
        self._stop(self.nodes)
        self.started_here = False
        if remove:
            shutil.rmtree(self.base_dir, ignore_errors=True)

    def status(self) -> list[NodeStatus]:
        def state(node: Node) -> str:
            if node.running_pid() is not None:
                return "running"
            return "stopped" if (node.data_dir / "PG_VERSION").is_file() else "absent"

        return [NodeStatus(node.name, node.port, state(node), node.data_dir) for node in self.nodes]

    def create_database(self, name: str) -> str:
        """The database on every node with the citus extension, and the workers registered in it (both
        idempotent). Returns the coordinator's URL of it."""
        for node in self.nodes:
            db.create_database_if_missing(node.url(), name)
            with psycopg.connect(node.url(name), autocommit=True) as conn:
                conn.execute("CREATE EXTENSION IF NOT EXISTS citus")
        with psycopg.connect(self.coordinator.url(name), autocommit=True) as conn:
            self._register_nodes(conn)
        return self.coordinator.url(name)

    def drop_database(self, name: str) -> None:
        """Drop the database on every node, coordinator first (its connections to the workers go with it)."""
        for node in self.nodes:
            if node.running_pid() is not None:
                db.drop_database(node.url(), name)

    def _register_nodes(self, conn: psycopg.Connection) -> None:
        conn.execute("SELECT citus_set_coordinator_host(%s, %s)", (HOST, self.coordinator.port))
        for worker in self.workers:
            conn.execute("SELECT citus_add_node(%s, %s)", (HOST, worker.port))  # no-op when registered

    def _refuse_other_ports(self) -> None:
        """Every database's Citus metadata names the nodes by port, so ports are fixed at initdb."""
        initialized_with = tuple(node.configured_port() for node in self.nodes)
        if None not in initialized_with and initialized_with != tuple(node.port for node in self.nodes):
            raise CitusError(
                f"the cluster in {self.base_dir} was set up with ports {','.join(map(str, initialized_with))}: "
                "use those, another data directory, or `down --remove` first"
            )

    def _refuse_taken_ports(self, nodes: list[Node]) -> None:
        """Checked before starting any node, so a taken port leaves no half-started cluster."""
        for node in nodes:
            if port_in_use(node.port):
                raise CitusError(
                    f"port {node.port} for the Citus {node.name} is taken by another process; "
                    "choose others with SETTLEMENT_CITUS_PORTS=coordinator,worker,worker (on a new data directory)"
                )

    def _initialize_all(self) -> None:
        self.down()
        with timed_step(f"initdb {len(self.nodes)} nodes in {self.base_dir}"):
            for node in self.nodes:
                shutil.rmtree(node.home, ignore_errors=True)
                node.home.mkdir(mode=0o700, parents=True)
                chown_to_postgres(node.home)
                initdb = [self.pg.binary("initdb"), "-D", str(node.data_dir), "-U", SUPERUSER, "--auth=trust"]
                locale = ["--encoding=UTF8", "--locale=C.UTF-8"]  # as the Debian server on 5432
                self._run(as_postgres_user([*initdb, *locale, "--no-sync", "--no-instructions"]), step=f"initdb {node.name}")
                with (node.data_dir / "postgresql.conf").open("a") as conf:
                    conf.write(f"include '{CONF_FILE}'\n")

    def _configure(self, node: Node) -> bool:
        """Write the node's settings; True when it has to be started (a running node whose settings
        changed is stopped first)."""
        conf = node.data_dir / CONF_FILE
        wanted = node.conf_text()
        changed = not conf.is_file() or conf.read_text() != wanted
        if changed:
            conf.write_text(wanted)
            chown_to_postgres(conf)
        if node.running_pid() is not None:
            if not changed:
                return False
            progress(f"{node.name}: settings changed, restarting")
            self._pg_ctl(node, "stop", "-m", "fast")
        return True

    def _start(self, node: Node) -> None:
        (node.data_dir / "postmaster.pid").unlink(missing_ok=True)  # stale: running_pid() found no postmaster
        try:
            self._pg_ctl(node, "start", "-t", "60", "-l", str(node.server_log))
        except CitusError as error:
            raise CitusError(f"{error}; server log {node.server_log}") from None

    def _stop(self, nodes) -> None:
        for node in nodes:
            if node.running_pid() is not None:
                self._pg_ctl(node, "stop", "-m", "fast")

    def _pg_ctl(self, node: Node, action: str, *options: str) -> None:
        command = [self.pg.binary("pg_ctl"), action, "-D", str(node.data_dir), "-w", *options]
        self._run(as_postgres_user(command), step=f"pg_ctl {action} {node.name}")

    def _run(self, command: list[str], *, step: str) -> None:
        # cwd "/": the postgres user may not enter the caller's directory (root's home, say)
        run_logged(command, self.command_log, step=step, cwd=Path("/"))


# --- command line -----------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.citus.cluster", description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=["up", "down", "status", "build"])
    parser.add_argument("--dir", help=f"data directory (default $SETTLEMENT_CITUS_DATA_DIR or {DEFAULT_DATA_DIR})")
    default_ports = ",".join(map(str, DEFAULT_PORTS))
    parser.add_argument("--ports", help=f"coordinator,worker,worker (default $SETTLEMENT_CITUS_PORTS or {default_ports})")
    parser.add_argument("--database", default="settlement", help="database that up creates (default settlement)")
    parser.add_argument("--remove", action="store_true", help="down: delete the data directory too")
    parser.add_argument("--force", action="store_true", help="build: rebuild and reinstall even when installed")
    args = parser.parse_args(argv)
    ports = tuple(int(port) for port in args.ports.split(",")) if args.ports else None
    try:
        cluster = CitusCluster(base_dir=args.dir, ports=ports, database=args.database)
        if args.action == "build":
            started = time.monotonic()
            built = ensure_citus_installed(cluster.pg, force=args.force)
            progress(f"{'built' if built else 'already installed'} ({time.monotonic() - started:.3f} s)")
        elif args.action == "up":
            print(cluster.up())
        elif args.action == "down":
            cluster.down(remove=args.remove)
        else:
            progress(f"citus.so in {cluster.pg.pkglibdir}: {'yes' if cluster.pg.has_citus() else 'no'}")
            for node in cluster.status():
                print(f"{node.name:12} {node.port:6} {node.state:8} {node.data_dir}")
    except CitusError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
