"""One API key per workload (and per caller, when a workload has several), checked at config time.

The stack holds one secret, `switchyard:apiKey`; each workload's key is derived from it,
HMAC-SHA256(apiKey, "switchyard/api-key/<workload>"). Why derive rather than ask for a key per
workload: the operator keeps and rotates one secret, a new workload needs no new config, and yet
each workload's Secret holds a key that opens that workload alone (a leaked caller key or a
compromised pod opens nothing else), and the derivation is stable, so `pulumi up` never rotates a
key by itself. `pulumi stack output apiKeys --show-secrets` gives each workload's key to its callers.

`switchyard:apiKeys` (secret, optional) overrides per workload: a key, or a map caller -> key for
a workload several callers share. On Kubernetes the caller is who the key identifies: the server
files each caller's async results under its own name, so no caller reads another's.

A key shorter than MIN_CHARS is refused with the key's name: an empty one turned authentication
off silently, and a short one can be guessed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import sys
from typing import Any

from stacks.errors import SwitchyardError

MIN_CHARS = 32
DEFAULT_CALLER = "default"
CALLER = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")
# The queue files results of producers inside the namespace (XADD without a caller) under `stream`:
# a caller of that name would read them.
RESERVED_CALLERS = ("stream",)
HINT = 'pulumi config set --secret switchyard:apiKey "$(openssl rand -hex 24)"'


def check(key: str, value: Any) -> None:
    """A key is a string of MIN_CHARS or more characters; anything else stops the program here."""
    if not isinstance(value, str):
        raise SwitchyardError(f"stack config {key} must be a string (got {type(value).__name__})\n    hint: {HINT}")
    if len(value.strip()) < MIN_CHARS:
        what = "is empty" if not value.strip() else f"is {len(value.strip())} characters long"
        raise SwitchyardError(
            f"stack config {key} {what}: an API key needs at least {MIN_CHARS} characters (an empty key "
            f"would turn authentication off, a short one can be guessed)\n"
            f"    allowed: a random string of {MIN_CHARS} or more characters\n"
            f"    hint: {HINT}"
        )


def parse_overrides(raw: Any) -> dict[str, dict[str, str]]:
    """`switchyard:apiKeys`: {workload: key | {caller: key}} -> {workload: {caller: key}}, every key checked."""
    if raw is None:
        return {}
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            raw = None
    if not isinstance(raw, dict):
        raise SwitchyardError(
            "stack config switchyard:apiKeys must be an object: {workload: key} or {workload: {caller: key}}"
        )
    out: dict[str, dict[str, str]] = {}
    for workload, value in raw.items():
        callers = {DEFAULT_CALLER: value} if isinstance(value, str) else value
        if not isinstance(callers, dict) or not callers:
            raise SwitchyardError(
                f"stack config switchyard:apiKeys.{workload} must be a key or a non-empty map caller -> key"
            )
        for caller, key in callers.items():
            if not isinstance(caller, str) or not CALLER.fullmatch(caller) or caller in RESERVED_CALLERS:
                raise SwitchyardError(
                    f"stack config switchyard:apiKeys.{workload}: caller {caller!r} is not a name\n"
                    "    allowed: 1-63 characters of a-z 0-9 -, starting and ending with a letter or digit, "
                    f"not {', '.join(RESERVED_CALLERS)} (the queue's own producers)"
                )
            check(f"switchyard:apiKeys.{workload}.{caller}", key)
        if len({key.strip() for key in callers.values()}) != len(callers):
            raise SwitchyardError(
                f"stack config switchyard:apiKeys.{workload} gives two callers the same key: the key names the "
                "caller, so each would read the other's results\n    allowed: one key per caller"
            )
        out[workload] = dict(callers)
    return out


def check_overrides(overrides: dict[str, Any], workloads: list[str], single_key: set[str]) -> None:
    """Every workload the overrides name exists; a workload whose server takes one key (vLLM) has one."""
    unknown = sorted(set(overrides) - set(workloads))
    if unknown:
        raise SwitchyardError(
            f"stack config switchyard:apiKeys names {', '.join(unknown)}, which is not a Kubernetes workload\n"
            f"    allowed: {', '.join(sorted(workloads)) or 'no workload targets Kubernetes'}"
        )
    for name in sorted(single_key & set(overrides)):
        if len(overrides[name]) != 1:
            raise SwitchyardError(
                f"stack config switchyard:apiKeys.{name} lists {len(overrides[name])} callers, but vLLM takes one key"
            )


def _pulumi_outputs(*values: Any) -> Any:
    """pulumi, when any value is one of its Outputs; else None. Nothing can be an Output before the
    Pulumi program imported it, so a plan (which reads only this module's checks) never loads pulumi."""
    pulumi = sys.modules.get("pulumi")
    return pulumi if pulumi is not None and any(isinstance(v, pulumi.Output) for v in values) else None


def derive(master: str, workload: str) -> str:
    return hmac.new(master.encode(), f"switchyard/api-key/{workload}".encode(), hashlib.sha256).hexdigest()


def workload_keys(master: Any, overrides: Any, workload: str) -> Any:
    """{caller: key} of one workload, an Output when the inputs are (secret under `pulumi up`).

    A review render's placeholders (no readable secret) stay placeholders: nothing is derived from them.
    """

    def resolve(values: list[Any]) -> dict[str, str]:
        m, o = values
        mine = (o or {}).get(workload)
        if mine:
            return dict(mine)
        if isinstance(m, str) and m.startswith("<"):
            return {DEFAULT_CALLER: m}
        return {DEFAULT_CALLER: derive(m, workload)}

    pulumi = _pulumi_outputs(master, overrides)
    if pulumi is not None:
        return pulumi.Output.secret(pulumi.Output.all(master, overrides).apply(resolve))
    return resolve([master, overrides])


def primary(keys: Any) -> Any:
    """The key a single-key server (vLLM's --api-key) takes: the default caller's, else the only one."""

    def pick(k: dict[str, str]) -> str:
        return k.get(DEFAULT_CALLER) or next(iter(k.values()))

    return keys.apply(pick) if _pulumi_outputs(keys) else pick(keys)


def as_json(keys: Any) -> Any:
    def dump(k: dict[str, str]) -> str:
        return json.dumps(k, sort_keys=True, separators=(",", ":"))

    return keys.apply(dump) if _pulumi_outputs(keys) else dump(keys)
