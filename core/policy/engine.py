"""The oso wrapper: loads policies/*.polar once per process and answers decide/5.

Two ways to evaluate, with the same answers (tests/core/policy/test_compiled.py proves it):

* direct: the facts, values and all, go to Polar; the first answer of decide/5 is the
  decision. About 0.3-1 ms per decision: the Polar VM is slow at dict lookups.
* compiled (the default): facts are split into static ones (the actor, the resource, the
  grants and their limits) and dynamic ones (the amount, the time, today's totals).
  Polar partially evaluates decide/5 with the dynamic facts left unknown, and answers
  with residual conditions such as "amount <= 500000 and 540 <= minute". Those residues
  are cached per (policy version, static facts) and checked in order against the dynamic
  values: a few microseconds, whatever the time, the amount or the totals.

  The cache key holds every static fact, so a change to a grant, a role, a cap or the
  policy makes a new key: nothing stale can be read. Dynamic facts may appear in Polar
  only in comparisons and unifications (never under `not` or `forall`, which partial
  evaluation does not preserve); the equivalence tests hold the policy to that rule.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import itertools
import logging
import marshal
import operator
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from oso import Oso, Variable
from polar.expression import Expression
from polar.polar import Source

from core import metrics

log = logging.getLogger("mandate.policy")

DECIDE_OUTPUTS = ("decision", "reason", "grant", "detail")


class PolicyError(Exception):
    """The policy could not be loaded or evaluated."""


class _Uncompilable(Exception):
    """Partial evaluation gave a residue the compiler does not understand."""


# Facts are plain dicts, lists, strings, ints and bools, so that marshal can turn them into a
# cache key in microseconds. A dynamic value is a string with this prefix; no fact Mandate
# gathers is free text (ids, kinds, codes, slugs and zone names only), so none can clash.
DYNAMIC_PREFIX = "\x00dynamic:"


def Dynamic(name: str) -> str:
    """A placeholder in the facts for a value that varies from request to request."""
    return DYNAMIC_PREFIX + name


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str
    grant_id: int | None
    detail: Mapping[str, Any]
    policy_version: str
    elapsed_us: float = 0.0
    compiled: bool = False
    # The tenant's extension the decision was made with (its hash), if its tenant has one.
    extension_version: str | None = None

    @property
    def outcome(self) -> str:
        return "allow" if self.allowed else "deny"


@dataclass(frozen=True)
class PolicyFile:
    name: str
    text: str


# A compiled check: (dynamic name, comparison, constant or other dynamic name, is_name).
_Check = tuple[str, Callable[[Any, Any], bool], Any, bool]


@dataclass
class _Program:
    branches: list[tuple[list[_Check], tuple[Any, ...]]] = field(default_factory=list)

    def run(self, values: Mapping[str, Any]) -> tuple[Any, ...] | None:
        for checks, outputs in self.branches:
            for name, compare, other, other_is_name in checks:
                right = values[other] if other_is_name else other
                if not compare(values[name], right):
                    break
            else:
                return outputs
        return None


_OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "Eq": operator.eq,
    "Unify": operator.eq,
    "Neq": operator.ne,
    "Lt": operator.lt,
    "Leq": operator.le,
    "Gt": operator.gt,
    "Geq": operator.ge,
}
_MIRRORED = {"Lt": "Gt", "Leq": "Geq", "Gt": "Lt", "Geq": "Leq"}


class PolicyEngine:
    """One loaded policy. Immutable: to reload, build a new engine and swap the reference.

    `extension`: a tenant's extension (core.policy_versions.extension_rules: tenant_refuses/3
    rules only), loaded with the platform's files into the same Oso. `version` stays the
    platform's; `extension_version` names the extension."""

    def __init__(
        self,
        files: Sequence[PolicyFile],
        *,
        extension: Sequence[PolicyFile] = (),
        extension_version: str | None = None,
        compile: bool = True,
        cache_size: int = 20_000,
        source: str = "",
    ) -> None:
        """An engine for these policy files (a folder's, or a stored version's)."""
        if not files:
            raise PolicyError(f"no .polar files in {source or 'the policy'}")
        self.files = sorted(files, key=lambda f: f.name)
        self.extension = sorted(extension, key=lambda f: f.name)
        self.source = source
        self.version = _version(self.files)
        # A stored extension's hash names its company too (core.policy_versions.extensions).
        self.extension_version = extension_version or (
            _version(self.extension) if self.extension else None
        )
        self.compile_enabled = compile
        self._oso = Oso()
        # Polar prints load warnings to stdout; keep them in the log instead.
        captured = io.StringIO()
        try:
            with contextlib.redirect_stdout(captured):
                self._oso._load_sources(
                    [Source(f.text, f.name) for f in (*self.files, *self.extension)]
                )
        except Exception as exc:
            raise PolicyError(f"cannot load {source or 'the policy'}: {exc}") from exc
        for warning in captured.getvalue().split("[warning]"):
            # Mandate's entry point is decide/5, not allow/3: that warning is expected.
            if warning.strip() and "allow rule" not in warning:
                log.warning("polar: %s", warning.strip())
        self._lock = threading.Lock()
        self._programs: OrderedDict[bytes, _Program | None] = OrderedDict()
        self._cache_size = cache_size
        self._carries: dict[bytes, bool] = {}
        self._conditions: dict[str, tuple[str, ...]] = {}
        self.cache_hits = 0
        self.cache_misses = 0

    def replica(self) -> PolicyEngine:
        """A fresh engine of the same files, with a compile cache of its own (a replay)."""
        return PolicyEngine(
            self.files,
            extension=self.extension,
            extension_version=self.extension_version,
            compile=self.compile_enabled,
            source=self.source,
        )

    @classmethod
    def from_dir(cls, policy_dir: Path, *, compile: bool = True) -> PolicyEngine:
        return cls(files_of(policy_dir), compile=compile, source=str(policy_dir))

    @staticmethod
    def version_of(policy_dir: Path) -> str:
        return _version(files_of(policy_dir))

    @staticmethod
    def version_of_files(files: Sequence[PolicyFile]) -> str:
        """The version an engine built from these files would have (without building it)."""
        return _version(sorted(files, key=lambda f: f.name))

    # -- generic queries -------------------------------------------------------------------

    def query(self, rule: str, *args: Any) -> list[dict[str, Any]]:
        """All answers of `rule(args)`, as bindings of the Variables among args."""
        with self._lock:
            return [res["bindings"] for res in self._oso.query_rule(rule, *args)]

    def holds(self, rule: str, *args: Any) -> bool:
        with self._lock:
            for _ in self._oso.query_rule(rule, *args):
                return True
        return False

    def role_carries(self, role: dict[str, Any], permission: str) -> bool:
        """carries/2 for a role's facts; cached, as it depends on nothing else."""
        # Plain dicts: marshal, which makes the cache key, takes no other mapping.
        key = marshal.dumps((role, permission))
        answer = self._carries.get(key)
        if answer is None:
            answer = self.holds("carries", {"role": dict(role)}, permission)
            self._carries[key] = answer
        return answer

    def conditions_of(self, action: str) -> tuple[str, ...]:
        """What a grant must meet for `action`, in order (decide.polar: conditions/2); cached,
        as it depends on nothing else. () for an action that lists none."""
        answer = self._conditions.get(action)
        if answer is None:
            found = self.query("conditions", action, Variable("names"))
            answer = tuple(str(n) for n in found[0]["names"]) if found else ()
            self._conditions[action] = answer
        return answer

    # -- decisions -------------------------------------------------------------------------

    def decide(self, facts: dict[str, Any], values: Mapping[str, Any]) -> Decision:
        """Decide a request. `facts` may hold Dynamic placeholders, filled from `values`."""
        started = time.perf_counter_ns()
        if self.compile_enabled:
            program = self._program(facts)
            if program is not None:
                outputs = program.run(values)
                if outputs is None:
                    raise PolicyError("decide/5 gave no answer")
                return self._decision(outputs, started, compiled=True)
        outputs = self._first_answer(fill(facts, values))
        return self._decision(outputs, started, compiled=False)

    def decide_direct(self, facts: Mapping[str, Any], values: Mapping[str, Any]) -> Decision:
        started = time.perf_counter_ns()
        return self._decision(self._first_answer(fill(facts, values)), started, compiled=False)

    def decide_each(
        self, facts: dict[str, Any], values: Sequence[Mapping[str, Any]]
    ) -> list[Decision | None]:
        """Decide many requests that share their static facts (a replay of logged decisions):
        as the compiled path would, but lazily. Polar's partial answers come one by one, each
        deciding the requests whose values it fits, and the query stops once every request is
        decided: most are allowed by the first answer, while compiling the whole program
        walks every refusal (a transfer's: 25 answers, 65 ms). None where the policy gives no
        answer at all."""
        started = time.perf_counter_ns()
        decided: list[Decision | None] = [None] * len(values)
        pending = list(range(len(values)))
        variables = [Variable(name) for name in DECIDE_OUTPUTS]
        try:
            with self._lock:
                query = self._oso.query_rule(
                    "decide", fill(facts, None), *variables, accept_expression=True
                )
                for res in query:
                    bindings = res["bindings"]
                    outputs = tuple(bindings[name] for name in DECIDE_OUTPUTS)
                    if any(isinstance(v, (Variable, Expression)) for v in outputs):
                        raise _Uncompilable(f"an output depends on dynamic facts: {bindings}")
                    checks = _checks_for_answer(
                        {k: v for k, v in bindings.items() if k not in DECIDE_OUTPUTS}
                    )
                    branch = _Program([(checks, outputs)])
                    still = []
                    for index in pending:
                        if branch.run(values[index]) is None:
                            still.append(index)
                        else:
                            decided[index] = self._decision(outputs, started, compiled=True)
                    pending = still
                    if not pending or not checks:
                        break
        except _Uncompilable as exc:
            log.warning("decisions not compiled, evaluating directly: %s", exc)
        # Left when the policy answered none of them (or could not be compiled).
        for index in pending:
            try:
                decided[index] = self.decide_direct(facts, values[index])
            except PolicyError:
                decided[index] = None
        return decided

    def _decision(self, outputs: tuple[Any, ...], started: int, *, compiled: bool) -> Decision:
        decision, reason, grant, detail = outputs
        return Decision(
            allowed=decision == "allow",
            reason=reason,
            grant_id=grant or None,
            detail=detail if isinstance(detail, dict) else {},
            policy_version=self.version,
            elapsed_us=(time.perf_counter_ns() - started) / 1000,
            compiled=compiled,
            extension_version=self.extension_version,
        )

    def _first_answer(self, facts: Mapping[str, Any]) -> tuple[Any, ...]:
        variables = [Variable(name) for name in DECIDE_OUTPUTS]
        with self._lock:
            for res in self._oso.query_rule("decide", facts, *variables):
                b = res["bindings"]
                return tuple(b[name] for name in DECIDE_OUTPUTS)
        raise PolicyError("decide/5 gave no answer")

    # -- compilation -----------------------------------------------------------------------

    def _program(self, facts: dict[str, Any]) -> _Program | None:
        key = marshal.dumps(facts)  # plain dicts only, hence the type of `facts`
        try:
            program = self._programs[key]
            self.cache_hits += 1
            return program
        except KeyError:
            pass
        self.cache_misses += 1
        try:
            program = self._compile(facts)
        except _Uncompilable as exc:
            log.warning("decision not compiled, evaluating directly: %s", exc)
            program = None
        with self._lock:
            self._programs[key] = program
            if len(self._programs) > self._cache_size:
                self._programs.popitem(last=False)
        return program

    def _compile(self, facts: Mapping[str, Any]) -> _Program:
        partial = fill(facts, None)
        variables = [Variable(name) for name in DECIDE_OUTPUTS]
        program = _Program()
        with self._lock:
            answers = [
                res["bindings"]
                for res in self._oso.query_rule(
                    "decide", partial, *variables, accept_expression=True
                )
            ]
        for bindings in answers:
            outputs = tuple(bindings[name] for name in DECIDE_OUTPUTS)
            for value in outputs:
                if isinstance(value, (Variable, Expression)):
                    raise _Uncompilable(f"an output depends on dynamic facts: {bindings}")
            dynamic = {k: v for k, v in bindings.items() if k not in DECIDE_OUTPUTS}
            checks = _checks_for_answer(dynamic)
            program.branches.append((checks, outputs))
            # Nothing after an unconditional answer can ever be reached.
            if not checks:
                break
        return program


def files_of(policy_dir: Path) -> list[PolicyFile]:
    """The policy files of a folder: its *.polar files, by name."""
    paths = sorted(Path(policy_dir).glob("*.polar"))
    return [PolicyFile(p.name, p.read_text(encoding="utf-8")) for p in paths]


def _version(files: Sequence[PolicyFile]) -> str:
    """The policy version: a hash of every file's name and text, as logged with decisions."""
    digest = hashlib.sha256()
    for f in files:
        digest.update(f.name.encode() + b"\0" + f.text.encode() + b"\0")
    return digest.hexdigest()[:16]


def _checks_for_answer(bindings: Mapping[str, Any]) -> list[_Check]:
    checks: list[_Check] = []
    # Polar may bind a dynamic fact to a fresh variable of its own (a rule's `_x` parameter):
    # alone that constrains nothing; two facts bound to the same one must be equal.
    aliases: dict[str, list[str]] = {}
    for name, value in bindings.items():
        if isinstance(value, Variable) and _name(value) not in bindings:
            aliases.setdefault(_name(value), []).append(name)
        else:
            checks.extend(_checks_for(name, value))
    for names in aliases.values():
        checks.extend((a, operator.eq, b, True) for a, b in itertools.pairwise(names))
    return checks


def _checks_for(name: str, value: Any) -> Iterable[_Check]:
    if isinstance(value, Variable):
        if _name(value) != name:
            yield (name, operator.eq, _name(value), True)
        return
    if not isinstance(value, Expression):
        yield (name, operator.eq, value, False)
        return
    if value.operator != "And":
        raise _Uncompilable(f"{name}: {value}")
    for term in value.args:
        if not isinstance(term, Expression) or term.operator not in _OPERATORS:
            raise _Uncompilable(f"{name}: {term}")
        left, right = term.args
        op = term.operator
        if _is_this(right) and not _is_this(left):
            left, right = right, left
            op = _MIRRORED.get(op, op)
        if not _is_this(left) and not _is_this(right):
            # Polar gives a variable bound to another (now < payment.expires_at) every
            # constraint on that other one too (now < grant's end): a check on it, by its name.
            if isinstance(right, Variable) and not isinstance(left, Variable):
                left, right = right, left
                op = _MIRRORED.get(op, op)
            if not isinstance(left, Variable) or isinstance(right, (Variable, Expression)):
                raise _Uncompilable(f"{name}: {term}")
            yield (_name(left), _OPERATORS[op], right, False)
            continue
        if not _is_this(left) or _is_this(right) or isinstance(right, Expression):
            raise _Uncompilable(f"{name}: {term}")
        if isinstance(right, Variable):
            yield (name, _OPERATORS[op], _name(right), True)
        else:
            yield (name, _OPERATORS[op], right, False)


def _name(variable: Variable) -> str:
    # oso's Variable is a str subclass whose str() is its repr; slicing gives the bare name.
    return variable[:]


def _is_this(term: Any) -> bool:
    return isinstance(term, Variable) and _name(term) == "_this"


def fill(facts: Any, values: Mapping[str, Any] | None) -> Any:
    """Replace Dynamic placeholders by their values, or by Polar Variables when values is None."""
    if isinstance(facts, str):
        if not facts.startswith(DYNAMIC_PREFIX):
            return facts
        name = facts[len(DYNAMIC_PREFIX) :]
        return Variable(name) if values is None else values[name]
    if isinstance(facts, dict):
        return {k: fill(v, values) for k, v in facts.items()}
    if isinstance(facts, list):
        return [fill(v, values) for v in facts]
    return facts


_current: PolicyEngine | None = None
_current_lock = threading.Lock()


def load(policy_dir: Path, *, compile: bool = True) -> PolicyEngine:
    """Build a new engine and make it the process's current one (an atomic swap)."""
    return install(PolicyEngine.from_dir(policy_dir, compile=compile))


def install(engine: PolicyEngine) -> PolicyEngine:
    """Make a built engine the process's current one: one reference swap, never clear-and-load."""
    global _current
    with _current_lock:
        previous, _current = _current, engine
        metrics.policy_version_in_force(
            engine.version, previous.version if previous is not None else None
        )
    return engine


def ensure_loaded(policy_dir: Path, *, compile: bool = True) -> PolicyEngine:
    """The current engine if it was built from these same files; otherwise load them."""
    engine = _current
    if (
        engine is not None
        and engine.source == str(policy_dir)
        and engine.compile_enabled == compile
        and engine.version == PolicyEngine.version_of(Path(policy_dir))
    ):
        return engine
    return load(policy_dir, compile=compile)


def current() -> PolicyEngine:
    if _current is None:
        raise PolicyError("no policy loaded; call core.policy.engine.load() at start-up")
    return _current
