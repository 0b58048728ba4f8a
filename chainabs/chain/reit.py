"""A REIT's figures rebuilt from chain data: the quarterly distributions of net rental income to the unit holders
(the SPV's period closes) and the net asset value per unit from the latest appraisals of the properties (the
collateral registry's records and re-appraisals), from an RPC endpoint and addresses alone."""

from __future__ import annotations

import pandas as pd
from web3 import Web3

from chainabs.chain.abis import load_abi
from chainabs.chain.calls import Views, view_calls
from chainabs.chain.events import EventDecoder, read_events
from chainabs.chain.read.deal import DealReader, deployment_block, report_fields, struct_field
from chainabs.model import reit

COLLATERAL_ABI = "CollateralRegistry"


def appraisals(d: DealReader, collateral: str) -> pd.DataFrame:
    """The latest appraisal of every lease's property share counted in the deal's pool: asset id, property
    identifier hash, title document hash, value and date (unix), from ``CollateralRecorded`` and
    ``CollateralReappraised``. Shares released from the pool's tally (``CollateralReleased``) are left out, and so
    are those the registry would release now (their lease left the pool or closed): the frame sums to the pool's
    tally once every such share is released."""
    address = Web3.to_checksum_address(collateral)
    events = read_events(d.w3, EventDecoder(d.w3, {address: (COLLATERAL_ABI, load_abi(COLLATERAL_ABI))}),
                         deployment_block(d.w3, address))
    latest: dict[int, dict[str, object]] = {}
    for e in events:
        if int(e.args["poolId"]) != d.pool_id:
            continue
        aid = int(e.args["assetId"])
        if e.event == "CollateralRecorded":
            c = e.args["collateral"]
            latest[aid] = {"asset_id": aid, "identifier_hash": "0x" + bytes(struct_field(c, "identifierHash", 3)).hex(),
                           "title_hash": "0x" + bytes(struct_field(c, "lienHash", 4)).hex(),
                           "appraised_value": int(struct_field(c, "appraisedValue", 2)),
                           "appraisal_date": int(struct_field(c, "appraisalDate", 1)), "reappraisals": 0}
        elif e.event == "CollateralReappraised" and aid in latest:
            latest[aid].update(appraised_value=int(e.args["value"]), appraisal_date=int(e.args["date"]),
                               reappraisals=int(latest[aid]["reappraisals"]) + 1)  # type: ignore[arg-type]
        elif e.event == "CollateralReleased":
            latest.pop(aid, None)
    fn = Views(COLLATERAL_ABI, address)
    for aid, gone in zip(list(latest), view_calls(d.w3, [fn.releasable(a) for a in latest]), strict=True):
        if gone:
            del latest[aid]
    return pd.DataFrame(list(latest.values()), columns=["asset_id", "identifier_hash", "title_hash",
                                                        "appraised_value", "appraisal_date", "reappraisals"])


def properties(frame: pd.DataFrame) -> pd.DataFrame:
    """Per property (identifier hash): its leases, latest appraised value (sum of the leases' shares), title."""
    if frame.empty:
        return pd.DataFrame(columns=["identifier_hash", "title_hash", "leases", "appraised_value", "appraisal_date"])
    return (frame.groupby("identifier_hash", sort=False)
                 .agg(title_hash=("title_hash", "first"), leases=("asset_id", "count"),
                      appraised_value=("appraised_value", "sum"), appraisal_date=("appraisal_date", "max"))
                 .reset_index())


def distributions(d: DealReader) -> pd.DataFrame:
    """Per period: rent collected, fees, senior interest, reserve movement and the net rental income paid to the
    unit holders (the residual), per unit (one unit = one currency unit of face) rounded down."""
    units = _units(d)
    rent = {int(e.args["period"]): report_fields(e.args["report"])["interest_collections"] for e in d.of("ReportSubmitted")}
    rows = []
    for e in d.of("PeriodClosed"):
        res = e.args["result"]
        period = int(e.args["period"])
        residual = int(struct_field(res, "residual", 14))
        interest = [int(x) for x in struct_field(res, "interestPaid", 5)]
        rows.append({"period": period, "rent_collected": rent.get(period, 0),
                     "fees_paid": sum(int(x) for x in struct_field(res, "feePaid", 3)),
                     "senior_interest": sum(interest[:-1]), "net_rental_income": residual,
                     "per_unit": residual * 10**d.decimals // units if units else 0})
    return pd.DataFrame(rows, columns=["period", "rent_collected", "fees_paid", "senior_interest",
                                       "net_rental_income", "per_unit"])


def _units(d: DealReader) -> int:
    token = d.w3.eth.contract(address=d.tokens[-1], abi=load_abi("TrancheToken"))
    return int(token.functions.totalSupply().call())


def nav(d: DealReader, collateral: str) -> dict[str, object]:
    """NAV and NAV per unit now (:func:`chainabs.model.reit.nav`): the properties' latest appraisals, the reserve,
    less the senior debt outstanding."""
    frame = appraisals(d, collateral)
    spv = d.spv.functions
    ledger = spv.ledger().call()
    reserve = int(struct_field(ledger, "reserveBalance", 10))
    token_abi = load_abi("TrancheToken")
    debt = sum(int(d.w3.eth.contract(address=t, abi=token_abi).functions.currentPrincipal().call())
               for t in d.tokens[:-1])
    return reit.nav(int(frame["appraised_value"].sum()), reserve, debt, _units(d), d.decimals)


def reit_tables(d: DealReader, collateral: str) -> dict[str, pd.DataFrame]:
    """The REIT report's tables by CSV name: distributions per period, the properties' latest appraisals, NAV."""
    frame = appraisals(d, collateral)
    return {"reit_distributions": distributions(d), "reit_properties": properties(frame),
            "reit_nav": pd.DataFrame([nav(d, collateral)])}
