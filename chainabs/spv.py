"""The deal on chain from Python: deployment plan from a spec, offering, closing, periods, end of deal.

Every function takes brownie contract objects and accounts and sends transactions with
:func:`chainabs.chain.tx`, so the same code runs on brownie's anvil, an attached node and a live network.
Amounts are integers in base units. :class:`chainabs.deal.DealModel` is the off-chain mirror used to
check every on-chain figure (:func:`reconcile`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from chainabs import chain
from chainabs.deal import DealModel, Ledger
from chainabs.deploy import CallStep, DeployStep, Ref, Step
from chainabs.events import decode_deal_params
from chainabs.spec import DealSpec
from chainabs.tokens import contract_at, role_id
from chainabs.waterfall import DealState, PeriodReport, PeriodResult, params_from_spec

SECONDS_PER_DAY = 86_400
#: ``IAssetRegistry.AssetStatus.Defaulted``.
DEFAULTED_STATUS = 5
#: The tokens' lock-up partition (bytes32 "locked"), used for retained slices.
LOCKED_PARTITION = b"locked".ljust(32, b"\0")
#: ISO 3166-1 numeric code used for test investors on local chains (China).
DEFAULT_JURISDICTION = 156
ROLE_NAMES = ("arranger", "originator", "servicer", "trustee", "regulator")
#: Linked libraries a deal's contracts need, deployed first (step key = library name).
LIBRARIES = ("TrancheOps", "SPVOffering", "SPVSettlement")


@dataclass(frozen=True)
class DealTimes:
    """Unix times of the deal's dates (spec dates, or shifted so that closing is a given time)."""

    closing: int
    first_payment: int
    legal_final: int
    #: last second of the offering (the end of the offering's last day)
    offering_deadline: int

    @classmethod
    def from_spec(cls, spec: DealSpec, closing_at: int | None = None) -> DealTimes:
        """The spec's dates at 00:00 UTC (the offering deadline at the end of its day), shifted by whole days so
        that closing is ``closing_at`` if given."""

        def ts(d: dt.date) -> int:
            return int(dt.datetime(d.year, d.month, d.day, tzinfo=dt.timezone.utc).timestamp())

        closing = ts(spec.dates.closing)
        shift = 0
        if closing_at is not None:
            shift = ((closing_at - closing) // SECONDS_PER_DAY + 1) * SECONDS_PER_DAY
        deadline = ts(spec.dates.offering_end) + SECONDS_PER_DAY - 1
        return cls(closing + shift, ts(spec.dates.first_payment) + shift, ts(spec.dates.legal_final) + shift,
                   deadline + shift)


def class_sizes(spec: DealSpec) -> tuple[int, ...]:
    """Original face of each class in base units, seniority order."""
    return tuple(spec.units(t.size) for t in spec.tranches_by_seniority())


def model_for(spec: DealSpec) -> DealModel:
    """A fresh :class:`DealModel` for ``spec`` (offering phase)."""
    return DealModel(params_from_spec(spec), class_sizes(spec), spec.units(spec.reserve.initial))


def criteria_from_spec(spec: DealSpec) -> Any:
    """The registry pool's eligibility criteria from the spec (terms in days at 30 days a month)."""
    from chainabs.tape import PoolCriteria

    e = spec.eligibility
    c = e.concentration
    return PoolCriteria(
        cutoff_date=spec.dates.cut_off,
        legal_final_date=spec.dates.legal_final,
        allowed_asset_types=tuple(e.asset_types),
        min_rate_bps=e.min_rate_bps,
        max_rate_bps=e.max_rate_bps,
        max_remaining_term_days=e.max_remaining_term_months * 30,
        max_days_delinquent=e.max_delinquency_days_at_cut_off,
        max_principal_per_asset=spec.units(e.max_principal_per_asset),
        max_region_bps=c.max_region_bps if c.max_region_bps is not None else 10_000,
        max_industry_bps=c.max_industry_bps if c.max_industry_bps is not None else 10_000,
        max_obligor_bps=c.max_obligor_bps if c.max_obligor_bps is not None else 10_000,
    )


def delinquency_alert_bps(spec: DealSpec) -> int:
    """Alert level for 60+ delinquency: the spec's alert level, else half the 60+ delinquency trigger."""
    alerts = getattr(spec, "alerts", None)
    if alerts is not None and alerts.delinquency_60_plus_bps is not None:
        return int(alerts.delinquency_60_plus_bps)
    for t in spec.triggers:
        if t.test == "delinquency_60_plus":
            return t.threshold_bps // 2
    return 0


def deploy_plan(
    spec: DealSpec,
    roles: Mapping[str, str],
    *,
    currency: str | Ref,
    registry: str | Ref,
    pool_id: int,
    times: DealTimes,
    kyc_agent: str | None = None,
) -> list[Step]:
    """The deployment of a deal: identity registry, one tranche token per class, the SPV, and the roles.

    ``roles`` maps each spec role (arranger, originator, servicer, trustee, regulator) to an address; the
    arranger deploys and administers. Each call step checks chain state first, so a re-run is safe.
    """
    missing = [r for r in ROLE_NAMES if r not in roles]
    if missing:
        raise ValueError(f"deploy_plan: no address for role(s) {missing}")
    admin = roles["arranger"]
    tranches = spec.tranches_by_seniority()
    params = params_from_spec(spec)
    # Linked libraries first: the tokens link TrancheOps, the SPV links SPVOffering and SPVSettlement.
    steps: list[Step] = [DeployStep(name, name) for name in LIBRARIES]
    steps.append(DeployStep("identity", "IdentityRegistry", (admin,)))
    steps.append(_grant("identity-kyc-agent", "identity", "KYC_AGENT_ROLE", kyc_agent or admin))
    for i, t in enumerate(tranches):
        lockup_end = times.closing + t.lock_up_days * SECONDS_PER_DAY if t.lock_up_days else 0
        steps.append(
            DeployStep(
                f"class{i}",
                "TrancheToken",
                (f"{spec.title} {t.class_name}", t.symbol, currency, Ref("identity"), t.coupon_bps, lockup_end,
                 admin, roles["originator"]),
            )
        )
    terms = (
        currency, registry, pool_id, roles["originator"], times.first_payment, times.legal_final,
        spec.units(spec.reserve.initial), delinquency_alert_bps(spec), times.offering_deadline,
    )
    steps.append(
        DeployStep(
            "spv",
            "SPV",
            (terms, params_as_abi(params), class_sizes(spec), [Ref(f"class{i}") for i in range(len(tranches))],
             [roles[f.payee] for f in spec.fees], LOCKED_PARTITION, admin),
        )
    )
    # Each token is bound to the SPV once: from then on only the SPV issues, distributes and writes down.
    for i in range(len(tranches)):
        steps.append(CallStep(f"class{i}-bind", f"class{i}", "bindDeal", (Ref("spv"),), done=_bound))
    steps.append(_grant("spv-servicer", "spv", "SERVICER_ROLE", roles["servicer"]))
    steps.append(_grant("spv-trustee", "spv", "TRUSTEE_ROLE", roles["trustee"]))
    return steps


def _bound(contract: Any, args: list[Any]) -> bool:
    return str(contract.deal()).lower() == str(args[0]).lower()


def _grant(key: str, target: str, role: str, account: Any) -> CallStep:
    """Grant ``role`` (OpenZeppelin id keccak256(name)) on ``target`` unless already granted."""
    return CallStep(key, target, "grantRole", (role_id(role), account), done=_has_role)


def _has_role(contract: Any, args: list[Any]) -> bool:
    return bool(contract.hasRole(args[0], args[1]))


def params_as_abi(params: Any) -> tuple:
    """``DealParams`` as the nested tuple the SPV constructor takes."""
    return params.as_abi()


# ----------------------------------------------------------------------------------------------- actions


def subscribe(spv: Any, investor: Any, class_index: int, amount: int, *, retained: bool = False) -> Any:
    """Approve the currency and subscribe ``amount`` of class ``class_index`` (payment and delivery)."""
    currency = _currency(spv)
    currency.approve(spv, int(amount), chain.tx(investor))
    if retained:
        return spv.subscribeRetained(class_index, int(amount), chain.tx(investor))
    return spv.subscribe(class_index, int(amount), chain.tx(investor))


def close_deal(spv: Any, arranger: Any) -> Any:
    """Approve the reserve funding and close the deal (true sale of the pool)."""
    reserve = int(spv.terms()[6])
    if reserve:
        _currency(spv).approve(spv, reserve, chain.tx(arranger))
    return spv.closeDeal(chain.tx(arranger))


def submit_report(spv: Any, servicer: Any, report: PeriodReport, tape_root: bytes = b"\0" * 32, tape_uri: str = "") -> Any:
    """Approve and deposit the period's collections with the report and the servicing tape commitment."""
    if report.cash_in:
        _currency(spv).approve(spv, report.cash_in, chain.tx(servicer))
    return spv.submitReport(report.as_abi(), tape_root, tape_uri, chain.tx(servicer))


def close_period(spv: Any, caller: Any, report: PeriodReport) -> Any:
    """Run the waterfall for the pending report (anyone may call once the payment date has come)."""
    return spv.closePeriod(report.as_abi(), chain.tx(caller))


def clean_up_price(spv: Any) -> tuple[int, int]:
    """What a clean-up call pays now, from the asset registry: (live principal of the pool's performing and
    delinquent loans, at par; carrying value of its defaulted loans)."""
    terms = spv.terms()
    registry = contract_at("AssetRegistry", terms[1])
    pool_id = int(terms[2])
    principal = int(registry.poolInfo(pool_id)[6])
    defaulted = int(registry.statusTally(pool_id, DEFAULTED_STATUS)[1])
    return principal - defaulted, defaulted


def exercise_clean_up_call(spv: Any, originator: Any, report: PeriodReport) -> Any:
    """The originator buys what is left of the pool into the pending period, at the registry's price; the
    pool's certificates go back to it at the period's close."""
    live, defaulted = clean_up_price(spv)
    _currency(spv).approve(spv, live + defaulted, chain.tx(originator))
    return spv.exerciseCleanUpCall(report.as_abi(), chain.tx(originator))


def cancel_offering(spv: Any, caller: Any) -> Any:
    """Cancel the offering (the arranger any time before closing, anyone after the offering deadline)."""
    return spv.cancelOffering(chain.tx(caller))


def refund(spv: Any, caller: Any, holder: Any) -> int:
    """After a cancelled offering, cancel ``holder``'s units and pay it back; returns the amount refunded."""
    receipt = spv.refund(holder, chain.tx(caller))
    return int(receipt.events["Refunded"]["amount"])


def cancel_report(spv: Any, trustee: Any) -> Any:
    """The trustee cancels the pending report; its deposits become returnable to their depositors."""
    return spv.cancelReport(chain.tx(trustee))


def withdraw_returned(spv: Any, depositor: Any) -> int:
    """Pay ``depositor`` what cancelled reports owe it back; returns the amount."""
    receipt = spv.withdrawReturned(chain.tx(depositor))
    return int(receipt.events["DepositReturned"]["amount"])


def release_held(spv: Any, caller: Any, class_index: int) -> Any:
    """Deliver what is held for class ``class_index`` (a payment its token refused) to its token."""
    return spv.releaseHeld(class_index, chain.tx(caller))


def withdraw_fees(spv: Any, caller: Any, fee_index: int) -> Any:
    """Pay fee ``fee_index``'s recipient what it earned and was not paid yet (anyone may call)."""
    return spv.withdrawFees(fee_index, chain.tx(caller))


def withdraw_all_fees(spv: Any, caller: Any) -> list[int]:
    """Withdraw every fee's earnings to its recipient; returns the amount paid per fee."""
    paid = []
    for k in range(len(spv.feeRecipients())):
        tx = withdraw_fees(spv, caller, k)
        paid.append(int(tx.events["FeesWithdrawn"]["amount"]) if "FeesWithdrawn" in tx.events else 0)
    return paid


def end_deal(spv: Any, caller: Any) -> Any:
    """End the deal (paid off or past legal final): the rest goes to the equity class."""
    return spv.endDeal(chain.tx(caller))


# ------------------------------------------------------------------------------------------------- views


def read_state(spv: Any) -> DealState:
    """The SPV's waterfall state after its last close."""
    return DealState.from_abi(spv.dealState())


def read_ledger(spv: Any) -> Ledger:
    """``SPV.ledger()`` as a :class:`chainabs.deal.Ledger`."""
    return Ledger(*(int(v) for v in spv.ledger()))


def result_of(receipt: Any) -> PeriodResult:
    """The ``PeriodResult`` a closePeriod transaction emitted."""
    return PeriodResult.from_abi(receipt.events["PeriodClosed"]["result"])


def read_params(spv: Any) -> tuple[Any, ...]:
    """The deal's ``DealParams`` tuple, decoded from ``SPV.dealParamsEncoded()``."""
    return decode_deal_params(bytes(spv.dealParamsEncoded()))


def payment_rows(receipt: Any, closed: Any) -> list[dict[str, Any]]:
    """One row per class of a closePeriod transaction: what the chain paid (``PeriodClosed`` result, and the
    balance after it in ``ClassBalances``) against what the model paid (:class:`chainabs.deal.ClosedPeriod`),
    to the unit."""
    res = result_of(receipt)
    n = len(res.interest_paid)
    rows = []
    for ev in receipt.events["ClassBalances"]:
        i = int(ev["classIndex"])
        interest = res.interest_paid[i] + (res.residual if i == n - 1 else 0)
        row = {
            "period": int(ev["period"]), "class": i,
            "chain_interest": interest, "model_interest": closed.class_interest[i],
            "chain_principal": res.principal_paid[i], "model_principal": closed.result.principal_paid[i],
            "chain_write_down": res.write_down[i], "model_write_down": closed.result.write_down[i],
            "chain_balance": int(ev["balance"]), "model_balance": closed.state.class_balances[i],
        }
        row["match"] = all(row[f"chain_{k}"] == row[f"model_{k}"] for k in ("interest", "principal", "write_down", "balance"))
        rows.append(row)
    return rows


def tranche_states(spv: Any) -> pd.DataFrame:
    """Per class: token address, symbol, original face, current principal, write-down, shortfall, distributed."""
    proj = chain.load_project()
    rows = []
    for i, address in enumerate(spv.classTokens()):
        token = proj.TrancheToken.at(address, persist=False)
        rows.append(
            {
                "class": i,
                "symbol": token.symbol(),
                "address": address,
                "original_face": int(token.originalFace()),
                "current_principal": int(token.currentPrincipal()),
                "cumulative_write_down": int(token.cumulativeWriteDown()),
                "interest_shortfall": int(token.interestShortfall()),
                "interest_distributed": int(token.totalInterestDistributed()),
                "principal_distributed": int(token.totalPrincipalDistributed()),
                "coupon_bps": int(token.couponBps()),
            }
        )
    return pd.DataFrame(rows)


def reconcile(spv: Any, model: DealModel) -> pd.DataFrame:
    """Compare every on-chain figure with the model: one row per figure, ``match`` True when equal."""
    rows: list[dict[str, Any]] = []

    def add(figure: str, chain_value: Any, model_value: Any) -> None:
        rows.append({"figure": figure, "chain": chain_value, "model": model_value, "match": chain_value == model_value})

    state = read_state(spv)
    for name, value in vars(model.state).items():
        add(f"state.{name}", getattr(state, name), value)
    ledger = read_ledger(spv)
    for name, value in vars(model.ledger).items():
        add(f"ledger.{name}", getattr(ledger, name), value)
    tranches = tranche_states(spv)
    for i, t in enumerate(model.tranches):
        row = tranches.iloc[i]
        add(f"class{i}.original_face", int(row["original_face"]), t.original_face)
        add(f"class{i}.current_principal", int(row["current_principal"]), t.current_principal)
        add(f"class{i}.cumulative_write_down", int(row["cumulative_write_down"]), t.cumulative_write_down)
        add(f"class{i}.interest_shortfall", int(row["interest_shortfall"]), t.interest_shortfall)
        add(f"class{i}.interest_distributed", int(row["interest_distributed"]), t.interest_distributed)
        add(f"class{i}.principal_distributed", int(row["principal_distributed"]), t.principal_distributed)
        add(f"class{i}.held", tuple(int(v) for v in spv.heldForClass(i)), tuple(model.held[i]))
    currency = _currency(spv)
    add("currency.balance_of_spv", int(currency.balanceOf(spv)), model.ledger.held)
    return pd.DataFrame(rows)


def _currency(spv: Any) -> Any:
    return contract_at("TestStablecoin", spv.terms()[0])


def role_accounts(accounts: Sequence[Any]) -> dict[str, Any]:
    """Local chains: the role accounts used by the demo and tests (arranger = accounts[0])."""
    return {"arranger": accounts[0], "originator": accounts[3], "servicer": accounts[2], "trustee": accounts[5],
            "regulator": accounts[6]}
