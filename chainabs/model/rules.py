"""Regulator rules: pure evaluation of a deal's figures into alerts (rule id, severity, figures, block).

The monitor (:mod:`chainabs.apps.monitor`) reads the figures from chain data (:mod:`chainabs.chain.rulefigures`)
block by block and calls the functions here; they take plain numbers and return :class:`Alert` objects, so every
rule is tested without a chain. An alert's :attr:`Alert.id` (rule id, block, subject) is stable: evaluating the
same block again gives the same ids, which is how a restarted monitor recognises what it already wrote.

State rules (concentration drift, related-party holdings, early warning) are edge-triggered: they fire when
their condition becomes true (it was false just before the block, or at the previous report), not again while
it stays true. Amounts in alerts are shown in currency units (:func:`chainabs.model.numbers.format_units`);
shares and ratios in basis points. Every rule, its severity, thresholds and defaults: ``docs/reports.md``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from chainabs.model.delinquency import roll_rate_matrix
from chainabs.model.numbers import format_units
from chainabs.model.waterfall import TriggerKind

BPS = 10_000

#: Severities, most urgent first.
SEVERITIES: tuple[str, ...] = ("critical", "high", "medium", "info")


@dataclass(frozen=True)
class RuleInfo:
    severity: str
    checks: str


#: Every rule: id -> severity and what it checks (``docs/reports.md`` has the same table).
RULES: dict[str, RuleInfo] = {
    "concentration_drift": RuleInfo("high", "a region, industry or obligor share of the live pool rose above its limit"),
    "report_refused": RuleInfo("high", "the SPV refused a servicer's submitReport (a failed transaction)"),
    "registry_report_mismatch": RuleInfo(
        "critical", "a report's figures disagree with the asset registry's tallies (refused by the SPV, or pending)"),
    "challenge_proven": RuleInfo("critical", "someone proved the pending report false at the deal's court"),
    "related_party_holding": RuleInfo(
        "high", "the originator and its related parties hold more senior units than the retained slice"),
    "forced_transfer": RuleInfo("high", "a controller moved or redeemed a holder's units (ERC-1644)"),
    "recovery_recorded": RuleInfo("info", "cash recovered on a defaulted loan was recorded"),
    "role_change": RuleInfo("medium", "a role was granted or revoked, or a role's admin changed"),
    "pause": RuleInfo("medium", "transfers of a contract were paused or unpaused"),
    "large_transfer": RuleInfo("medium", "a holder-to-holder transfer of tranche units at or above the threshold"),
    "trigger_early_warning": RuleInfo(
        "high", "a trigger not breached today is projected to breach within N periods by the fitted roll rates"),
    "delinquency_deterioration": RuleInfo(
        "medium", "the 30+ days delinquency ratio rose by more than X points from one report to the next"),
    "green_allocation_overdue": RuleInfo(
        "high", "a green deal's allocation deadline passed with net proceeds unallocated (or never recorded)"),
}

#: Event -> rule of the event rules.
EVENT_RULES: dict[str, str] = {
    "ControllerTransfer": "forced_transfer",
    "ControllerRedemption": "forced_transfer",
    "RecoveryRecorded": "recovery_recorded",
    "RoleGranted": "role_change",
    "RoleRevoked": "role_change",
    "RoleAdminChanged": "role_change",
    "TransfersPaused": "pause",
    "TransfersUnpaused": "pause",
    "Paused": "pause",
    "Unpaused": "pause",
}

#: Report figures the SPV checks against the asset registry (``ISPV.ReportFigure``): a refusal naming one of
#: them is a registry / report disagreement; the others (against the report's own tape) a refused report.
REGISTRY_FIGURES = frozenset({"LoanCount", "Delinquent30", "Delinquent60", "Delinquent90Plus", "DefaultsOnChain",
                              "RecoveriesOnChain", "PrepaidInFull", "PaidOff"})
#: Bucket figures compared between a pending report and the registry (report field -> registry field).
BUCKETS: tuple[str, ...] = ("delinquent_30", "delinquent_60", "delinquent_90_plus")

_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")


class RulesConfigError(ValueError):
    """A monitor configuration that cannot be used (one line per problem)."""


Bps = Annotated[int, Field(ge=0, le=BPS)]


class MonitorRules(BaseModel):
    """Thresholds of the regulator rules of one deal (the deal spec's optional ``monitor:`` section, or a monitor
    config file). Amounts in currency units, shares and ratios in basis points."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: Concentration limits overriding the pool's criteria (None: the limit the registry checked at seal).
    region_limit_bps: Bps | None = None
    industry_limit_bps: Bps | None = None
    obligor_limit_bps: Bps | None = None
    #: Addresses (besides the originator) whose senior units count as the originator's.
    related_parties: list[str] = Field(default_factory=list)
    #: Senior units above the retained slice tolerated before ``related_party_holding`` fires.
    related_party_tolerance: Annotated[Decimal, Field(ge=0)] = Decimal(0)
    #: ``large_transfer`` fires for a transfer of at least this many units (currency units).
    large_transfer: Annotated[Decimal, Field(gt=0)] = Decimal(1_000_000)
    #: ``trigger_early_warning``: projection horizon in periods, and reports needed before projecting.
    early_warning_periods: Annotated[int, Field(ge=1, le=60)] = 3
    early_warning_min_reports: Annotated[int, Field(ge=2, le=60)] = 3
    #: ``delinquency_deterioration`` fires when the 30+ ratio rises by more than this (bps, 100 = 1 point).
    deterioration_bps: Bps = 100
    #: Rule ids switched off.
    disabled: list[str] = Field(default_factory=list)

    @field_validator("related_parties")
    @classmethod
    def _addresses(cls, v: list[str]) -> list[str]:
        for i, a in enumerate(v):
            if not _ADDRESS.match(a):
                raise ValueError(f"[{i}] {a!r} is not an address (0x and 40 hex digits)")
        return v

    @field_validator("disabled")
    @classmethod
    def _known(cls, v: list[str]) -> list[str]:
        for rule in v:
            if rule not in RULES:
                raise ValueError(f"{rule!r} is not a rule id (one of {', '.join(RULES)})")
        return v

    def enabled(self, rule: str) -> bool:
        return rule not in self.disabled

    def base_units(self, amount: Decimal, decimals: int) -> int:
        """A currency amount of this config in base units (rounded down)."""
        return int(amount * 10**decimals)


def load_rules(path: str | Path) -> MonitorRules:
    """The rules of a monitor config file: a YAML mapping of :class:`MonitorRules` fields, or a deal spec whose
    ``monitor:`` section is used (defaults when it has none). Raises :class:`RulesConfigError`."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise RulesConfigError(f"{path}: {exc}".splitlines()[0]) from None
    if not isinstance(data, Mapping):
        raise RulesConfigError(f"{path}: expected a mapping of rule settings")
    if "tranches" in data or "monitor" in data:  # a deal spec (or a file with a monitor: section)
        data = data.get("monitor") or {}
    return parse_rules(data, str(path))


def parse_rules(data: Any, source: str = "<monitor>") -> MonitorRules:
    try:
        return MonitorRules.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or '(top)'}: {e['msg'].removeprefix('Value error, ')}"
                             for e in exc.errors())
        raise RulesConfigError(f"{source}: monitor: {problems}") from None


# ------------------------------------------------------------------------------------------------ alerts


@dataclass(frozen=True)
class Alert:
    """One rule alert. ``figures``: what the rule measured (amounts as currency units text, shares in bps)."""

    rule: str
    block: int
    subject: str
    message: str
    figures: dict[str, Any] = field(default_factory=dict)
    tx: str | None = None

    @property
    def severity(self) -> str:
        return RULES[self.rule].severity

    @property
    def id(self) -> str:
        """Stable identity: rule id, block and subject."""
        return f"{self.rule}:{self.block}:{self.subject}"

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "rule": self.rule, "severity": self.severity, "block": self.block,
                "subject": self.subject, "tx": self.tx, "message": self.message, "figures": dict(self.figures)}


def _share_bps(part: int, total: int) -> int:
    return part * BPS // total if total else 0


# ---------------------------------------------------------------------------------------- concentration


@dataclass(frozen=True)
class Exposures:
    """Live principal of a pool by bucket, per kind (``region``, ``industry``, ``obligor``), and its total."""

    by_kind: Mapping[str, Mapping[Any, int]]
    total: int


def concentration_breaches(exposures: Exposures, limits: Mapping[str, int | None]) -> dict[str, tuple[str, Any, int]]:
    """Subject (``kind:bucket``) -> (kind, bucket, principal) of every bucket whose share of the live pool is
    above its limit (``principal * 10,000 > total * limit``; a share equal to the limit is within it)."""
    out: dict[str, tuple[str, Any, int]] = {}
    for kind, buckets in exposures.by_kind.items():
        limit = limits.get(kind)
        if limit is None:
            continue
        for bucket, principal in buckets.items():
            if int(principal) * BPS > exposures.total * int(limit):
                out[f"{kind}:{bucket}"] = (kind, bucket, int(principal))
    return out


def concentration_drift(block: int, now: Exposures, before: Exposures | None, limits: Mapping[str, int | None],
                        decimals: int) -> list[Alert]:
    """``concentration_drift``: buckets over their limit after ``block`` that were not before it."""
    was = set(concentration_breaches(before, limits)) if before is not None else set()
    alerts = []
    for subject, (kind, bucket, principal) in sorted(concentration_breaches(now, limits).items()):
        if subject in was:
            continue
        share = _share_bps(principal, now.total)
        alerts.append(Alert("concentration_drift", block, subject,
                            f"{kind} {bucket}: {principal * BPS / now.total:.2f} bps of the live pool, above its "
                            f"limit of {limits[kind]} bps",
                            {"kind": kind, "bucket": str(bucket), "principal": format_units(principal, decimals),
                             "pool_principal": format_units(now.total, decimals), "share_bps": share,
                             "limit_bps": int(limits[kind] or 0)}))
    return alerts


# ---------------------------------------------------------------------------------------------- reports


def refused_report(block: int, tx: str, sender: str, period: int, error: str, decimals: int, *,
                   figure: str | None = None, reported: int | None = None, on_chain: int | None = None) -> Alert:
    """A failed ``submitReport``: ``registry_report_mismatch`` when the SPV named a figure it checks against the
    registry (``ReportDisagrees``), else ``report_refused``."""
    figures: dict[str, Any] = {"period": period, "servicer": sender, "error": error}
    if figure is not None:
        count = figure == "LoanCount"
        figures.update(figure=figure, reported=reported if count else format_units(reported or 0, decimals),
                       on_chain=on_chain if count else format_units(on_chain or 0, decimals))
    if figure in REGISTRY_FIGURES:
        return Alert("registry_report_mismatch", block, f"tx:{tx}",
                     f"period {period}: the report's {figure} disagrees with the registry "
                     f"({figures['reported']} reported, {figures['on_chain']} on chain); refused", figures, tx)
    return Alert("report_refused", block, f"tx:{tx}", f"period {period}: report by {sender} refused: {error}",
                 figures, tx)


def pending_mismatch(block: int, period: int, report: Mapping[str, int], registry: Mapping[str, int],
                     decimals: int) -> list[Alert]:
    """``registry_report_mismatch`` for a pending report: each delinquency bucket it reports that differs from
    the registry's tally (the registry is locked while a report is pending, so they must stay equal)."""
    alerts = []
    for name in BUCKETS:
        if int(report[name]) != int(registry[name]):
            alerts.append(Alert("registry_report_mismatch", block, f"period:{period}:{name}",
                                f"period {period}: pending report's {name} differs from the registry's tally",
                                {"period": period, "figure": name, "reported": format_units(report[name], decimals),
                                 "registry": format_units(registry[name], decimals)}))
    return alerts


def challenge_proven(block: int, tx: str, log_index: int, period: int, kind: str, asset_id: int,
                     challenger: str) -> Alert:
    """``challenge_proven``: the pending report of ``period`` was proven false (it cannot close)."""
    return Alert("challenge_proven", block, f"log:{tx}:{log_index}",
                 f"period {period}: report proven false ({kind}, asset {asset_id}) by {challenger}",
                 {"period": period, "kind": kind, "asset_id": str(asset_id), "challenger": challenger}, tx)


# ---------------------------------------------------------------------------------------- related party


def related_excess(holdings: Mapping[str, int], retained: int) -> int:
    """Senior units held by the originator and its related parties beyond the retained slice."""
    return sum(int(v) for v in holdings.values()) - int(retained)


def related_party_holding(block: int, symbol: str, now: Mapping[str, int], before: Mapping[str, int] | None,
                          retained: int, tolerance: int, decimals: int, *,
                          retained_before: int | None = None) -> list[Alert]:
    """``related_party_holding`` (circular financing): the related parties' senior units exceed the retained
    slice by more than ``tolerance`` after ``block`` and did not before it (``before``, ``retained_before``:
    holdings and retained slice before the block; the slice does not change when not given)."""
    excess = related_excess(now, retained)
    was = related_excess(before, retained if retained_before is None else retained_before) if before is not None else 0
    if excess <= tolerance or (before is not None and was > tolerance):
        return []
    held = {a: format_units(v, decimals) for a, v in sorted(now.items()) if int(v)}
    return [Alert("related_party_holding", block, f"class:{symbol}",
                  f"{symbol}: originator and related parties hold {format_units(excess, decimals)} units beyond the "
                  "retained slice", {"class": symbol, "held": held,
                                     "total_held": format_units(sum(int(v) for v in now.values()), decimals),
                                     "retained": format_units(retained, decimals),
                                     "excess": format_units(excess, decimals),
                                     "tolerance": format_units(tolerance, decimals)})]


# ---------------------------------------------------------------------------------------------- events


def event_alert(block: int, tx: str, log_index: int, contract: str, event: str, args: Mapping[str, Any],
                decimals: int, *, large_transfer: int | None = None, tranche: bool = False) -> Alert | None:
    """The event rules: forced transfers, recoveries, role changes, pauses, and (for a tranche token's
    ``Transfer`` between two holders, ``tranche=True``) transfers of at least ``large_transfer`` units."""
    subject = f"log:{tx}:{log_index}"
    if event == "Transfer":
        if not tranche or large_transfer is None:
            return None
        src, dst, value = str(args["from"]), str(args["to"]), int(args["value"])
        if int(src, 16) == 0 or int(dst, 16) == 0 or value < large_transfer:
            return None
        return Alert("large_transfer", block, subject, f"{contract}: {format_units(value, decimals)} units from {src} to {dst}",
                     {"contract": contract, "from": src, "to": dst, "units": format_units(value, decimals),
                      "threshold": format_units(large_transfer, decimals)}, tx)
    rule = EVENT_RULES.get(event)
    if rule is None:
        return None
    figures: dict[str, Any] = {"contract": contract, "event": event}
    for k, v in args.items():
        if k in ("value", "amount"):
            figures[k] = format_units(int(v), decimals)
        elif isinstance(v, (bytes, bytearray)):
            figures[k] = "0x" + bytes(v).hex()
        else:
            figures[k] = v if isinstance(v, (str, bool)) else str(v)
    return Alert(rule, block, subject, f"{contract}.{event}", figures, tx)


# ---------------------------------------------------------------------------- delinquency and projections


@dataclass(frozen=True)
class PeriodFigures:
    """A period report's figures (base units): pool ending balance, delinquency buckets and flows."""

    period: int
    ending: int
    d30: int
    d60: int
    d90: int
    scheduled: int = 0
    prepayments: int = 0
    defaults: int = 0
    recoveries: int = 0

    @property
    def current(self) -> int:
        return max(self.ending - self.d30 - self.d60 - self.d90, 0)

    @property
    def buckets(self) -> np.ndarray:
        return np.array([self.current, self.d30, self.d60, self.d90], dtype=float)

    @property
    def delinquent_30_plus_bps(self) -> int:
        return _share_bps(self.d30 + self.d60 + self.d90, self.ending)

    @property
    def delinquent_60_plus_bps(self) -> int:
        return _share_bps(self.d60 + self.d90, self.ending)


def deterioration(block: int, previous: PeriodFigures, current: PeriodFigures, points_bps: int) -> list[Alert]:
    """``delinquency_deterioration``: the 30+ days delinquency ratio (bps of the pool balance) of ``current``
    exceeds ``previous``'s by more than ``points_bps``."""
    before, now = previous.delinquent_30_plus_bps, current.delinquent_30_plus_bps
    if now - before <= points_bps:
        return []
    return [Alert("delinquency_deterioration", block, f"period:{current.period}",
                  f"30+ delinquency {before} -> {now} bps from period {previous.period} to {current.period}",
                  {"period": current.period, "previous_period": previous.period, "previous_bps": before,
                   "current_bps": now, "rise_bps": now - before, "threshold_bps": points_bps})]


@dataclass(frozen=True)
class RollRates:
    """Monthly rates fitted on a deal's reports (decimals): the roll rates of the delinquency pipeline, the
    defaults straight out of the live pool, the principal paid by current loans, and the loss severity."""

    current_to_30: float
    roll_30_60: float
    roll_60_90: float
    roll_90_default: float
    direct_default: float
    paydown: float
    severity: float

    def matrix(self) -> np.ndarray:
        return roll_rate_matrix(current_to_30=self.current_to_30, roll_30_60=self.roll_30_60,
                                roll_60_90=self.roll_60_90, roll_90_default=self.roll_90_default)


def _rate(num: float, den: float) -> float:
    return float(min(max(num / den, 0.0), 1.0)) if den > 0 else 0.0


def fit_roll_rates(history: Sequence[PeriodFigures]) -> RollRates:
    """Roll rates pooled over consecutive reports: bucket k+1 this period over bucket k last period (90+ rolls
    to default); defaults beyond last period's 90+ bucket are direct defaults of the live pool; current loans
    pay down scheduled + prepaid principal; severity = 1 - recoveries / defaults over the whole history."""
    if len(history) < 2:
        raise ValueError(f"fitting roll rates needs at least 2 reports, got {len(history)}")
    num = np.zeros(6)
    den = np.zeros(6)
    for prev, cur in zip(history, history[1:], strict=False):
        num += [cur.d30, cur.d60, cur.d90, min(cur.defaults, prev.d90), max(cur.defaults - prev.d90, 0),
                cur.scheduled + cur.prepayments]
        den += [prev.current, prev.d30, prev.d60, prev.d90, prev.ending, prev.current]
    rates = [_rate(n, d) for n, d in zip(num, den, strict=True)]
    defaults = sum(h.defaults for h in history)
    severity = _rate(defaults - sum(h.recoveries for h in history), defaults) if defaults else 1.0
    return RollRates(*rates, severity=severity)


def project(last: PeriodFigures, rates: RollRates, periods: int) -> list[tuple[float, float, float]]:
    """(pool balance, 60+ balance, new net loss) for each of the next ``periods`` periods from ``last``'s
    buckets: the roll-rate matrix moves the pipeline, direct defaults leave the live pool, current loans pay
    down; new defaults count as net loss at the fitted severity."""
    m = rates.matrix()
    x = last.buckets
    out = []
    for _ in range(periods):
        flows = x @ m[:4, :]
        live = flows[:4].copy()
        direct = min(live[0], rates.direct_default * x.sum())
        live[0] -= direct
        live[0] -= min(live[0], rates.paydown * x[0])
        loss = (flows[4] + direct) * rates.severity
        out.append((float(live.sum()), float(live[2] + live[3]), float(loss)))
        x = live
    return out


@dataclass(frozen=True)
class TriggerTest:
    """A trigger of the deal: its position, name, kind and threshold (bps)."""

    index: int
    kind: TriggerKind
    threshold_bps: int

    @property
    def name(self) -> str:
        return {TriggerKind.CUMULATIVE_NET_LOSS: "cumulative_net_loss",
                TriggerKind.DELINQUENCY_60_PLUS: "delinquency_60_plus",
                TriggerKind.OVERCOLLATERALISATION: "oc_ratio",
                TriggerKind.INTEREST_COVERAGE: "ic_ratio"}[self.kind]


#: Trigger kinds the roll-rate projection measures (OC / IC depend on the waterfall's payments: not projected).
PROJECTED_KINDS = frozenset({TriggerKind.CUMULATIVE_NET_LOSS, TriggerKind.DELINQUENCY_60_PLUS})


def trigger_path(history: Sequence[PeriodFigures], kind: TriggerKind, original: int, periods: int,
                 rates: RollRates | None = None) -> tuple[int, list[int]]:
    """A projectable trigger's value (bps, the waterfall's arithmetic) at the last report and over the next
    ``periods`` periods of the roll-rate projection fitted on ``history``."""
    if kind not in PROJECTED_KINDS:
        raise ValueError(f"{kind.name}: not measured by the roll-rate projection")
    last = history[-1]
    path = project(last, rates or fit_roll_rates(history), periods)
    if kind == TriggerKind.CUMULATIVE_NET_LOSS:
        loss = max(sum(h.defaults for h in history) - sum(h.recoveries for h in history), 0)
        values, cum = [], float(loss)
        for _, _, new_loss in path:
            cum += new_loss
            values.append(int(cum * BPS // original) if original else 0)
        return _share_bps(loss, original), values
    return last.delinquent_60_plus_bps, [int(d60 * BPS // pool) if pool > 0 else 0 for pool, d60, _ in path]


def projected_breaches(history: Sequence[PeriodFigures], triggers: Sequence[TriggerTest], original: int,
                       periods: int) -> dict[int, dict[str, Any]]:
    """Trigger index -> projection of each projectable trigger not breached at the last report but projected
    above its threshold within ``periods`` periods (the first such period and its value in bps)."""
    if len(history) < 2:
        return {}
    rates = fit_roll_rates(history)
    out: dict[int, dict[str, Any]] = {}
    for t in triggers:
        if t.kind not in PROJECTED_KINDS:
            continue
        today, values = trigger_path(history, t.kind, original, periods, rates)
        if today > t.threshold_bps:
            continue  # already breached: the SPV's TriggerBreached says so
        ahead = next((k for k, v in enumerate(values, start=1) if v > t.threshold_bps), None)
        if ahead is not None:
            out[t.index] = {"trigger": t.name, "threshold_bps": t.threshold_bps, "value_bps": today,
                            "projected_bps": values[ahead - 1], "periods_to_breach": ahead,
                            "path_bps": values, "rates": {k: round(float(v), 6) for k, v in vars(rates).items()}}
    return out


def early_warning(block: int, history: Sequence[PeriodFigures], triggers: Sequence[TriggerTest], original: int,
                  periods: int = 3, min_reports: int = 3) -> list[Alert]:
    """``trigger_early_warning`` after the report of ``history[-1]``: triggers projected to breach within
    ``periods`` periods by roll rates fitted on ``history`` (at least ``min_reports`` reports), that were not
    projected to at the previous report."""
    if len(history) < max(min_reports, 2):
        return []
    now = projected_breaches(history, triggers, original, periods)
    before = projected_breaches(history[:-1], triggers, original, periods) if len(history) - 1 >= max(min_reports, 2) else {}
    period = history[-1].period
    return [Alert("trigger_early_warning", block, f"trigger:{i}:period:{period}",
                  f"{p['trigger']} ({p['value_bps']} bps now) projected at {p['projected_bps']} bps, above "
                  f"{p['threshold_bps']} bps, in {p['periods_to_breach']} period(s)", {"period": period, **p})
            for i, p in sorted(now.items()) if i not in before]


# ------------------------------------------------------------------------------------------------ green deals


def green_allocation_overdue(block: int, ledger: str, unallocated: int | None, deadline: int,
                             decimals: int) -> Alert | None:
    """``green_allocation_overdue``: at ``block``, the first block past a green deal's allocation deadline,
    ``unallocated`` proceeds remain (None: the net proceeds were never recorded). None when all is allocated."""
    if unallocated == 0:
        return None
    if unallocated is None:
        message = "allocation deadline passed and the net proceeds were never recorded on the green ledger"
        shown = "unknown (not recorded)"
    else:
        shown = format_units(unallocated, decimals)
        message = f"allocation deadline passed with {shown} of the net proceeds unallocated"
    return Alert("green_allocation_overdue", block, ledger, message,
                 {"unallocated": shown, "deadline": deadline})
