"""Reading docker-compose.yml the way `docker compose` does, for what the tests need."""

import os
import re
import shutil
import signal
import subprocess
import threading
import time

import yaml

from settlement import clock
from settlement.config import PROJECT_ROOT

COMPOSE_FILE = PROJECT_ROOT / "docker-compose.yml"
VARIABLE = re.compile(r"\$\{(?P<name>\w+)(?:(?P<op>:-|:\?)(?P<arg>[^}]*))?\}")


class MissingVariable(ValueError):
    pass


def interpolate(text: str, variables: dict[str, str]) -> str:
    """Compose's ${NAME}, ${NAME:-default} and ${NAME:?error}."""

    def value(match: re.Match) -> str:
        name, op, arg = match["name"], match["op"], match["arg"]
        if variables.get(name):
            return variables[name]
        if op == ":?":
            raise MissingVariable(f"{name}: {arg}")
        return arg if op == ":-" else ""

    return VARIABLE.sub(value, text)


def load_compose(variables: dict[str, str]) -> dict:
    """The compose file with YAML anchors merged and variables interpolated."""
    raw = yaml.safe_load(COMPOSE_FILE.read_text())

    def walk(node):
        if isinstance(node, dict):
            return {key: walk(item) for key, item in node.items()}
        if isinstance(node, list):
            return [walk(item) for item in node]
        return interpolate(node, variables) if isinstance(node, str) else node

    return walk(raw)


def local_command(command: list[str]) -> list[str]:
    """The service's command, with the console script from this project's virtual environment."""
    executable = PROJECT_ROOT / ".venv" / "bin" / command[0]
    return [str(executable) if executable.exists() else shutil.which(command[0]) or command[0], *command[1:]]


def service_environment(service: dict, database_url: str) -> dict[str, str]:
    """The service's environment, but with the test database (the compose one names the host `db`)."""
    environment = {key: str(value) for key, value in service.get("environment", {}).items()}
    environment["DATABASE_URL"] = database_url
    environment["PATH"] = f"{PROJECT_ROOT / '.venv' / 'bin'}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}"
    # the suite's clock (settlement.clock): the services read "now" where the test does
    environment |= {name: os.environ[name] for name in (clock.SHIFT_VARIABLE, "PGOPTIONS") if name in os.environ}
    return environment


class Process:
    """A service process; its output (stdout and stderr) collected line by line."""

    def __init__(self, command: list[str], environment: dict[str, str]):
        self.popen = subprocess.Popen(
            local_command(command),
            env=environment,
            cwd=PROJECT_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.popen.stdout:
            self.lines.append(line)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def wait_for(self, text: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.output:
                return True
            if self.popen.poll() is not None:
                self._reader.join(timeout=5)
                return text in self.output
            time.sleep(0.1)
        return False

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM, as `docker compose stop` does; the exit code."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
        try:
            code = self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            code = self.popen.wait()
        self._reader.join(timeout=5)
        return code
