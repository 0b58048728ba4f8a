"""Deal specs: one YAML file (``deals/*.yaml``) describes a deal; this module validates and loads it.

Amounts in a spec are written in currency units (``700_000_000`` or ``"1250.50"``) and converted to
integer base units with :meth:`DealSpec.units`; a value with more decimals than the currency has is
rejected. Rates, limits and thresholds are integer basis points (``bps``: 1/10,000). See
``docs/waterfall.md`` ("Writing a deal spec") for every field.

:func:`load_deal` raises :class:`DealSpecError` whose message lists every problem as
``<file>: <field path>: <message>``, e.g. ``deals/x.yaml: tranches[1].coupon_bps: must be at most 10000``, one
line each (:attr:`DealSpecError.lines`); a file that is not YAML is named with the line and column
(``deals/x.yaml: line 4, column 3: not valid YAML: ...``). :func:`check_spec` returns those lines (empty for
a good spec) and ``python -m chainabs.model.spec FILE...`` prints them, without a traceback.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from chainabs import paths
from chainabs.model.green import GreenSpec
from chainabs.model.inputs import InputFileError, decode_text
from chainabs.model.reit import ReitSpec
from chainabs.model.rules import MonitorRules
from chainabs.model.waterfall import MAX_CLASSES, MAX_FEES, MAX_PERIOD_MONTHS, MAX_TRIGGERS, TriggerKind

#: Where the sample deals live.
DEALS_DIR = paths.DEALS_DIR

Bps = Annotated[int, Field(ge=0, le=10_000)]
Amount = Annotated[Decimal, Field(ge=0)]
PositiveAmount = Annotated[Decimal, Field(gt=0)]
Name = Annotated[str, Field(min_length=1, max_length=64)]

#: Spec trigger test names -> waterfall trigger kinds.
TRIGGER_KINDS: dict[str, TriggerKind] = {
    "cumulative_net_loss": TriggerKind.CUMULATIVE_NET_LOSS,
    "delinquency_60_plus": TriggerKind.DELINQUENCY_60_PLUS,
    "oc_ratio": TriggerKind.OVERCOLLATERALISATION,
    "ic_ratio": TriggerKind.INTEREST_COVERAGE,
}

_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
_SLUG = re.compile(r"^[a-z0-9][a-z0-9_\-]*$")


class DealSpecError(ValueError):
    """A deal spec that cannot be used; ``problems`` holds ``(field path, message)`` pairs."""

    def __init__(self, source: str, problems: list[tuple[str, str]]):
        self.source = source
        #: Each message on one line (a library's message may span several).
        self.problems = [(path, " ".join(str(msg).split())) for path, msg in problems]
        #: One line per problem, each starting with the file: ``<file>: <field path>: <message>``.
        self.lines = [f"{source}: {path}: {msg}" if path else f"{source}: {msg}" for path, msg in self.problems]
        super().__init__("invalid deal spec\n  " + "\n  ".join(self.lines))


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


def _check_address(value: str | None, path: str) -> str | None:
    if value is not None and value.startswith("0x") and not _ADDRESS.match(value):
        raise ValueError(f"{path}: {value!r} is not a 20-byte hex address (0x + 40 hex digits)")
    return value


class Currency(_Model):
    """The deal currency (an ERC-20 stablecoin)."""

    symbol: Annotated[str, Field(min_length=1, max_length=11)]
    decimals: Annotated[int, Field(ge=0, le=36)]
    #: Existing token address on a live network; None = deploy a test stablecoin locally.
    address: str | None = None

    @field_validator("address")
    @classmethod
    def _address(cls, v: str | None) -> str | None:
        if v is not None and not _ADDRESS.match(v):
            raise ValueError(f"{v!r} is not a 20-byte hex address (0x + 40 hex digits)")
        return v


class Dates(_Model):
    """Key dates; payments every ``frequency_months`` from ``first_payment``."""

    cut_off: date
    closing: date
    first_payment: date
    frequency_months: Annotated[int, Field(ge=1, le=MAX_PERIOD_MONTHS)]
    legal_final: date
    #: Last day of the offering (subscriptions and closing until the end of that day, UTC); after it anyone
    #: may cancel the offering and subscribers are refunded. Default: the closing date.
    offering_deadline: date | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Dates:
        order = [("cut_off", self.cut_off), ("closing", self.closing), ("first_payment", self.first_payment),
                 ("legal_final", self.legal_final)]
        for (a, da), (b, db) in zip(order, order[1:]):
            if db < da or (b != "closing" and db == da):
                rel = "on or after" if b == "closing" else "after"
                raise ValueError(f"dates.{b}: {db} must be {rel} dates.{a} ({da})")
        deadline = self.offering_deadline
        if deadline is not None and not self.closing <= deadline < self.first_payment:
            raise ValueError(f"dates.offering_deadline: {deadline} must be on or after dates.closing ({self.closing}) "
                             f"and before dates.first_payment ({self.first_payment})")
        return self

    @property
    def offering_end(self) -> date:
        """The last day of the offering (``offering_deadline``, else the closing date)."""
        return self.offering_deadline or self.closing


class Pool(_Model):
    """The pool at cut-off."""

    original_balance: PositiveAmount


class ConcentrationLimits(_Model):
    """Largest share of the pool balance (bps) per region, industry and obligor; None = no limit."""

    max_region_bps: Bps | None = None
    max_industry_bps: Bps | None = None
    max_obligor_bps: Bps | None = None


class Eligibility(_Model):
    """Criteria every pooled asset must meet (checked by the asset registry at onboarding)."""

    #: The asset registry's asset types (``chainabs.model.tape.ASSET_TYPES``).
    asset_types: Annotated[list[Literal["consumer_loan", "trade_receivable", "lease", "mortgage", "rent", "auto_loan"]],
                           Field(min_length=1)]
    min_rate_bps: Bps = 0
    max_rate_bps: Bps = 10_000
    max_remaining_term_months: Annotated[int, Field(ge=1, le=600)]
    max_principal_per_asset: PositiveAmount
    max_delinquency_days_at_cut_off: Annotated[int, Field(ge=0, le=3650)] = 0
    originated_before_cut_off: bool = True
    matures_before_legal_final: bool = True
    concentration: ConcentrationLimits = ConcentrationLimits()

    @model_validator(mode="after")
    def _rates(self) -> Eligibility:
        if self.min_rate_bps > self.max_rate_bps:
            raise ValueError(
                f"eligibility.min_rate_bps ({self.min_rate_bps}) is above eligibility.max_rate_bps "
                f"({self.max_rate_bps})"
            )
        if len(set(self.asset_types)) != len(self.asset_types):
            raise ValueError("eligibility.asset_types: listed twice: "
                             + ", ".join(sorted({a for a in self.asset_types if self.asset_types.count(a) > 1})))
        return self


class Tranche(_Model):
    """One class of securities. ``seniority`` 1 is the most senior; the equity class is the most junior."""

    class_name: Name
    symbol: Annotated[str, Field(min_length=1, max_length=11)]
    seniority: Annotated[int, Field(ge=1, le=MAX_CLASSES)]
    size: PositiveAmount
    coupon_bps: Bps = 0
    #: Transfers blocked for this many days after closing.
    lock_up_days: Annotated[int, Field(ge=0, le=3650)] = 0
    is_equity: bool = False


class Fee(_Model):
    """A senior fee: fixed per period plus a per-annum rate on the beginning pool balance."""

    name: Name
    #: The role paid (a key of ``roles``).
    payee: Literal["arranger", "servicer", "trustee", "regulator", "originator"]
    fixed_per_period: Amount = Decimal(0)
    pool_bps_per_annum: Bps = 0


class Reserve(_Model):
    """The reserve account (funded at closing, topped up from revenue to its target)."""

    initial: Amount = Decimal(0)
    target_bps: Bps = 0
    #: Target while a ``reserve_step_up`` trigger is breached (defaults to ``target_bps``).
    step_up_target_bps: Bps | None = None
    floor: Amount = Decimal(0)
    #: Classes whose interest the reserve may pay (the most senior ones, by class name).
    covers_interest_of: list[Name] = Field(default_factory=list)

    @model_validator(mode="after")
    def _step_up(self) -> Reserve:
        if self.step_up_target_bps is None:
            object.__setattr__(self, "step_up_target_bps", self.target_bps)
        elif self.step_up_target_bps < self.target_bps:
            raise ValueError(f"reserve.step_up_target_bps ({self.step_up_target_bps}) is below "
                             f"reserve.target_bps ({self.target_bps})")
        return self


class Trigger(_Model):
    """A performance test evaluated at every period close."""

    name: Name
    test: Literal["cumulative_net_loss", "delinquency_60_plus", "oc_ratio", "ic_ratio"]
    threshold_bps: Annotated[int, Field(ge=0, le=1_000_000)]
    switches: Annotated[list[Literal["sequential", "reserve_step_up"]], Field(min_length=1)]
    curable: bool = True

    @field_validator("threshold_bps")
    @classmethod
    def _threshold(cls, v: int, info: Any) -> int:
        test = info.data.get("test")
        if test in ("cumulative_net_loss", "delinquency_60_plus") and v > 10_000:
            raise ValueError(f"a {test} threshold is a share of a balance: at most 10000 bps")
        return v


class EarlyAmortization(_Model):
    """A test that ends the revolving period early (for good) when breached at a close."""

    name: Name
    #: excess_spread (annualised, breached below), dilution (of the period, breached above),
    #: delinquency_60_plus (of the pool ending balance, breached above); ``chainabs.model.revolving``.
    test: Literal["excess_spread", "dilution", "delinquency_60_plus"]
    threshold_bps: Bps


class Revolving(_Model):
    """Revolving period: until ``end`` (payment dates on or before it revolve) or an early-amortization trigger,
    principal collections buy new eligible receivables at par; the live pool keeps ``eligibility.concentration``
    after every purchase. ``dilution``: how a credit note or dispute counts (a loss, or a repurchase by the
    originator)."""

    end: date
    early_amortization: Annotated[list[EarlyAmortization], Field(max_length=MAX_TRIGGERS)] = Field(
        default_factory=list)
    dilution: Literal["loss", "repurchase"] = "loss"


class Roles(_Model):
    """Parties: an address (0x...) or a name resolved to an account at deployment."""

    arranger: Name
    originator: Name
    servicer: Name
    trustee: Name
    regulator: Name
    #: Takes defaulted loans through recovery (repossession, collateral sale); the servicer when not named.
    disposal_agent: Name | None = None

    @model_validator(mode="after")
    def _addresses(self) -> Roles:
        for role in ("arranger", "originator", "servicer", "trustee", "regulator", "disposal_agent"):
            if getattr(self, role) is not None:
                _check_address(getattr(self, role), f"roles.{role}")
        return self


class Document(_Model):
    """A deal document (ERC-1643) attached to every tranche token at deployment: a local file (its SHA-256 is
    the on-chain hash; a relative path is read from the spec's folder) and the URI where investors read it."""

    file: Annotated[str, Field(min_length=1)]
    uri: Annotated[str, Field(min_length=1, max_length=512)]


_DOCUMENT_NAME = re.compile(r"^[a-z0-9][a-z0-9_\-]{0,31}$")


class DealSpec(_Model):
    """A whole deal."""

    name: Annotated[str, Field(min_length=1, max_length=64)]
    title: Name
    description: str = ""
    currency: Currency
    dates: Dates
    pool: Pool
    eligibility: Eligibility
    tranches: Annotated[list[Tranche], Field(min_length=1, max_length=MAX_CLASSES)]
    fees: Annotated[list[Fee], Field(max_length=MAX_FEES)] = Field(default_factory=list)
    reserve: Reserve = Reserve()
    triggers: Annotated[list[Trigger], Field(max_length=MAX_TRIGGERS)] = Field(default_factory=list)
    principal_mode: Literal["sequential", "pro_rata"]
    clean_up_call_bps: Bps = 1_000
    roles: Roles
    #: Thresholds of the regulator monitor's rules (``docs/reports.md``); defaults when absent.
    monitor: MonitorRules = MonitorRules()
    #: The deal's documents by name (``offering_circular``, ``trust_deed``...): file and URI.
    documents: dict[str, Document] = Field(default_factory=dict)

    @field_validator("documents")
    @classmethod
    def _document_names(cls, v: dict[str, Document]) -> dict[str, Document]:
        for name in v:
            if not _DOCUMENT_NAME.match(name):
                raise ValueError(f"documents.{name}: use 1 to 32 lower-case letters, digits, '_' and '-' "
                                 "(it is the on-chain bytes32 name)")
        return v

    #: A green deal's use of proceeds (``chainabs.model.green``); None for other deals.
    green: GreenSpec | None = None
    #: A REIT's properties and leases (``chainabs.model.reit``); None for other deals.
    reit: ReitSpec | None = None
    #: A revolving period (trade receivables); None = a static, amortizing pool.
    revolving: Revolving | None = None

    @field_validator("name")
    @classmethod
    def _slug(cls, v: str) -> str:
        if not _SLUG.match(v):
            raise ValueError(f"{v!r}: use lower-case letters, digits, '_' and '-' (it names files)")
        if v.startswith("onboard-"):  # the name of `chainabs onboard`'s records beside the deals' manifests
            raise ValueError(f"{v!r}: a deal's name may not start with 'onboard-' (reserved for onboarding records)")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> DealSpec:
        self._check_amount_precision()
        self._check_tranches()
        self._check_reserve_and_fees()
        if self.green is not None and self.green.allocation_deadline <= self.dates.closing:
            raise ValueError(f"green.allocation_deadline: {self.green.allocation_deadline} must be after "
                             f"dates.closing ({self.dates.closing})")
        if self.reit is not None:
            self._check_reit()
        self._check_revolving()
        return self

    def _check_reit(self) -> None:
        reit = self.reit
        assert reit is not None
        if self.eligibility.asset_types != ["rent"]:
            raise ValueError("eligibility.asset_types: a REIT's pool is leases: [rent] only")
        if reit.appraised_value != self.pool.original_balance:
            raise ValueError(f"pool.original_balance: {self.pool.original_balance} is not the properties' appraised "
                             f"value ({reit.appraised_value})")
        for k, p in enumerate(reit.properties):
            if p.appraisal.as_tuple().exponent < -self.currency.decimals:  # type: ignore[operator]
                raise ValueError(f"reit.properties[{k}].appraisal: more than the currency's decimals")
        for k, x in enumerate(reit.leases):
            if x.monthly_rent.as_tuple().exponent < -self.currency.decimals:  # type: ignore[operator]
                raise ValueError(f"reit.leases[{k}].monthly_rent: more than the currency's decimals")

    def _check_revolving(self) -> None:
        rv = self.revolving
        if rv is None:
            return
        if not self.dates.first_payment <= rv.end < self.dates.legal_final:
            raise ValueError(f"revolving.end: {rv.end} must be on or after dates.first_payment "
                             f"({self.dates.first_payment}) and before dates.legal_final ({self.dates.legal_final})")
        names = [t.name for t in rv.early_amortization]
        for j, n in enumerate(names):
            if names.index(n) != j:
                raise ValueError(f"revolving.early_amortization[{j}].name: {n!r} already used")

    # -- cross-field rules ---------------------------------------------------------------------------

    def _check_amount_precision(self) -> None:
        for path, value in self._amounts():
            if value.as_tuple().exponent < -self.currency.decimals:  # type: ignore[operator]
                raise ValueError(f"{path}: {value} has more than the currency's "
                                 f"{self.currency.decimals} decimals")

    def _check_tranches(self) -> None:
        seen: dict[str, dict[Any, int]] = {"seniority": {}, "class_name": {}, "symbol": {}}
        for i, t in enumerate(self.tranches):
            for attr, index in seen.items():
                key = getattr(t, attr)
                if key in index:
                    raise ValueError(f"tranches[{i}].{attr}: {key!r} already used by tranches[{index[key]}]")
                index[key] = i
        ordered = self.tranches_by_seniority()
        for i, t in enumerate(ordered):
            pos = self.tranches.index(t)
            if t.is_equity and i != len(ordered) - 1:
                raise ValueError(f"tranches[{pos}].is_equity: only the most junior class can be the equity class")
            if i == len(ordered) - 1 and not t.is_equity:
                raise ValueError(f"tranches[{pos}].is_equity: the most junior class ({t.class_name}) must be the "
                                 "equity class (it receives the residual)")
            if t.is_equity and t.coupon_bps != 0:
                raise ValueError(f"tranches[{pos}].coupon_bps: the equity class has no coupon (residual only)")
        total = sum((t.size for t in self.tranches), Decimal(0))
        if total != self.pool.original_balance:
            raise ValueError(f"tranches: sizes sum to {total} but pool.original_balance is "
                             f"{self.pool.original_balance}")
        if self.eligibility.max_principal_per_asset > self.pool.original_balance:
            raise ValueError("eligibility.max_principal_per_asset is above pool.original_balance")

    def _check_reserve_and_fees(self) -> None:
        ordered = [t.class_name for t in self.tranches_by_seniority()]
        covered = self.reserve.covers_interest_of
        for j, name in enumerate(covered):
            if name not in ordered:
                raise ValueError(f"reserve.covers_interest_of[{j}]: no tranche has class_name {name!r}")
            if name == ordered[-1]:
                raise ValueError(f"reserve.covers_interest_of[{j}]: {name} is the equity class (no interest)")
        if covered and sorted(covered, key=ordered.index) != ordered[: len(covered)]:
            raise ValueError("reserve.covers_interest_of: must name the most senior classes, e.g. "
                             f"{ordered[: len(covered)]}")
        if self.reserve.floor > self.pool.original_balance:
            raise ValueError("reserve.floor is above pool.original_balance")
        names = [f.name for f in self.fees]
        for k, f in enumerate(self.fees):
            if names.index(f.name) != k:
                raise ValueError(f"fees[{k}].name: {f.name!r} already used by fees[{names.index(f.name)}]")
            if f.fixed_per_period == 0 and f.pool_bps_per_annum == 0:
                raise ValueError(f"fees[{k}]: set fixed_per_period or pool_bps_per_annum (both are zero)")
        tnames = [t.name for t in self.triggers]
        for j, t in enumerate(self.triggers):
            if tnames.index(t.name) != j:
                raise ValueError(f"triggers[{j}].name: {t.name!r} already used by triggers[{tnames.index(t.name)}]")
            if "reserve_step_up" in t.switches and self.reserve.step_up_target_bps == self.reserve.target_bps:
                raise ValueError(f"triggers[{j}].switches: reserve_step_up needs reserve.step_up_target_bps "
                                 "above reserve.target_bps")

    def _amounts(self) -> list[tuple[str, Decimal]]:
        out = [("pool.original_balance", self.pool.original_balance),
               ("eligibility.max_principal_per_asset", self.eligibility.max_principal_per_asset),
               ("reserve.initial", self.reserve.initial), ("reserve.floor", self.reserve.floor)]
        out += [(f"tranches[{i}].size", t.size) for i, t in enumerate(self.tranches)]
        out += [(f"fees[{k}].fixed_per_period", f.fixed_per_period) for k, f in enumerate(self.fees)]
        if self.green is not None:
            out += [(f"green.projects[{k}].planned", p.planned) for k, p in enumerate(self.green.projects)]
        return out

    # -- helpers -------------------------------------------------------------------------------------

    def units(self, amount: Decimal | int | str) -> int:
        """Currency units -> integer base units (exact; raises ``ValueError`` on extra decimals)."""
        scaled = Decimal(amount).scaleb(self.currency.decimals)
        if scaled != scaled.to_integral_value():
            raise ValueError(f"{amount} has more than {self.currency.decimals} decimals")
        return int(scaled)

    def sized_to(self, pool_balance: Decimal | int | str) -> DealSpec:
        """The same deal for a pool of ``pool_balance`` currency units (e.g. the total of an actual tape).

        Tranche sizes, the reserve (initial, floor) and fixed fees scale in proportion, rounded down to the
        currency's decimals; the equity class takes what rounding leaves, so sizes add up exactly.
        """
        new_pool = Decimal(pool_balance)
        ratio = new_pool / self.pool.original_balance
        quantum = Decimal(1).scaleb(-self.currency.decimals)

        def scale(amount: Decimal) -> Decimal:
            return (amount * ratio).quantize(quantum, rounding="ROUND_DOWN")

        data = self.model_dump(mode="python")
        data["pool"]["original_balance"] = new_pool
        ordered = self.tranches_by_seniority()
        sizes = {t.class_name: scale(t.size) for t in ordered[:-1]}
        sizes[ordered[-1].class_name] = new_pool - sum(sizes.values(), Decimal(0))
        for t in data["tranches"]:
            t["size"] = sizes[t["class_name"]]
        data["reserve"]["initial"] = scale(self.reserve.initial)
        data["reserve"]["floor"] = scale(self.reserve.floor)
        for f in data["fees"]:
            f["fixed_per_period"] = scale(Decimal(f["fixed_per_period"]))
        data["eligibility"]["max_principal_per_asset"] = min(self.eligibility.max_principal_per_asset, new_pool)
        return parse_deal(data, f"{self.name} sized to {new_pool}")

    def tranches_by_seniority(self) -> list[Tranche]:
        """Tranches most senior first."""
        return sorted(self.tranches, key=lambda t: t.seniority)

    def content_hash(self) -> str:
        """SHA-256 (hex) of the deal's terms: every field in canonical JSON except the documents' local file
        paths (a document's content is checked on its own, by its hash). Two specs with the same hash deploy
        the same deal; a deployment manifest records it to refuse an edited spec."""
        data = self.model_dump(mode="json")
        data["documents"] = {name: doc["uri"] for name, doc in sorted(data["documents"].items())}
        text = json.dumps(data, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    def document_files(self, base: Path | None = None) -> dict[str, Path]:
        """Each document's file: absolute as written, else relative to ``base`` (default ``deals/``)."""
        root = Path(base) if base is not None else DEALS_DIR
        return {name: (Path(d.file) if Path(d.file).is_absolute() else root / d.file)
                for name, d in self.documents.items()}


def _loc(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


_DATE_TEXT = re.compile(r"^\s*(\d{4})-(\d{1,2})-(\d{1,2})\s*$")


def _not_a_date(value: Any) -> str:
    """Why ``value`` (a spec's date field) is not a date, e.g. ``'2025-13-45' is not a date (month must be in
    1..12)``."""
    reason = "write it as YYYY-MM-DD"
    m = _DATE_TEXT.match(value) if isinstance(value, str) else None
    if m:
        try:
            date(*(int(g) for g in m.groups()))
        except ValueError as exc:
            reason = str(exc)
    if isinstance(value, date):  # a date and time (2025-07-15 10:00)
        return f"{value.isoformat(sep=' ')} is not a date: write the day only (YYYY-MM-DD)"
    return f"{value!r} is not a date ({reason})"


def parse_deal(data: Any, source: str = "<spec>") -> DealSpec:
    """Validate a mapping (e.g. parsed YAML) as a :class:`DealSpec`; raises :class:`DealSpecError`."""
    if not isinstance(data, dict):
        raise DealSpecError(source, [("", "a deal spec is a YAML mapping (key: value) at the top level")])
    try:
        return DealSpec.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors(include_url=False):
            path = _loc(tuple(err["loc"]))
            msg = err["msg"]
            if err["type"].startswith("date_"):
                problems.append((path, _not_a_date(err.get("input"))))
                continue
            if msg.startswith("Value error, "):
                msg = msg[len("Value error, "):]
            # Messages from cross-field rules name their own field: "field.path: message".
            m = re.match(r"^([A-Za-z_][\w\.\[\]]*): (.*)$", msg, re.S)
            if m and not path:
                path, msg = m.group(1), m.group(2)
            elif m and m.group(1).startswith(path.split("[")[0]):
                path, msg = m.group(1), m.group(2)
            problems.append((path, msg))
        raise DealSpecError(source, problems) from None


def spec_path(path: str | Path) -> Path:
    """The file of a deal spec argument: the path itself, or for a bare name the sample in ``deals/``."""
    p = Path(path)
    if not p.exists() and not p.suffix and (DEALS_DIR / f"{p.name}.yaml").exists():
        p = DEALS_DIR / f"{p.name}.yaml"
    return p


class _SpecLoader(yaml.SafeLoader):
    """YAML as ``yaml.safe_load`` reads it, except: a date-like value that is no date (``2025-13-45``) stays text
    (the field's validator names it), and a key given twice in a mapping is an error, not silently the last."""

    def construct_yaml_timestamp(self, node: yaml.Node) -> Any:
        try:
            return super().construct_yaml_timestamp(node)  # type: ignore[arg-type]
        except ValueError:
            return self.construct_scalar(node)  # type: ignore[arg-type]

    def construct_mapping(self, node: yaml.Node, deep: bool = False) -> dict[Any, Any]:
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, int] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    if key in seen:
                        raise yaml.constructor.ConstructorError(
                            None, None, f"key {key!r} appears twice (first on line {seen[key] + 1})",
                            key_node.start_mark)
                    seen[key] = key_node.start_mark.line
                except TypeError:  # an unhashable key: the base class says so
                    break
        return super().construct_mapping(node, deep=deep)  # type: ignore[arg-type]


_SpecLoader.add_constructor("tag:yaml.org,2002:timestamp", _SpecLoader.construct_yaml_timestamp)


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """One line for a YAML error: where (line, column) and what, without the excerpt PyYAML adds."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    context = getattr(exc, "context", None)
    context_mark = getattr(exc, "context_mark", None)
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    if context:
        started = (f" started at line {context_mark.line + 1}, column {context_mark.column + 1}"
                   if context_mark is not None and mark is not None and context_mark.line != mark.line else "")
        problem = f"{problem} ({context}{started})"
    return f"{where}not valid YAML: {problem}"


def read_spec(path: str | Path) -> tuple[Path, Any]:
    """The file of a spec argument (:func:`spec_path`) and its parsed YAML; :class:`DealSpecError` (one line naming
    the file) when it is missing, empty, not UTF-8 or not YAML."""
    p = spec_path(path)
    if not p.exists():
        raise DealSpecError(str(path), [("", "file not found")])
    if p.is_dir():
        raise DealSpecError(str(p), [("", "is a folder, not a deal spec file")])
    try:
        text = decode_text(p, p.read_bytes(), save_as="save it as UTF-8 text")
    except InputFileError as exc:
        raise DealSpecError(str(p), [("", exc.problem)]) from None
    except OSError as exc:
        raise DealSpecError(str(p), [("", f"cannot be read ({exc.strerror or type(exc).__name__})")]) from None
    try:
        data = yaml.load(text, Loader=_SpecLoader)  # noqa: S506 - a SafeLoader
    except yaml.YAMLError as exc:
        raise DealSpecError(str(p), [("", _yaml_problem(exc))]) from None
    if data is None:  # nothing, or only comments
        raise DealSpecError(str(p), [("", "empty file (no deal spec)")])
    return p, data


def load_deal(path: str | Path) -> DealSpec:
    """Read and validate a deal spec file (``deals/<name>.yaml``, or a bare name found in ``deals/``)."""
    p, data = read_spec(path)
    return parse_deal(data, str(p))


def check_spec(path: str | Path) -> list[str]:
    """Every problem of a deal spec file as one line ``<file>: <field path>: <message>`` (empty: the spec is good).
    What ``chainabs spec check FILE`` prints; never raises for a bad file."""
    try:
        load_deal(path)
    except DealSpecError as exc:
        return exc.lines
    return []


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m chainabs.model.spec FILE...``: check deal specs; prints each problem on one line (stderr) or
    ``<file>: ok``; exit status 1 when a spec has a problem, 2 without a file."""
    files = list(sys.argv[1:] if argv is None else argv)
    if not files:
        print("usage: python -m chainabs.model.spec FILE... (deal spec YAML files, or sample names)", file=sys.stderr)
        return 2
    status = 0
    for f in files:
        lines = check_spec(f)
        for line in lines:
            print(line, file=sys.stderr)
        if lines:
            status = 1
        else:
            print(f"{spec_path(f)}: ok")
    return status


def sample_deals() -> list[Path]:
    """The sample deal specs shipped in ``deals/``."""
    return sorted(DEALS_DIR.glob("*.yaml"))


if __name__ == "__main__":
    sys.exit(main())
