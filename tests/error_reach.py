"""Which error codes can a route's own code raise? Read from the source, not from a run.

A reference graph over the modules of core/ and api/: a node is a module-level function, a
class (with its methods) or a module-level name; an edge is any name in its body that
resolves (a local definition, an import, `module.name`, `self.method`). An error is
"raisable" by a route when a node reachable from its endpoint builds it: a `MandateError`
subclass called with a literal `code=` (or its class code), a `PydanticCustomError` with a
literal type (the body models' validators), an error body written by hand, or a policy question that raises a refusal (`authorize`) for a
literal action, which can answer any refusal reason the policy gives for that action (read
from policies/decide.polar by asking the loaded policy). References over-approximate calls,
so this finds every code that can be raised and perhaps a few more: the check built on it
rejects no code a route can raise, yet does reject `insufficient_funds` on POST /v1/users
(tests/api/test_error_codes.py keeps both so). A method called on an object passed in is
reached through its class, which the code names where it annotates the parameter
(`tokens: TokenService`); an unannotated one would not be followed.
"""

from __future__ import annotations

import ast
import importlib
import inspect
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from oso import Variable

from core.errors import MandateError
from core.policy import engine as policy_engine
from core.policy.reasons import REASONS, TENANT_RULES
from core.settings import REPO_ROOT

PACKAGES = ("core", "api")
# The policy's seam, and the position of its action argument.
POLICY_SEAM = {
    ("core.policy.service", "authorize"): (2, "action"),
    ("core.policy.service", "permit"): (2, "action"),
}

Key = tuple[str, str]  # (module, top-level name or Class.method)


@dataclass
class ModuleIndex:
    name: str
    nodes: dict[str, ast.AST] = field(default_factory=dict)
    imports: dict[str, Key | str] = field(default_factory=dict)  # alias -> (mod, name) | mod


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO_ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_module(name: str) -> bool:
    base = REPO_ROOT.joinpath(*name.split("."))
    return base.with_suffix(".py").exists() or (base / "__init__.py").exists()


@cache
def _index() -> dict[str, ModuleIndex]:
    modules: dict[str, ModuleIndex] = {}
    for package in PACKAGES:
        for path in sorted((REPO_ROOT / package).rglob("*.py")):
            name = _module_name(path)
            index = ModuleIndex(name)
            tree = ast.parse(path.read_text())
            for stmt in tree.body:
                _index_statement(index, stmt)
            # An import inside a function (one that dodges an import cycle) names the same
            # thing for the whole module, as far as reach is concerned.
            for sub in ast.walk(tree):
                if isinstance(sub, ast.Import | ast.ImportFrom) and sub not in tree.body:
                    _index_statement(index, sub)
            modules[name] = index
    return modules


def _index_statement(index: ModuleIndex, stmt: ast.stmt) -> None:
    if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef):
        index.nodes[stmt.name] = stmt
    elif isinstance(stmt, ast.ClassDef):
        index.nodes[stmt.name] = stmt
        for item in stmt.body:
            if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                index.nodes[f"{stmt.name}.{item.name}"] = item
    elif isinstance(stmt, ast.Assign | ast.AnnAssign):
        targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
        for target in targets:
            if isinstance(target, ast.Name):
                index.nodes[target.id] = stmt
    elif isinstance(stmt, ast.ImportFrom) and stmt.module and stmt.level == 0:
        for alias in stmt.names:
            full = f"{stmt.module}.{alias.name}"
            target: Key | str = full if _is_module(full) else (stmt.module, alias.name)
            index.imports[alias.asname or alias.name] = target
    elif isinstance(stmt, ast.Import):
        for alias in stmt.names:
            index.imports[alias.asname or alias.name.split(".")[0]] = (
                alias.name if alias.asname else alias.name.split(".")[0]
            )


def _resolve_name(index: ModuleIndex, name: str) -> Key | str | None:
    if name in index.nodes:
        return (index.name, name)
    return index.imports.get(name)


def _resolve(index: ModuleIndex, expr: ast.expr, cls: str | None) -> Key | str | None:
    if isinstance(expr, ast.Name):
        return _resolve_name(index, expr.id)
    if isinstance(expr, ast.Attribute):
        if isinstance(expr.value, ast.Name) and expr.value.id in ("self", "cls") and cls:
            return (index.name, f"{cls}.{expr.attr}")
        base = _resolve(index, expr.value, cls)
        if isinstance(base, str):
            full = f"{base}.{expr.attr}"
            return full if _is_module(full) else (base, expr.attr)
        if isinstance(base, tuple):
            return (base[0], f"{base[1]}.{expr.attr}")
    return None


def _python_object(key: Key) -> Any:
    try:
        value: Any = importlib.import_module(key[0])
        for part in key[1].split("."):
            value = getattr(value, part)
    except (ImportError, AttributeError):
        return None
    return value


def _literal(node: ast.expr | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


@cache
def reasons_for(action: str | None) -> frozenset[str]:
    """The refusal reasons the policy can answer for `action` (every reason if unknown)."""
    if action is None:
        return frozenset(REASONS)
    engine = policy_engine.current()
    reasons = {"not_found", "missing_permission"}
    if not engine.holds("scope_allows", [], action):
        # An API client's token is refused what none of its scopes covers (decide.polar).
        reasons.add("scope_missing")
    if engine.holds("moves_money", action):
        reasons.add("counterparty_not_found")
    for answer in engine.query("conditions", action, Variable("names")):
        # Each condition is named by the reason it refuses with.
        reasons.update(answer["names"])
    if engine.holds("restrictable", action):
        # A company's own rules (tenant_refuses) may refuse it too, each by its own name.
        reasons.add(TENANT_RULES)
    return frozenset(reasons)


def _owner_class(key: Key) -> str | None:
    return key[1].split(".")[0] if "." in key[1] else None


def _node_facts(key: Key) -> tuple[set[Key], set[str]]:
    """(the nodes `key` refers to, the codes it builds)."""
    index = _index().get(key[0])
    node = index.nodes.get(key[1]) if index else None
    imported = index.imports.get(key[1]) if index else None
    if node is None and isinstance(imported, tuple):
        # A name a module imports and passes on (a facade's, e.g. core.iam.access) reaches
        # what it names.
        return {imported}, set()
    if index is None or node is None:
        return set(), set()
    cls = _owner_class(key) or (key[1] if isinstance(node, ast.ClassDef) else None)
    refs: set[Key] = set()
    codes: set[str] = set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name | ast.Attribute):
            target = _resolve(index, sub, cls)
            if isinstance(target, tuple):
                refs.add(target)
        if isinstance(sub, ast.Call):
            codes |= _codes_built(index, sub, cls)
        if isinstance(sub, ast.Dict):  # an error body written by hand: {"error": "code", ...}
            for k, v in zip(sub.keys, sub.values, strict=True):
                if k is not None and _literal(k) == "error" and _literal(v):
                    codes.add(str(_literal(v)))
    return refs, codes


def _codes_built(index: ModuleIndex, call: ast.Call, cls: str | None) -> set[str]:
    target = _resolve(index, call.func, cls)
    if not isinstance(target, tuple):
        return set()
    questions = _policy_questions()
    if target in questions:
        action = _argument(call, *questions[target])
        if isinstance(action, ast.Name) and action.id in _parameters_of(index, call):
            return set()  # forwarded: the caller's action counts, where it is given
        return set(reasons_for(_literal(action)))
    if target[1] == "PydanticCustomError":
        code = _literal(call.args[0]) if call.args else None
        return {code} if code else set()
    value = _python_object(target)
    if inspect.isclass(value) and issubclass(value, MandateError):
        for keyword in call.keywords:
            if keyword.arg == "code":
                literal = _literal(keyword.value)
                # A computed code is the policy's reason: counted at the policy question.
                return {literal} if literal else set()
        return {value.code}
    return set()


def _argument(call: ast.Call, position: int | None, name: str) -> ast.expr | None:
    for keyword in call.keywords:
        if keyword.arg == name:
            return keyword.value
    if position is not None and len(call.args) > position:
        return call.args[position]
    return None


def _functions() -> Iterator[tuple[Key, ModuleIndex, ast.FunctionDef | ast.AsyncFunctionDef]]:
    for index in _index().values():
        for name, node in index.nodes.items():
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                yield (index.name, name), index, node


def _positional_names(node: ast.FunctionDef | ast.AsyncFunctionDef) -> list[str]:
    return [a.arg for a in (*node.args.posonlyargs, *node.args.args)]


@cache
def _enclosing() -> dict[int, ast.FunctionDef | ast.AsyncFunctionDef]:
    """id(call) -> the function it is in."""
    found = {}
    for _key, _module, node in _functions():
        for sub in ast.walk(node):
            if isinstance(sub, ast.Call):
                found[id(sub)] = node
    return found


def _parameters_of(index: ModuleIndex, call: ast.Call) -> set[str]:
    node = _enclosing().get(id(call))
    if node is None:
        return set()
    return {a.arg for a in (*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs)}


@cache
def _policy_questions() -> dict[Key, tuple[int | None, str]]:
    """The seam, and every function that passes its own `action`-like parameter on to it (a
    helper such as the ledger's money mover): the action its callers give is what counts."""
    questions = dict(POLICY_SEAM)
    changed = True
    while changed:
        changed = False
        for key, index, node in _functions():
            if key in questions:
                continue
            positional = _positional_names(node)
            params = positional + [a.arg for a in node.args.kwonlyargs]
            cls = _owner_class(key)
            for sub in ast.walk(node):
                if not isinstance(sub, ast.Call):
                    continue
                target = _resolve(index, sub.func, cls)
                if target not in questions:
                    continue
                action = _argument(sub, *questions[target])  # type: ignore[index]
                if isinstance(action, ast.Name) and action.id in params:
                    name = action.id
                    questions[key] = (
                        positional.index(name) if name in positional else None,
                        name,
                    )
                    changed = True
                    break
    return questions


def _reachable(start: Key) -> Iterator[Key]:
    seen = {start}
    todo = [start]
    while todo:
        key = todo.pop()
        yield key
        refs, _ = _facts(key)
        for ref in refs:
            # A reference to a class reaches its methods too.
            ref_index = _index().get(ref[0])
            related = {ref}
            if ref_index and isinstance(ref_index.nodes.get(ref[1]), ast.ClassDef):
                related |= {(ref[0], n) for n in ref_index.nodes if n.startswith(f"{ref[1]}.")}
            for item in related - seen:
                seen.add(item)
                todo.append(item)


@cache
def _facts(key: Key) -> tuple[frozenset[Key], frozenset[str]]:
    refs, codes = _node_facts(key)
    return frozenset(refs), frozenset(codes)


def raisable_codes(endpoint: Callable[..., Any]) -> set[str]:
    """Every error code built by code reachable from a route's endpoint function."""
    codes: set[str] = set()
    for key in _reachable((endpoint.__module__, endpoint.__qualname__)):
        codes |= _facts(key)[1]
    return codes
