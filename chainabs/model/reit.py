"""REITs: a deal whose pool is leases on properties, whose collections are rents and whose units (the equity
class) carry no coupon: after fees, the reserve and any senior debt, the net rental income of each period goes
to the unit holders pro rata (the waterfall's residual, distributed per unit by the equity token).

On chain a lease is a registry asset of type ``rent`` (tenant = obligor; term, start and end; its "principal" is
the share of its property's appraised value the lease carries, which does not amortise; its rate is the lease's
gross yield on that value), and its property is recorded in the collateral registry as real estate (identifier
hash, title document hash, appraisal value and date). Each period the servicer's tape reports each lease's rent
as its interest collected. A period with no rent at all (every lease vacant or in arrears) is reported like
any other (its defaults reach the waterfall: fees and the senior debt's interest accrue, the reserve pays what
it covers, losses are written down); the SPV notes it (``NoRentCollected``) and its close distributes nothing
to the unit holders.

This module (pure) holds the spec's ``reit`` section, the lease tape and property records built from it, the
servicer's rent tape of a period and the NAV per unit from the latest appraisals.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated

import pandas as pd
from eth_hash.auto import keccak
from pydantic import BaseModel, ConfigDict, Field, model_validator

from chainabs.model.assets import ACTIVE_STATUSES, RECOVERING_STATUSES
from chainabs.model.servicing import SERVICING_COLUMNS, quiet_period

#: The registry's asset type of a lease's rent.
LEASE_ASSET_TYPE = "rent"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


Text = Annotated[str, Field(min_length=1, max_length=128)]


class Property(_Model):
    """A property of the REIT (recorded as real-estate collateral of its leases)."""

    id: Text  # land-registry / cadastral identifier (hashed on chain)
    title_document: Text  # where the title deed lives (hashed on chain as the record's document hash)
    appraisal: Annotated[Decimal, Field(gt=0)]
    appraisal_date: dt.date
    region: Annotated[int, Field(ge=0, le=65_535)]


class Lease(_Model):
    """A lease of (part of) a property: its tenant, monthly rent and term."""

    id: Annotated[str, Field(min_length=1, max_length=31)]
    property: Text
    tenant: Text
    monthly_rent: Annotated[Decimal, Field(gt=0)]
    start: dt.date
    term_months: Annotated[int, Field(ge=1, le=600)]
    industry: Annotated[int, Field(ge=0, le=65_535)] = 0


class ReitSpec(_Model):
    """A REIT deal's ``reit`` section: the properties and their leases."""

    properties: Annotated[list[Property], Field(min_length=1)]
    leases: Annotated[list[Lease], Field(min_length=1)]

    @model_validator(mode="after")
    def _check(self) -> ReitSpec:
        ids = [p.id for p in self.properties]
        if len(set(ids)) != len(ids):
            raise ValueError("reit.properties: two properties have the same id")
        lease_ids = [x.id for x in self.leases]
        if len(set(lease_ids)) != len(lease_ids):
            raise ValueError("reit.leases: two leases have the same id")
        for k, lease in enumerate(self.leases):
            if lease.property not in ids:
                raise ValueError(f"reit.leases[{k}].property: no property {lease.property!r}")
        let = {x.property for x in self.leases}
        for k, p in enumerate(self.properties):
            if p.id not in let:
                raise ValueError(f"reit.properties[{k}]: property {p.id!r} has no lease")
        return self

    @property
    def appraised_value(self) -> Decimal:
        return sum((p.appraisal for p in self.properties), Decimal(0))


def _hex(text: str) -> str:
    return "0x" + keccak(text.encode()).hex()


def _add_months(d: dt.date, months: int) -> dt.date:
    y, m = divmod(d.month - 1 + months, 12)
    year, month = d.year + y, m + 1
    last = (dt.date(year + month // 12, month % 12 + 1, 1) - dt.timedelta(days=1)).day
    return dt.date(year, month, min(d.day, last))


def lease_values(reit: ReitSpec, units: callable) -> dict[str, int]:  # type: ignore[valid-type]
    """Each lease's share of its property's appraised value, in base units (``units``: currency units -> base
    units): a property's value split by its leases' rents, rounded down, the last lease taking the remainder."""
    out: dict[str, int] = {}
    for p in reit.properties:
        mine = [x for x in reit.leases if x.property == p.id]
        value = units(p.appraisal)
        rents = [units(x.monthly_rent) for x in mine]
        total = sum(rents)
        shares = [value * r // total for r in rents]
        shares[-1] = value - sum(shares[:-1])
        out.update({x.id: s for x, s in zip(mine, shares, strict=True)})
    return out


def lease_tape(reit: ReitSpec, units: callable) -> pd.DataFrame:  # type: ignore[valid-type]
    """The registry tape of the leases (``chainabs.model.tape`` columns): asset type ``rent``, principal = the
    lease's share of its property's value (:func:`lease_values`), rate = the lease's gross yield on it in basis
    points (annual rent / value, rounded down), the tenant as obligor, the property's region."""
    values = lease_values(reit, units)
    region = {p.id: p.region for p in reit.properties}
    rows = []
    for x in reit.leases:
        value = values[x.id]
        rows.append({
            "loan_id": x.id, "asset_type": LEASE_ASSET_TYPE, "original_principal": value, "principal": value,
            "rate_bps": 12 * units(x.monthly_rent) * 10_000 // value, "term_months": x.term_months,
            "origination_date": pd.Timestamp(x.start), "maturity_date": pd.Timestamp(_add_months(x.start, x.term_months)),
            "days_delinquent": 0, "region": region[x.property], "industry": x.industry,
            "obligor": _hex(f"tenant:{x.tenant}"), "contract_hash": _hex(f"lease:{x.id}:{x.property}:{x.tenant}"),
            "schedule_hash": _hex(f"rent:{x.id}:{x.monthly_rent}:{x.term_months}"),
        })
    return pd.DataFrame(rows)


def property_records(reit: ReitSpec, units: callable) -> pd.DataFrame:  # type: ignore[valid-type]
    """The collateral file of the leases (``chainabs.model.collateral`` columns): each lease's property as real
    estate (identifier = the property id, document = its title deed), appraised at the lease's share of the
    property's value on the appraisal date (so the pool's collateral sums to the properties' value)."""
    values = lease_values(reit, units)
    by_id = {p.id: p for p in reit.properties}
    return pd.DataFrame([{
        "loan_id": x.id, "kind": "real_estate", "identifier": x.property, "appraised_value": values[x.id],
        "appraisal_date": pd.Timestamp(by_id[x.property].appraisal_date),
        "lien_hash": _hex(f"title:{by_id[x.property].title_document}"),
    } for x in reit.leases])


def rent_tape(previous: pd.DataFrame, reit: ReitSpec, units: callable, period: int, months: int,  # type: ignore[valid-type]
              unpaid: frozenset[str] = frozenset(), *, defaulted: frozenset[str] = frozenset(),
              sold: frozenset[str] = frozenset(), resolved: dict[str, int] | None = None) -> pd.DataFrame:
    """The servicer's tape of ``period`` (``months`` of rent): every live lease keeps its value (no amortisation)
    and reports its rent for the period as interest collected, except the leases in ``unpaid`` (0 collected;
    rent arrears are not delinquency of the property's value). ``previous``: the books' last tape.

    ``defaulted``: leases whose tenant left for good this period (no rent; the lease's whole value becomes a
    defaulted claim, a loss); ``sold``: leases whose property share was sold this period (the sale price, the
    lease's value, arrives as a prepayment; the period's rent is still collected unless ``unpaid``);
    ``resolved``: defaulted leases closed this period -> what was recovered (``ChargedOff``; 0: nothing). Leases
    closed before are carried with no flows."""
    rent = {x.id: units(x.monthly_rent) * months for x in reit.leases}
    out = quiet_period(previous, period)
    ids = out["loan_id"].astype(str)
    resolved = resolved or {}
    for name, chosen in (("defaulted", defaulted), ("sold", sold), ("resolved", set(resolved))):
        unknown = sorted(set(chosen) - set(ids))
        if unknown:
            raise ValueError(f"rent_tape: {name} names no lease of the tape: {unknown}")
    live = out["status"].isin(ACTIVE_STATUSES)
    for name, chosen in (("defaulted", defaulted), ("sold", sold)):
        gone = sorted(set(chosen) - set(ids[live]))
        if gone:
            raise ValueError(f"rent_tape: {name} lease(s) not live: {gone}")
    if defaulted & sold:
        raise ValueError(f"rent_tape: lease(s) both defaulted and sold: {sorted(defaulted & sold)}")
    claims = out["status"].isin(RECOVERING_STATUSES)
    wrong = sorted(set(resolved) - set(ids[claims]))
    if wrong:
        raise ValueError(f"rent_tape: resolved lease(s) not in default: {wrong}")
    begin = out["beginning_principal"]
    out.loc[live, "status"] = "Performing"
    out.loc[live, "days_delinquent"] = 0
    paying = live & ~ids.isin(unpaid | defaulted)
    out.loc[paying, "interest_collected"] = ids[paying].map(rent).astype("int64")
    gone = ids.isin(defaulted)
    out.loc[gone, "status"] = "Defaulted"
    out.loc[gone, "defaulted_principal"] = begin[gone]
    sale = ids.isin(sold)
    out.loc[sale, "status"] = "Prepaid"
    out.loc[sale, "prepaid_principal"] = begin[sale]
    out.loc[sale, "ending_principal"] = 0
    done = ids.isin(set(resolved))
    recovered = ids[done].map(resolved).astype("int64")
    if (recovered < 0).any() or (recovered > begin[done]).any():
        raise ValueError("rent_tape: a recovery is negative or above its lease's claim")
    out.loc[done, "status"] = "ChargedOff"
    out.loc[done, "recoveries"] = recovered
    out.loc[done, "ending_principal"] = 0
    return out[list(SERVICING_COLUMNS)]


def nav(appraised: int, reserve: int, debt: int, units: int, decimals: int) -> dict[str, object]:
    """Net asset value from the latest appraisals: properties + reserve - senior debt outstanding; per unit (one
    unit = one currency unit of the units' face, as the token's decimals are the currency's), rounded down to
    the base unit. Amounts in base units."""
    value = appraised + reserve - debt
    per_unit = value * 10**decimals // units if units else 0
    return {"appraised_value": appraised, "reserve": reserve, "senior_debt": debt, "nav": value, "units": units,
            "nav_per_unit": per_unit}
