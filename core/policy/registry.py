"""The engines a process decides with, one per policy in use: the bank's default
(core.policy.engine.current) and, for a tenant pinned to another platform version or carrying
an extension, an engine of that version with that extension loaded (one Oso and one compiled
decision cache each).

The hot path reads memory only: which tenant runs what is a map held here, swapped whole by
the watcher that follows activations (core.policy_versions.reload), never a query per
decision. Engines other than the default are kept in a bounded LRU (CAPACITY); the watcher
builds those in use before it swaps the map in, so no request waits for a build unless more
policies are in use than the LRU holds (then the one evicted is rebuilt when next asked:
about 5 ms, its cache refilled as decisions come). What one costs (bench/engine_memory.py):
about 1.6 MB built, and about 3 KB per compiled decision in its cache, bounded at
TENANT_CACHE entries (a tenant's engine sees only its own people's facts): at most about
17 MB each, 135 MB for CAPACITY of them."""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field

from core.policy import engine as policy_engine
from core.policy.engine import PolicyEngine, PolicyError, PolicyFile

log = logging.getLogger("mandate.policy.registry")

# Engines besides the default a process keeps built, and the compiled decisions each keeps.
CAPACITY = 8
TENANT_CACHE = 5_000


@dataclass(frozen=True)
class TenantPolicy:
    """What one tenant runs: a platform version (its hash; None: the bank's default, whatever
    it is) and an extension (its version's hash; None: none)."""

    version: str | None = None
    extension: str | None = None


# (platform version hash, extension hash or None): one engine.
EngineKey = tuple[str, str | None]


@dataclass(frozen=True)
class Assignments:
    """Which tenant runs what (only tenants not on the plain default), and the files of every
    version named there, by hash (platform versions and extensions)."""

    tenants: Mapping[int, TenantPolicy] = field(default_factory=dict)
    files: Mapping[str, tuple[PolicyFile, ...]] = field(default_factory=dict)
    serial: int | None = None

    def key_for(self, tenant_id: int, default: str) -> EngineKey:
        policy = self.tenants.get(tenant_id)
        if policy is None:
            return (default, None)
        return (policy.version or default, policy.extension)

    def keys(self, default: str) -> list[EngineKey]:
        """Every engine in use besides the plain default, in tenant order."""
        keys = [self.key_for(tenant, default) for tenant in sorted(self.tenants)]
        return [key for key in dict.fromkeys(keys) if key != (default, None)]


class Registry:
    """The map of tenants to policies, and the engines built for them."""

    def __init__(self, capacity: int = CAPACITY) -> None:
        self.capacity = capacity
        self._assignments = Assignments()
        self._engines: OrderedDict[EngineKey, PolicyEngine] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def assignments(self) -> Assignments:
        return self._assignments

    def for_tenant(self, tenant_id: int | None) -> PolicyEngine:
        """The engine a decision about this tenant's resources is made with (None: a
        bank-level resource, decided under the default)."""
        default = policy_engine.current()
        if tenant_id is None:
            return default
        key = self._assignments.key_for(tenant_id, default.version)
        if key == (default.version, None):
            return default
        return self.engine(key, default)

    def engine(self, key: EngineKey, default: PolicyEngine | None = None) -> PolicyEngine:
        """The engine of `key`, built if it is not held (evicting the least recently used)."""
        default = default or policy_engine.current()
        with self._lock:
            held = self._engines.get(key)
            if held is not None:
                self._engines.move_to_end(key)
                return held
        built = self._build(key, default, self._assignments)
        self._keep({key: built})
        return built

    def install(
        self, assignments: Assignments, default: PolicyEngine | None = None
    ) -> list[EngineKey]:
        """Swap in a new map (and, with `default`, a new default engine), once the engines
        it needs are built: a decision sees the old policies or the new ones, never a mix.
        Answers the keys built. An engine that cannot be built is logged and left to be
        built when asked (then the decision fails rather than run without its extension)."""
        base = default or policy_engine.current()
        wanted = assignments.keys(base.version)[: self.capacity]
        built: dict[EngineKey, PolicyEngine] = {}
        for key in wanted:
            with self._lock:
                held = self._engines.get(key)
            try:
                built[key] = held or self._build(key, base, assignments)
            except PolicyError:
                log.exception("cannot build the policy %s for its tenants", key)
        with self._lock:
            if default is not None:
                policy_engine.install(default)
            self._assignments = assignments
        self._keep(built)
        return list(built)

    def held(self) -> list[EngineKey]:
        """The keys of the engines built, least recently used first."""
        with self._lock:
            return list(self._engines)

    def clear(self) -> None:
        """Forget every tenant's policy (tests, and a process going back to the files)."""
        with self._lock:
            self._engines.clear()
            self._assignments = Assignments()

    def _keep(self, engines: Mapping[EngineKey, PolicyEngine]) -> None:
        with self._lock:
            for key, built in engines.items():
                self._engines[key] = built
                self._engines.move_to_end(key)
            while len(self._engines) > self.capacity:
                evicted, _ = self._engines.popitem(last=False)
                log.info("policy %s evicted from this process's engines", evicted)

    @staticmethod
    def _build(key: EngineKey, default: PolicyEngine, assignments: Assignments) -> PolicyEngine:
        version, extension = key
        files = default.files if version == default.version else assignments.files.get(version)
        if files is None:
            raise PolicyError(f"the files of policy version {version} are not held")
        extension_files: tuple[PolicyFile, ...] = ()
        if extension is not None:
            held = assignments.files.get(extension)
            if held is None:
                # Never decide a company's requests without its rules: fail instead.
                raise PolicyError(f"the files of extension {extension} are not held")
            extension_files = held
        with_extension = f" with extension {extension}" if extension else ""
        return PolicyEngine(
            list(files),
            extension=extension_files,
            extension_version=extension,
            compile=default.compile_enabled,
            cache_size=TENANT_CACHE,
            source=f"policy version {version}{with_extension}",
        )


REGISTRY = Registry()


def for_tenant(tenant_id: int | None) -> PolicyEngine:
    """The engine for a decision about `tenant_id`'s resources (None: bank-level)."""
    return REGISTRY.for_tenant(tenant_id)
