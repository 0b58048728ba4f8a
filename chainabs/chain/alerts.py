"""What the deal's events mean to a regulator: an alert, a privileged action, or routine.

One classification of every event the deal's contracts (and their currency) emit, used by the regulator
report of the read side (:mod:`chainabs.chain.read`) and by the monitor that follows new blocks
(:mod:`chainabs.apps.monitor`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from web3 import Web3

from chainabs.chain.events import DecodedEvent
from chainabs.model import rules
from chainabs.model.assets import STATUSES, WORSE_STATUSES
from chainabs.model.servicing import CHALLENGE_KINDS

#: Events that warn about the deal or its assets (names as the deal's contracts emit them; see
#: ``interfaces/*.sol``). ``AssetStatusChanged`` is an alert only when the asset got worse (below).
ALERT_EVENTS = frozenset(
    {
        "TriggerBreached",  # SPV (IWaterfall): a performance test failed
        "TriggerCured",  # SPV: a breached test passes again
        "DelinquencyAlert",  # SPV: 60+ days delinquency above the alert level
        "InterestShortfall",  # SPV: a class not paid its full interest
        "ReserveDrawn",  # SPV: the risk reserve paid a shortfall
        "DealEnded",  # SPV: the deal ended (with any final write-down)
        # SPV: at the end of the deal, a fee's or a class's carried shortfall paid from the cash the deal still held
        # (`lost`: the rest, lost with the deal)
        "FeeShortfallSettled", "InterestShortfallSettled",
        "FeeSettlementFailed",  # SPV: a replaced fee recipient could not be paid what it earned
        "ClassPaymentHeld",  # SPV: a class's token refused its payment (held by the SPV for it)
        # IdentityRegistry: a removed listener could not be told to switch its cache off (not one of the deal's tokens)
        "IdentityListenerUnreachable",
        "NoRentCollected",  # SPV: a REIT's period without rent (nothing to distribute to the unit holders)
        "EarlyAmortization",  # SPV: a revolving deal's early-amortization test ended its revolving period for good
        "ChallengeProven",  # SPV: anyone proved the pending period report false against its loan-level tape
        "PrincipalWrittenDown",  # TrancheToken: losses allocated to a class
        "PrincipalReinstated",  # TrancheToken: written-down principal restored
        "InterestShortfallSet",  # TrancheToken: unpaid interest carried
    }
)

#: Events that record an action only a role holder (or the deal's own contracts acting for one) can take.
PRIVILEGED_EVENTS = frozenset(
    {
        # AccessControl, on every contract of the deal
        "RoleGranted", "RoleRevoked", "RoleAdminChanged",
        # SPV
        "DealClosed", "ReportSubmitted", "CleanUpCallExercised", "FeeRecipientChanged", "OfferingCancelled",
        "ReportCancelled", "LoanBoughtBack",
        # a report submitted again needs less of the originator's repurchase cash than a cancelled one kept: the
        # cancelled report's depositor is owed the rest back
        "DepositOverpaid",
        # SPV and AssetRegistry: revolving purchases (the originator sells receivables into the deal's pool, the
        # SPV pays them from the period's principal collections)
        "ReceivablesPurchased", "ReceivablesSold",
        # ServicingCourt: dilution terms, credit notes and disputes recorded, taken by the SPV with its report
        "DilutionTermsSet", "ReceivableDiluted", "DilutionTaken",
        # TrancheToken (ERC-1400 family): issuance, controller (forced) operations, documents, pauses, settings
        "Issued", "IssuedByPartition", "IssuanceClosed", "ControllerTransfer", "ControllerRedemption",
        "ControlRenounced", "DocumentUpdated", "DocumentRemoved", "TransfersPaused", "TransfersUnpaused",
        "WalletRecovered", "DealBound",
        "DustSwept", "LockupEndSet", "MinimumHoldingSet", "MaxHoldersSet", "ResidualRecipientSet",
        # AssetRegistry: pools, onboarding, true sale, servicing and repurchases
        "PoolCreated", "ObligorsTracked", "AssetsRegistered", "PoolSealed", "PoolApproved", "PoolTransferred",
        "AssetRepurchased",
        "AssetStatusChanged", "PoolServicersSet", "RecoveryRecorded",
        # InvoiceLedger (trade receivables): debtors' keys, debtors' confirmations, financed invoices; the registry
        # attaching it
        "DebtorKeySet", "InvoiceConfirmed", "InvoiceFinanced", "InvoiceLedgerSet",
        # CollateralRegistry: collateral of secured assets and its re-appraisals
        "CollateralRecorded", "CollateralReappraised",
        # IdentityRegistry: KYC
        "InvestorRegistered", "InvestorRemoved", "InvestorFrozen", "JurisdictionAllowed", "InvestorIdSet",
        # IdentityRegistry's listeners (tokens caching clearances) and a token's cache being switched or reset
        "IdentityListenerAdded", "IdentityListenerRemoved", "IdentityCacheReset",
        # common on third-party currencies (and the test stablecoin)
        "OwnershipTransferred", "Paused", "Unpaused", "Minted", "Blocklisted",
        # TrancheMarket (the secondary market): what may trade there
        "TokenListed", "TokenDelisted",
        # GreenLedger (green deals' use of proceeds): the allocating party's records, and the net proceeds read
        # once from the SPV (anyone may trigger it; it fixes what must be allocated)
        "NetProceedsRecorded", "ProjectRegistered", "ProceedsAllocated", "ImpactReported",
    }
)

#: Events deliberately not reported: routine consequences of actions already reported (payments of a
#: period close, token movements, claims), holders' own actions, or ERC-721 per-asset bookkeeping.
IGNORED_EVENTS = frozenset(
    {
        "EIP712DomainChanged",  # ERC-5267 (InvoiceLedger): declared by the standard, never emitted (fixed domain)
        "Subscribed", "PeriodClosed", "ClassBalances", "FeesWithdrawn",  # SPV routine (anyone may call these)
        "Transfer", "TransferByPartition", "Approval", "ApprovalForAll",  # ERC-20 / ERC-721 movements
        "AuthorizedOperator", "RevokedOperator", "AuthorizedOperatorByPartition", "RevokedOperatorByPartition",
        "Redeemed", "RedeemedByPartition",  # holders redeeming their own units
        "FundsDistributed", "FundsWithdrawn",  # distributions (in PeriodClosed) and claims
        # the SPV's routine on its tokens and its pay-outs to named owners (anyone may trigger them)
        "BooksClosed", "BooksOpened", "TrancheSettled", "UnitsCancelled", "Refunded", "DepositReturned",
        "ClassPaymentReleased",
        # CollateralRegistry: anyone removes from a pool's tally the collateral of an asset the registry already
        # shows bought back or closed (the repurchase or status change is the reported event)
        "CollateralReleased",
        "BuyBackProceedsApplied",  # part of the end of the deal (DealEnded, an alert, says what was written off)
        # TrancheMarket: holders' own quotes and trades (the trade surveillance, chainabs.apps.market, reads every
        # fill and raises an alert for a trade far from the last price or between related parties)
        "OrderPosted", "OrderCancelled", "OrderFilled",
        # TrancheToken: one holder's cached clearance dropped by its identity registry, in the transaction of the
        # KYC change that caused it (InvestorRemoved / InvestorFrozen / InvestorRegistered, reported)
        "IdentityCleared",
    }
)



def classify(event_name: str, args: Mapping[str, Any] | None = None) -> str | None:
    """'alert', 'privileged' or None for an event (name, and its arguments when the kind depends on them).

    ``AssetStatusChanged``: an alert when an asset became delinquent or defaulted (or worse), privileged for
    other status changes (cures, prepayments, repayments), None for a principal-only servicing update.
    """
    if event_name == "AssetStatusChanged" and args is not None:
        old, new = int(args["from"]), int(args["to"])
        if old == new:
            return None
        return "alert" if new in WORSE_STATUSES and new > old else "privileged"
    if event_name in ALERT_EVENTS:
        return "alert"
    if event_name in PRIVILEGED_EVENTS:
        return "privileged"
    return None


def pool_classifier(registry: str, pool_id: int) -> Callable[[DecodedEvent], str | None]:
    """:func:`classify` for a deal: events of ``registry`` that name another pool than ``pool_id`` (a shared
    registry) are left out, and so are its per-asset ERC-721 events."""
    registry = Web3.to_checksum_address(registry)

    def kind(event: DecodedEvent) -> str | None:
        if event.address == registry and "poolId" in event.args and int(event.args["poolId"]) != pool_id:
            return None
        return classify(event.event, event.args)

    return kind


def default_classifier(event: DecodedEvent) -> str | None:
    return classify(event.event, event.args)


# ------------------------------------------------------------------------------------- rules and severity

#: How grave an alert is, gravest first.
SEVERITIES: tuple[str, ...] = ("high", "medium", "low", "info")
#: What each alert event is about (its rule) and how grave it is. ``AssetStatusChanged`` is graded by the
#: status the asset reached (:data:`DETERIORATION_SEVERITY`).
ALERT_RULES: dict[str, tuple[str, str]] = {
    "TriggerBreached": ("performance trigger", "high"),
    "TriggerCured": ("performance trigger", "info"),
    "DelinquencyAlert": ("pool delinquency", "high"),
    "InterestShortfall": ("interest shortfall", "high"),
    "InterestShortfallSet": ("interest shortfall", "medium"),
    "ReserveDrawn": ("reserve draw", "medium"),
    "PrincipalWrittenDown": ("principal write-down", "high"),
    "PrincipalReinstated": ("principal write-down", "info"),
    "ClassPaymentHeld": ("payment held", "high"),
    "FeeSettlementFailed": ("fee settlement", "medium"),
    "DealEnded": ("end of deal", "info"),
    # graded by what was lost with the deal (:data:`END_SHORTFALL_EVENTS`): high if anything, info if paid in full
    "FeeShortfallSettled": ("end of deal", "high"),
    "InterestShortfallSettled": ("end of deal", "high"),
    "AssetStatusChanged": ("asset deterioration", "low"),
}
#: The end of the deal's settlements of carried shortfalls: an alert of severity info when nothing was lost.
END_SHORTFALL_EVENTS = frozenset({"FeeShortfallSettled", "InterestShortfallSettled"})
#: Severity of an asset's deterioration by the status it reached.
DETERIORATION_SEVERITY: dict[str, str] = {"Delinquent30": "low", "Delinquent60": "medium", "Delinquent90": "high",
                                          "Defaulted": "high"}
#: Forced movements of investors' units: a controller's transfer or redemption, a lost wallet's recovery.
FORCED_TRANSFER_EVENTS = frozenset({"ControllerTransfer", "ControllerRedemption", "WalletRecovered"})


def alert_rule(event_name: str, args: Mapping[str, Any] | None = None) -> tuple[str, str] | None:
    """(rule, severity) of an alert event (:func:`classify` says ``alert``), None for any other event."""
    if classify(event_name, args) != "alert":
        return None
    rule, severity = ALERT_RULES[event_name]
    if event_name == "AssetStatusChanged" and args is not None:
        severity = DETERIORATION_SEVERITY.get(STATUSES[int(args["to"])], severity)
    if event_name in END_SHORTFALL_EVENTS and args is not None and int(args["lost"]) == 0:
        severity = "info"
    return rule, severity

def rule_alert(event: DecodedEvent, decimals: int, *, large_transfer: int | None = None,
               tranche: bool = False) -> rules.Alert | None:
    """The regulator rule alert an event raises by itself (:mod:`chainabs.model.rules`): a proven challenge,
    forced transfers, recoveries, role changes, pauses, and large transfers of tranche units (``tranche``: the
    event is a tranche token's; ``large_transfer``: the threshold in base units). None for other events."""
    if event.event == "ChallengeProven":
        kind = int(event.args["kind"])
        return rules.challenge_proven(event.block_number, event.tx_hash, event.log_index, int(event.args["period"]),
                                      CHALLENGE_KINDS[kind] if kind < len(CHALLENGE_KINDS) else str(kind),
                                      int(event.args["assetId"]), str(event.args["challenger"]))
    return rules.event_alert(event.block_number, event.tx_hash, event.log_index, event.contract, event.event,
                             event.args, decimals, large_transfer=large_transfer, tranche=tranche)
