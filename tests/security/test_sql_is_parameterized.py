"""Every SQL statement in api/ is fixed text, values travel as bound parameters.

Read from the syntax tree, not grepped: the text given to execute() (and executemany, copy, stream)
must be built only from string literals and names bound to such literals, in the module or in the
function, through f-strings, `+` and str.join. `%` formatting and str.format() never qualify (they are
how values get pasted into SQL), and neither does any other name: a function's parameter, a loop
variable, an attribute. psycopg.sql composition (sql.SQL(...).format(sql.Identifier(...))) is allowed, and
so is warehouse.analytics_sql(fixed text) (psycopg.sql composition naming analytics relations).
"""

import ast
import textwrap

from settlement.config import PROJECT_ROOT

SQL_METHODS = {"execute", "executemany", "copy", "stream"}


def single_assignments(statements: list[ast.stmt]) -> dict[str, ast.expr]:
    """Names assigned exactly once, directly in these statements, with their values."""
    counts: dict[str, int] = {}
    values: dict[str, ast.expr] = {}
    for statement in statements:
        targets = statement.targets if isinstance(statement, ast.Assign) else []
        if isinstance(statement, ast.AnnAssign) and statement.value is not None:
            targets = [statement.target]
        for target in targets:
            if isinstance(target, ast.Name):
                counts[target.id] = counts.get(target.id, 0) + 1
                values[target.id] = statement.value
    return {name: values[name] for name, count in counts.items() if count == 1}


def assigned_anywhere(tree: ast.AST) -> dict[str, int]:
    counts: dict[str, int] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            counts[node.id] = counts.get(node.id, 0) + 1
    return counts


def is_psycopg_sql(node: ast.expr) -> bool:
    while isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in ("format", "join"):
        node = node.func.value
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "SQL"
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id == "sql"
    )


def is_analytics_sql(node: ast.expr) -> bool:
    """A call of warehouse.analytics_sql (by that name, or as warehouse.analytics_sql)."""
    if not isinstance(node, ast.Call):
        return False
    func = node.func
    if isinstance(func, ast.Name):
        return func.id == "analytics_sql"
    return (
        isinstance(func, ast.Attribute)
        and func.attr == "analytics_sql"
        and isinstance(func.value, ast.Name)
        and func.value.id == "warehouse"
    )


class StaticText:
    """Decides whether an expression is fixed text, given the names bound to fixed text."""

    def __init__(self, module: ast.Module):
        self.module_names = self.fixed_names(module, module.body, {})

    def fixed_names(self, scope: ast.AST, body: list[ast.stmt], known: dict[str, bool]) -> dict[str, bool]:
        """known, and the names the scope binds once only, directly in body, to fixed text."""
        once = {name for name, count in assigned_anywhere(scope).items() if count == 1}
        assignments = single_assignments(body)
        names = dict(known)
        changed = True
        while changed:  # module constants may refer to each other
            changed = False
            for name, value in assignments.items():
                if name in once and name not in names and self.is_fixed(value, names):
                    names[name] = True
                    changed = True
        return names

    def is_fixed(self, node: ast.expr, names: dict[str, bool]) -> bool:
        if isinstance(node, ast.Constant):
            return True
        if isinstance(node, ast.Name):
            return names.get(node.id, False)
        if isinstance(node, ast.JoinedStr):
            return all(self.is_fixed(part, names) for part in node.values)
        if isinstance(node, ast.FormattedValue):
            return self.is_fixed(node.value, names) and node.format_spec is None
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            return self.is_fixed(node.left, names) and self.is_fixed(node.right, names)
        if isinstance(node, (ast.Tuple, ast.List)):
            return all(self.is_fixed(element, names) for element in node.elts)
        if isinstance(node, ast.Starred):
            return self.is_fixed(node.value, names)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "join":
            return self.is_fixed(node.func.value, names) and all(self.is_fixed(arg, names) for arg in node.args)
        if is_analytics_sql(node):
            return len(node.args) == 1 and not node.keywords and self.is_fixed(node.args[0], names)
        return is_psycopg_sql(node)


def unbound_sql(source: str, filename: str = "<source>") -> tuple[list[str], int]:
    """(where SQL text is not fixed, how many SQL calls there are) in a module's source."""
    module = ast.parse(source, filename)
    static = StaticText(module)
    problems, calls = [], 0
    functions = [node for node in ast.walk(module) if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))]
    for function in functions:
        names = static.fixed_names(function, function.body, static.module_names)
        for node in ast.walk(function):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in SQL_METHODS):
                continue
            query = node.args[0] if node.args else next((k.value for k in node.keywords if k.arg == "query"), None)
            if query is None:
                continue
            calls += 1
            if not static.is_fixed(query, names):
                problems.append(f"{filename}:{node.lineno}: {ast.unparse(query)[:80]}")
    return problems, calls


def test_every_sql_statement_in_api_binds_its_values():
    problems, calls = [], 0
    for path in sorted((PROJECT_ROOT / "api").rglob("*.py")):
        found, counted = unbound_sql(path.read_text(), str(path.relative_to(PROJECT_ROOT)))
        problems += found
        calls += counted
    assert calls >= 20, f"only {calls} SQL calls found in api/: is the scan still looking at the right files?"
    assert not problems, "SQL text built from values (bind them as parameters instead):\n" + "\n".join(problems)


def flagged(snippet: str) -> list[str]:
    problems, calls = unbound_sql(textwrap.dedent(snippet))
    assert calls == 1, snippet
    return problems


def test_the_check_tells_pasted_values_from_fixed_text():
    fixed = [
        'async def f(conn, x):\n    await conn.execute("SELECT %s", (x,))',
        'COLUMNS = "a, b"\nasync def f(conn, x):\n    await conn.execute(f"SELECT {COLUMNS} FROM t WHERE a = %s", (x,))',
        'M = ("a", "b")\nALL = (*M, "c")\nasync def f(conn):\n    await conn.execute(f"SELECT {\', \'.join(ALL)} FROM t")',
        'async def f(conn, x):\n    query = "SELECT 1 " + "WHERE a = %(x)s"\n    await conn.execute(query, {"x": x})',
        'def g():\n    query = "SELECT 2"\nasync def f(conn):\n    query = "SELECT 1"\n    await conn.execute(query)',
        'from psycopg import sql\nasync def f(conn, t):\n    await conn.execute(sql.SQL("SELECT * FROM {}").format(sql.Identifier(t)))',
        'async def f(conn, x):\n    await conn.execute(analytics_sql("SELECT * FROM {fct_video_daily} WHERE a = %s"), (x,))',
        'C = "a"\nasync def f(conn):\n    await conn.execute(warehouse.analytics_sql(f"SELECT {C} FROM {{fct_video_daily}}"))',
    ]
    pasted = [
        'async def f(conn, x):\n    await conn.execute(f"SELECT * FROM t WHERE a = {x}")',
        'async def f(conn, x):\n    await conn.execute("SELECT * FROM t WHERE a = %s" % x)',
        'async def f(conn, x):\n    await conn.execute("SELECT * FROM t WHERE a = {}".format(x))',
        'async def f(conn, x):\n    await conn.execute("SELECT * FROM t WHERE a = \'" + x + "\'")',
        'async def f(conn, x):\n    query = f"SELECT {x}"\n    await conn.execute(query)',
        'async def f(conn, x):\n    query = "SELECT 1"\n    query = query + x\n    await conn.execute(query)',
        'COLUMNS = "a"\nasync def f(conn, x):\n    await conn.execute(f"SELECT {COLUMNS:{x}}")',
        'async def f(cursor, x):\n    await cursor.executemany(query=f"INSERT INTO t VALUES ({x})", params_seq=[])',
        "async def f(conn, self):\n    await conn.execute(self.query)",
        'async def f(conn, x):\n    await conn.execute(analytics_sql(f"SELECT * FROM t WHERE a = {x}"))',
        "async def f(conn, q):\n    await conn.execute(analytics_sql(q))",
    ]
    assert [snippet for snippet in fixed if flagged(snippet)] == []
    assert [snippet for snippet in pasted if not flagged(snippet)] == []
