"""The layers' import rules: the library (settlement/, but its CLI) never imports the API or the CLI, and
routers import services, dependencies and schemas, never another router. Read from the source, with ast."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LIBRARY = ROOT / "settlement"
CLI = (LIBRARY / "commands", LIBRARY / "cli.py")
API = ROOT / "api"
NOT_FOR_THE_LIBRARY = ("api", "settlement.commands", "settlement.cli")


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every import in the file, at any depth (an import inside a function counts)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
            # `from settlement import commands` names the module in the alias
            found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
    return found


def is_under(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def library_modules() -> list[Path]:
    return sorted(
        path for path in LIBRARY.rglob("*.py")
        if not any(path == part or part in path.parents for part in CLI)
    )  # fmt: skip


def test_the_walk_sees_the_library():
    names = {path.relative_to(LIBRARY).as_posix() for path in library_modules()}
    assert {"pipeline.py", "scheduler.py", "warehouse.py", "generate/catalog.py"} <= names
    assert not any(name.startswith("commands/") or name == "cli.py" for name in names)


@pytest.mark.parametrize("path", library_modules(), ids=lambda path: path.relative_to(ROOT).as_posix())
def test_the_library_never_imports_the_api_or_the_cli(path: Path):
    wrong = [
        f"{path.relative_to(ROOT)}:{line} imports {module}"
        for line, module in imported_modules(path)
        if any(is_under(module, package) for package in NOT_FOR_THE_LIBRARY)
    ]
    assert not wrong, "; ".join(wrong)


@pytest.mark.parametrize("path", sorted(API.rglob("*.py")), ids=lambda path: path.relative_to(ROOT).as_posix())
def test_no_api_module_imports_a_router(path: Path):
    """Only the app (api/main.py) assembles the routers; a router's helpers live in a service or dependencies."""
    if path == API / "main.py":
        return
    wrong = [
        f"{path.relative_to(ROOT)}:{line} imports {module}"
        for line, module in imported_modules(path)
        if module.startswith("api.") and module.rsplit(".", 1)[-1] == "router"
    ]
    assert not wrong, "; ".join(wrong)


@pytest.mark.parametrize("path", sorted((LIBRARY / "commands").glob("*.py")), ids=lambda path: path.relative_to(ROOT).as_posix())
def test_no_command_imports_another_command(path: Path):
    """What two commands share lives in the library or in settlement.commands itself, not in one of them."""
    wrong = [
        f"{path.relative_to(ROOT)}:{line} imports {module}"
        for line, module in imported_modules(path)
        if is_under(module, "settlement.commands")
        and module.count(".") >= 2
        and module.split(".")[2] != path.stem
        and (LIBRARY / "commands" / f"{module.split('.')[2]}.py").exists()
    ]
    assert not wrong, "; ".join(wrong)
