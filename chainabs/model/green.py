"""Green deals (Green Bond Principles): the spec's ``green`` section, category and impact-metric codes, and the
allocation and impact tables rebuilt from the use-of-proceeds ledger's events (pure: the chain layer reads the
events, this module shapes them).

Codes are the ``GreenLedger`` contract's (``interfaces/IGreenLedger.sol``): a category code is a bit of the
deal's eligible-category mask; an impact value is an integer in thousandths of its metric's unit.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Annotated, Any, Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator

#: The Green Bond Principles' project categories (ICMA, June 2021), by the ledger's code.
CATEGORIES: dict[str, int] = {
    "renewable_energy": 0, "energy_efficiency": 1, "pollution_prevention": 2, "living_natural_resources": 3,
    "biodiversity": 4, "clean_transportation": 5, "water_management": 6, "climate_adaptation": 7,
    "circular_economy": 8, "green_buildings": 9,
}
CATEGORY_NAMES: dict[int, str] = {code: name for name, code in CATEGORIES.items()}
CategoryName = Literal["renewable_energy", "energy_efficiency", "pollution_prevention", "living_natural_resources",
                       "biodiversity", "clean_transportation", "water_management", "climate_adaptation",
                       "circular_economy", "green_buildings"]

#: Impact metrics (value on chain = thousandths of the unit), by the ledger's code.
METRICS: dict[str, int] = {"mwh_generated": 0, "tco2e_avoided": 1, "mwh_saved": 2, "ev_charging_sessions": 3,
                           "m3_water_saved": 4, "tonnes_waste_diverted": 5}
METRIC_NAMES: dict[int, str] = {code: name for name, code in METRICS.items()}
METRIC_UNITS: dict[str, str] = {"mwh_generated": "MWh", "tco2e_avoided": "tCO2e", "mwh_saved": "MWh",
                                "ev_charging_sessions": "sessions", "m3_water_saved": "m3",
                                "tonnes_waste_diverted": "t"}
MetricName = Literal["mwh_generated", "tco2e_avoided", "mwh_saved", "ev_charging_sessions", "m3_water_saved",
                     "tonnes_waste_diverted"]
#: Impact values are stored in thousandths of the metric's unit.
IMPACT_SCALE = 1_000


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class GreenImpact(_Model):
    """A sample impact figure of a project for one period (the demo reports it)."""

    period: Annotated[int, Field(ge=1)]
    metric: MetricName
    value: Annotated[Decimal, Field(gt=0)]

    @model_validator(mode="after")
    def _precision(self) -> GreenImpact:
        if (self.value * IMPACT_SCALE) != (self.value * IMPACT_SCALE).to_integral_value():
            raise ValueError(f"impact value {self.value}: at most 3 decimals")
        return self


class GreenProject(_Model):
    """A project the proceeds are planned for (the demo registers it and allocates ``allocate`` to it)."""

    name: Annotated[str, Field(min_length=1, max_length=64)]
    category: CategoryName
    planned: Annotated[Decimal, Field(gt=0)]
    #: where the project's evidence lives (hashed on chain)
    evidence: Annotated[str, Field(min_length=1)]
    #: share of the net proceeds the demo allocates to it, in basis points
    allocate_bps: Annotated[int, Field(ge=0, le=10_000)] = 0
    impact: list[GreenImpact] = Field(default_factory=list)


class GreenSpec(_Model):
    """A deal's ``green`` section: what makes it a green deal."""

    #: Green Bond Principles categories the proceeds may go to
    eligible_categories: Annotated[list[CategoryName], Field(min_length=1)]
    #: the role that allocates the proceeds (a key of the spec's ``roles``)
    allocator: Literal["arranger", "originator", "servicer", "trustee"] = "originator"
    #: the date by which the net proceeds must be fully allocated
    allocation_deadline: dt.date
    #: sample projects (registered and allocated by the demo)
    projects: list[GreenProject] = Field(default_factory=list)

    @model_validator(mode="after")
    def _check(self) -> GreenSpec:
        if len(set(self.eligible_categories)) != len(self.eligible_categories):
            raise ValueError("green.eligible_categories: a category is listed twice")
        names = [p.name for p in self.projects]
        if len(set(names)) != len(names):
            raise ValueError("green.projects: two projects have the same name")
        if sum(p.allocate_bps for p in self.projects) > 10_000:
            raise ValueError("green.projects: allocate_bps sum above 10000 (more than the net proceeds)")
        return self

    @property
    def eligible_mask(self) -> int:
        """The ledger's eligible-category mask (bit = category code)."""
        return sum(1 << CATEGORIES[c] for c in self.eligible_categories)


def categories_of(mask: int) -> list[str]:
    """Category names of an eligible-category mask."""
    return [name for code, name in CATEGORY_NAMES.items() if mask >> code & 1]


def deadline_time(spec_deadline: dt.date, spec_closing: dt.date, closing_time: int) -> int:
    """Unix time of the end of the allocation deadline's day, shifted like the deal's dates (closing at
    ``closing_time``, the chain time of the spec's closing date)."""
    return closing_time + (spec_deadline - spec_closing).days * 86_400 + 86_399


def allocation_table(projects: Iterable[Mapping[str, Any]], allocations: Iterable[Mapping[str, Any]],
                     net_proceeds: int) -> pd.DataFrame:
    """One row per project: category, planned, allocated (sum of its allocations), share of the net proceeds
    (bps, rounded down), number of allocations. ``projects``: ProjectRegistered events' fields plus ``block``;
    ``allocations``: ProceedsAllocated events' fields."""
    alloc = pd.DataFrame(list(allocations), columns=["projectId", "amount", "evidenceHash", "unallocated"])
    sums = alloc.groupby("projectId")["amount"].agg(["sum", "count"]) if len(alloc) else None
    rows = []
    for p in projects:
        pid = p["projectId"]
        total = int(sums.loc[pid, "sum"]) if sums is not None and pid in sums.index else 0
        count = int(sums.loc[pid, "count"]) if sums is not None and pid in sums.index else 0
        rows.append({"project": str(p.get("name", "")), "project_id": pid, "category": CATEGORY_NAMES.get(int(p["category"]), str(p["category"])),
                     "planned": int(p["planned"]), "allocated": total, "allocations": count,
                     "share_bps": total * 10_000 // net_proceeds if net_proceeds else 0,
                     "evidence_hash": p["evidenceHash"]})
    return pd.DataFrame(rows, columns=["project", "project_id", "category", "planned", "allocated", "allocations", "share_bps",
                                       "evidence_hash"])


def impact_table(impacts: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """One row per project, period and metric: the reported value (summed if reported twice) in thousandths and
    in the metric's unit. ``impacts``: ImpactReported events' fields."""
    df = pd.DataFrame(list(impacts), columns=["projectId", "period", "metric", "value", "evidenceHash"])
    if df.empty:
        return pd.DataFrame(columns=["project_id", "period", "metric", "unit", "value_milli", "value", "evidence"])
    df["metric"] = df["metric"].map(lambda m: METRIC_NAMES.get(int(m), str(m)))
    out = (df.groupby(["projectId", "period", "metric"], sort=True)
             .agg(value_milli=("value", lambda s: int(sum(int(v) for v in s))),
                  evidence=("evidenceHash", lambda s: ";".join(s)))
             .reset_index().rename(columns={"projectId": "project_id"}))
    out["unit"] = out["metric"].map(METRIC_UNITS)
    out["value"] = out["value_milli"].map(lambda v: Decimal(int(v)) / IMPACT_SCALE)
    return out[["project_id", "period", "metric", "unit", "value_milli", "value", "evidence"]]
