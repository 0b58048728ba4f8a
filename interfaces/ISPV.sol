// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {DealParams, DealState, PeriodReport, PeriodResult} from "./IWaterfall.sol";
import {ChallengeKind, ServicingCommitment} from "./IServicing.sol";

/// @notice Lifecycle of a deal.
/// Offering: investors subscribe (payment and delivery in one transaction).
/// Active: closed; the pool belongs to the SPV; one period close per payment date.
/// Ended: fully paid, called or past legal final; every unit of currency has left the SPV (or is held for a
/// named owner: fees, returned deposits, class payments a token could not take).
/// Cancelled: the offering was cancelled (by the arranger, or by anyone after its deadline); every
/// subscriber's units are cancelled against a refund of exactly what was paid (`refund`).
enum Phase {
    Offering,
    Active,
    Ended,
    Cancelled
}

/// @notice Why deployment arguments were refused (`ISPV.InvalidTerms`).
/// ClassCount / FeeCount: one size and one token per class, one recipient per fee. ZeroAddress: currency,
/// registry, originator or admin is zero. Dates: first payment after the offering deadline, legal final after
/// the first payment. ClassToken: a zero, duplicate, already used (supply, closed issuance, bound elsewhere) or
/// other-currency token. ClassSize: a zero class, or one so small (below 2**-24 of the pool) that its
/// per-unit accumulators could overflow. FeeRecipient: a zero recipient. PoolSize: class sizes do not add up to
/// the pool. PoolOriginator: the registry pool does not exist or is not the originator's.
enum TermsRule {
    ClassCount,
    FeeCount,
    ZeroAddress,
    Dates,
    ClassToken,
    ClassSize,
    FeeRecipient,
    PoolSize,
    PoolOriginator
}

/// @notice A report figure checked against the loan-level data on chain (`ISPV.ReportDisagrees`). PoolBalance,
/// ScheduledPrincipal, Prepayments, Defaults, InterestCollections, Recoveries: against the servicing tape's totals;
/// LoanCount: the tape's leaves against the registry's pool count; Delinquent30/60/90Plus: against the
/// registry's bucket tallies; DefaultsOnChain and RecoveriesOnChain: against the registry's loan-level defaults
/// and recoveries since the last report; PrepaidInFull and PaidOff: the registry's loans prepaid in full / paid off
/// since the last report against the reported prepayments / scheduled principal.
enum ReportFigure {
    PoolBalance,
    ScheduledPrincipal,
    Prepayments,
    Defaults,
    InterestCollections,
    Recoveries,
    LoanCount,
    Delinquent30,
    Delinquent60,
    Delinquent90Plus,
    DefaultsOnChain,
    RecoveriesOnChain,
    PrepaidInFull,
    PaidOff
}

/// @notice Fixed terms of an SPV besides the waterfall's `DealParams`.
/// @param currency the deal currency (an ERC-20 stablecoin)
/// @param registry the AssetRegistry holding the pool's certificates
/// @param poolId the pool the SPV buys at closing
/// @param originator seller of the pool, payee of the purchase price, clean-up call holder
/// @param firstPaymentDate unix time of payment date 1; payment date n is the same day of the month (clamped
/// to the month's last day) and time of day, (n-1) * periodMonths calendar months later
/// @param legalFinalDate unix time after which the deal may be ended whatever is outstanding
/// @param reserveInitial currency the closer deposits into the reserve account at closing
/// @param delinquencyAlertBps a 60+ days delinquency ratio above this emits `DelinquencyAlert` (0: off)
/// @param offeringDeadline unix time after which the deal can no longer close and anyone may cancel the
/// offering (subscribers are refunded)
/// @param court the `IServicingCourt` that checks loan-level proofs for the deal (fraud proofs against a pending
/// report, the principal of a loan bought back)
struct SPVTerms {
    address currency;
    address registry;
    uint256 poolId;
    address originator;
    uint64 firstPaymentDate;
    uint64 legalFinalDate;
    uint256 reserveInitial;
    uint256 delinquencyAlertBps;
    uint64 offeringDeadline;
    address court;
    /// @dev the last period whose principal collections may buy receivables (0: a static pool)
    uint32 lastRevolvingPeriod;
    /// @dev early amortization: the revolving period ends for good after a revolving period whose 60+ days
    /// delinquent principal over the pool balance after its close exceeds this (bps; 0: no such test)
    uint16 earlyAmortizationDelinquencyBps;
    /// @dev early amortization: the revolving period ends for good after a revolving period whose annualised
    /// excess spread (interest collections - fees paid - interest paid to the non-equity classes, x 12 /
    /// period months, over the period's beginning pool) is below this (bps; 0: no such test)
    uint16 earlyAmortizationExcessSpreadBps;
}

/// @notice Where every unit of currency the SPV received is now. Always:
/// subscriptions + reserveFunded + collections + cleanUpProceeds
///   == paidToOriginator + refunded + feesPaid + feesOwed + distributed + heldForClasses + reserveBalance
///      + pendingCollections + depositsReturned + depositsReturnable + unsettledSubscriptions + buyBackProceeds
/// and the SPV's currency balance >= feesOwed + heldForClasses + reserveBalance + pendingCollections
/// + depositsReturnable + unsettledSubscriptions + buyBackProceeds (equal unless someone sent currency straight
/// to the SPV: such a gift is in no book and is never paid out). `collections` counts the buy-back prices too;
/// `buyBackProceeds` is what loans bought back since the last report paid, held for the next report.
/// `feesPaid` has left the SPV (withdrawn by or settled to the fee recipients); `feesOwed` is earned by the
/// fees at period closes and held for their recipients until `withdrawFees`. `refunded` went back to the
/// subscribers of a cancelled offering. `heldForClasses` is what a close owed a class whose token could not
/// take it (held for that class until `releaseHeld`). `depositsReturned` / `depositsReturnable` are the
/// deposits of cancelled reports (collections, a clean-up call price) paid back / owed to their depositors.
/// `pendingCollections` is the pending report's collections (less the purchases paid from them) and a pending
/// clean-up call's price; with no report pending, the originator's repurchase cash a cancelled report of the
/// running period kept for the next report (zero otherwise).
struct Ledger {
    uint256 subscriptions;
    uint256 reserveFunded;
    uint256 collections;
    uint256 cleanUpProceeds;
    uint256 paidToOriginator;
    uint256 refunded;
    uint256 feesPaid;
    uint256 feesOwed;
    uint256 distributed;
    uint256 heldForClasses;
    uint256 reserveBalance;
    uint256 pendingCollections;
    uint256 depositsReturned;
    uint256 depositsReturnable;
    uint256 unsettledSubscriptions;
    uint256 buyBackProceeds;
    uint256 revolvingPurchases;
}

/// @title ISPV
/// @notice The special purpose vehicle of one deal: it buys the pool with the investors' money, takes the
/// servicer's collections each period and runs the waterfall (`Waterfall` library) at each payment date,
/// booking fees for their recipients to withdraw and paying interest and principal to the tranche tokens,
/// where investors claim them. Every currency movement is an event, and `ledger()` accounts for every unit.
interface ISPV {
    // ------------------------------------------------------------------------------------------ events
    /// @notice `investor` paid `amount` and received `amount` units of class `classIndex`.
    event Subscribed(address indexed investor, uint256 indexed classIndex, uint256 amount, bool retained);
    /// @notice Early amortization: `period`'s test `kind` (0: excess spread, breached below; 1: dilution (the court's
    /// record of the period over its beginning pool), breached above; 2: 60+ days
    /// delinquency over the pool its close left, breached above; `chainabs.model.revolving`) measured
    /// `valueBps` against `limitBps`; the revolving period ended for good with `period`.
    event EarlyAmortization(uint256 indexed period, uint8 kind, int256 valueBps, uint256 limitBps);
    /// @notice In `period` (its report pending), `count` receivables of `principal` were bought at par from
    /// `seller` with the period's principal collections; `unspent` of them is left.
    event ReceivablesPurchased(
        uint256 indexed period, address indexed seller, uint256 count, uint256 principal, uint256 unspent
    );
    /// @notice A pool of rent only (a REIT's leases) reported no rent for `period` (every lease vacant or in
    /// arrears): the report is accepted (its defaults and losses reach the waterfall, fees and the senior debt's
    /// interest accrue, the reserve pays what it covers), and its close distributes no rental income to the unit
    /// holders (there is none: no distribution of zero is made).
    event NoRentCollected(uint256 indexed period);
    /// @notice The deal closed: the originator was paid `purchasePrice` for pool `poolId` (true sale), and
    /// `reserveFunded` was deposited into the reserve by `closer`.
    event DealClosed(uint256 indexed poolId, address indexed closer, uint256 purchasePrice, uint256 reserveFunded);
    /// @notice The servicer deposited `collections` and committed its period report and its loan-level tape
    /// (`commitment`: the servicing tape's Merkle sum tree root and totals, checked against the registry).
    event ReportSubmitted(
        uint256 indexed period,
        address indexed servicer,
        uint256 collections,
        ServicingCommitment commitment,
        string tapeUri,
        PeriodReport report
    );
    /// @notice `challenger` proved `period`'s pending report wrong (`kind`, about `assetId`): it cannot close
    /// until the trustee cancels it.
    event ChallengeProven(uint256 indexed period, ChallengeKind kind, uint256 indexed assetId, address indexed challenger);
    /// @notice The originator bought loan `assetId` back (breach of representations) for its outstanding principal
    /// plus accrued interest; the cash joins the next report's collections.
    event LoanBoughtBack(uint256 indexed assetId, address indexed buyer, uint256 principal, uint256 interest);
    /// @notice Period `period` closed: the waterfall paid what `result` says — fees (to `feeRecipients()`),
    /// interest, principal, write-downs, reserve movements and trigger values (the state after it is in
    /// `ClassBalances` and `dealState()`).
    event PeriodClosed(uint256 indexed period, address indexed caller, PeriodResult result);
    /// @notice Class `classIndex` after the close of `period`: outstanding balance, principal deficiency
    /// (written down, not yet cured) and interest shortfall carried forward.
    event ClassBalances(
        uint256 indexed period, uint256 indexed classIndex, uint256 balance, uint256 pdl, uint256 interestShortfall
    );
    /// @notice The reserve paid `amount` of fee or interest shortfall (the risk reserve payout).
    event ReserveDrawn(uint256 indexed period, uint256 amount, uint256 reserveBalance);
    /// @notice The 60+ days delinquency ratio is above the alert level.
    event DelinquencyAlert(uint256 indexed period, uint256 delinquent60PlusBps, uint256 alertBps);
    /// @notice A class could not be paid its full interest this period.
    event InterestShortfall(uint256 indexed period, uint256 indexed classIndex, uint256 shortfall);
    /// @notice The originator bought the remaining pool back: `livePrincipal` (the pending report's pool balance,
    /// its servicing tape's committed total) at par, arriving as prepayments, plus `defaultedPrincipal` (the
    /// registry's claims on its defaulted loans still in recovery), arriving as recoveries.
    event CleanUpCallExercised(
        uint256 indexed period, address indexed originator, uint256 price, uint256 livePrincipal, uint256 defaultedPrincipal
    );
    /// @notice The offering was cancelled by `caller` (`afterDeadline`: anyone may once the deadline passed).
    event OfferingCancelled(address indexed caller, uint256 subscriptions, bool afterDeadline);
    /// @notice `holder`'s units were cancelled and `amount` (what was paid for them) refunded to it.
    event Refunded(address indexed holder, address indexed caller, uint256 amount);
    /// @notice The trustee cancelled the pending report of `period`: `collections` (and a pending clean-up
    /// call's price) are owed back to their depositors (`withdrawReturned`). The originator's repurchase cash the
    /// court passed with the report is not in `collections`: what the report's purchases did not spend of it (they
    /// spend the servicer's deposit first) stays with the deal for the report submitted again
    /// (`Ledger.pendingCollections` meanwhile).
    event ReportCancelled(uint256 indexed period, address indexed trustee, uint256 collections, uint256 cleanUpPrice);
    /// @notice A report of `period` submitted again after a cancelled one needs less than the originator's
    /// repurchase cash the deal holds for it (its collections are smaller than the cancelled report's, whose
    /// purchases the cancelled report's deposit paid): `amount` is owed back to `depositor`, that report's
    /// depositor (`withdrawReturned`), and the new report's depositor deposits nothing.
    event DepositOverpaid(uint256 indexed period, address indexed depositor, uint256 amount);
    /// @notice `amount` owed back to `depositor` (a cancelled report's deposit) was paid to it.
    event DepositReturned(address indexed depositor, uint256 amount);
    /// @notice Class `classIndex`'s token refused the close's payment; `interest` and `principal` are held for
    /// the class by the SPV until `releaseHeld` delivers them.
    event ClassPaymentHeld(uint256 indexed period, uint256 indexed classIndex, uint256 interest, uint256 principal);
    /// @notice Held payments of class `classIndex` were delivered to its token.
    event ClassPaymentReleased(uint256 indexed classIndex, uint256 interest, uint256 principal);
    /// @notice The deal ended; `releasedToEquity` (what the cash the deal still held left after the fees' and the
    /// notes' carried shortfalls and the notes' unpaid principal) went to the equity class and `finalWriteDown` of
    /// unpaid principal was written off.
    event DealEnded(uint256 indexed period, uint256 releasedToEquity, uint256 finalWriteDown, bool legalFinal);
    /// @notice At the end of the deal (after the close of `period`), fee `feeIndex` carried a shortfall: `paid` of
    /// it was booked as earned (its recipient withdraws it, `withdrawFees`) from the cash the deal still held, and
    /// `lost` (the rest) is lost with the deal (`dealState().feeShortfalls` keeps it).
    event FeeShortfallSettled(uint256 indexed period, uint256 indexed feeIndex, uint256 paid, uint256 lost);
    /// @notice At the end of the deal (after the close of `period`), class `classIndex` carried an interest
    /// shortfall: `paid` of it was paid to the class as interest from the cash the deal still held (before its
    /// unpaid principal), and `lost` (the rest) is lost with the deal: the class token's `interestShortfall` and
    /// `dealState().interestShortfalls` keep it.
    event InterestShortfallSettled(uint256 indexed period, uint256 indexed classIndex, uint256 paid, uint256 lost);
    /// @notice At the end of the deal, `amount` paid for loans bought back after the last report (which no report
    /// will join any more) went, with the reserve, to the fees' and notes' carried shortfalls and the notes' unpaid
    /// principal (see `endDeal`), and any rest to the equity class (in `DealEnded.releasedToEquity`).
    event BuyBackProceedsApplied(uint256 indexed period, uint256 amount);
    /// @notice A fee recipient was changed by the trustee.
    event FeeRecipientChanged(uint256 indexed feeIndex, address previous, address current);
    /// @notice `amount` of fee `feeIndex`'s earnings was paid out to `recipient` (by `caller`).
    event FeesWithdrawn(uint256 indexed feeIndex, address indexed recipient, address indexed caller, uint256 amount);
    /// @notice Changing the recipient of fee `feeIndex` could not pay `previous` the `amount` it had earned
    /// (its transfer failed, e.g. a blocked address): the amount stays owed under the fee, to be withdrawn
    /// by the new recipient.
    event FeeSettlementFailed(uint256 indexed feeIndex, address indexed previous, uint256 amount);

    // ------------------------------------------------------------------------------------------ errors
    /// @notice The call is not allowed in the current phase.
    error WrongPhase(Phase expected, Phase actual);
    /// @notice No class with this index.
    error UnknownClass(uint256 classIndex);
    /// @notice No fee with this index.
    error UnknownFee(uint256 feeIndex);
    /// @notice Fee recipients cannot be the zero address.
    error ZeroFeeRecipient(uint256 feeIndex);
    /// @notice A zero amount where a positive one is required.
    error ZeroAmount();
    /// @notice The subscription exceeds what is left of the class.
    error OverSubscribed(uint256 classIndex, uint256 requested, uint256 available);
    /// @notice Closing needs every class fully subscribed.
    error NotFullySubscribed(uint256 classIndex, uint256 subscribed, uint256 size);
    /// @notice The pool left its originator after its seal (moved away and back): servicing was open on it, so it is
    /// no longer provably the cut-off tape the investors subscribed against; a sealed pool is sold once, to its deal.
    error PoolSoldBefore(uint256 poolId, address owner);
    /// @notice The pool is not sealed, not owned by the originator, or its principal or count differs from the
    /// deal's (`poolPrincipal`, `poolCount`: now; `dealPrincipal`, `cutoffCount`: at the cut-off).
    error PoolNotReady(
        uint256 poolId, uint256 poolPrincipal, uint256 dealPrincipal, uint256 poolCount, uint256 cutoffCount, bool isSealed, address owner
    );
    /// @notice A deployment argument is inconsistent: `what` names the rule (see `TermsRule`), `index` the
    /// class or fee concerned (0 when none).
    error InvalidTerms(TermsRule what, uint256 index);
    /// @notice The offering deadline `deadline` has passed: no more subscriptions or closing.
    error OfferingExpired(uint256 deadline, uint256 nowTime);
    /// @notice Only the arranger may cancel the offering before its deadline `deadline`.
    error OfferingStillOpen(uint256 deadline, uint256 nowTime);
    /// @notice The report's pool ending balance `reported` is above the registry's live principal `registry`
    /// (performing and delinquent loans of the pool, whose balances the registry may hold from an earlier update).
    error RegistryMismatch(uint256 reported, uint256 registry);
    /// @notice The pool still carries `defaultedPrincipal` of defaulted loans whose recoveries may come: the
    /// deal can end early only once they are resolved (or at legal final).
    error RecoveriesOutstanding(uint256 defaultedPrincipal);
    /// @notice At legal final, periods up to payment date `lastPaymentDate` are not all closed (only the
    /// trustee may end the deal before they are).
    error PeriodsOutstanding(uint256 periodsClosed, uint256 lastPaymentDate);
    /// @notice Nothing is owed to the caller / held for the class.
    error NothingOwed();
    /// @notice The report's `figure` (see `ReportFigure`) is `reported` but the loan-level data on chain (the
    /// registry, or the report's own servicing tape totals) say `onChain`.
    error ReportDisagrees(ReportFigure figure, uint256 reported, uint256 onChain);
    /// @notice `period`'s pending report was proven wrong: it cannot close (the trustee cancels it).
    error ReportDisputed(uint256 period);
    /// @notice Only the deal's servicing court may do this.
    error NotCourt(address caller);
    /// @notice A pool purchase callback from `caller`, not the deal's registry for its pool and originator.
    error NotPoolRegistry(address caller);
    /// @notice No purchases in `period`: the revolving period ended with `lastPeriod`.
    error RevolvingPeriodEnded(uint256 period, uint256 lastPeriod);
    /// @notice A purchase of `price` above the principal collected and not yet spent (`unspent`).
    error InsufficientPrincipalCollections(uint256 price, uint256 unspent);

    /// @notice Loan `assetId` cannot be bought back now (not in the pool, not performing or delinquent, a report
    /// pending, or its principal proof does not match).
    error BuyBackNotAllowed(uint256 assetId);
    /// @notice A report for `period` is already pending.
    error ReportPending(uint256 period);
    /// @notice No report is pending for `period`.
    error NoReportPending(uint256 period);
    /// @notice The report given to `closePeriod` is not the one the servicer submitted.
    error ReportMismatch(uint256 period, bytes32 submitted, bytes32 given);
    /// @notice Period `period` can close only from `paymentDate`.
    error PaymentDateNotReached(uint256 period, uint256 paymentDate, uint256 nowTime);
    /// @notice The pool is above the clean-up call level.
    error CleanUpCallNotAvailable(uint256 poolBalance, uint256 callLevel);
    /// @notice No clean-up call into `period`: receivables of `purchased` were bought into the pool with its
    /// collections (a revolving purchase); the call waits for a later period.
    error CleanUpCallAfterPurchases(uint256 period, uint256 purchased);
    /// @notice The deal can end only when the pool and the debt are paid (the pool alone once a clean-up call sold
    /// it), or after legal final.
    error CannotEnd(uint256 poolBalance, uint256 debt, uint256 legalFinalDate);
    /// @notice No report on pool `poolId`: the close of a clean-up call sold it to `owner` (the deal can end).
    error PoolSold(uint256 poolId, address owner);

    // ------------------------------------------------------------------------------------------- views
    /// @notice Current phase.
    function phase() external view returns (Phase);
    /// @notice What is held for class `classIndex` (a close's payment its token refused).
    function heldForClass(uint256 classIndex) external view returns (uint256 interest, uint256 principal);
    /// @notice What is owed back to `depositor` from cancelled reports.
    function returnable(address depositor) external view returns (uint256);
    /// @notice Terms given at deployment.
    function terms() external view returns (SPVTerms memory);
    /// @notice The waterfall's deal parameters, ABI-encoded as one `DealParams` tuple (decode with
    /// `abi.decode(data, (DealParams))`, or `chainabs.spv.read_params`). Returned encoded to keep the SPV,
    /// which runs the waterfall inline, under the 24,576-byte code limit.
    function dealParamsEncoded() external view returns (bytes memory);
    /// @notice The waterfall state after the last close.
    function dealState() external view returns (DealState memory);
    /// @notice Tranche token of each class, in seniority order.
    function classTokens() external view returns (address[] memory);
    /// @notice Fee recipient of each fee, in the order of `DealParams.fees`.
    function feeRecipients() external view returns (address[] memory);
    /// @notice Payment date of period `period` (1-based).
    function paymentDate(uint256 period) external view returns (uint256);
    /// @notice Units subscribed per class so far.
    function subscribed(uint256 classIndex) external view returns (uint256);
    /// @notice Conservation: every unit received and where it is now.
    function ledger() external view returns (Ledger memory);
    /// @notice Currency distributed to each class's token so far.
    function distributedToClass(uint256 classIndex) external view returns (uint256);
    /// @notice What fee `feeIndex` has earned at period closes so far (paid out or still owed).
    function feePaidTotal(uint256 feeIndex) external view returns (uint256);
    /// @notice What fee `feeIndex` has earned and its recipient has not withdrawn yet (held by the SPV).
    function feeOwed(uint256 feeIndex) external view returns (uint256);
    /// @notice keccak256(abi.encode(report)) of the pending report, or zero.
    function pendingReportHash() external view returns (bytes32);

    // ------------------------------------------------------------------------------------------ actions
    /// @notice Pay `amount` of currency and receive `amount` units of class `classIndex` (Offering).
    function subscribe(uint256 classIndex, uint256 amount) external;
    /// @notice The originator's retained slice, issued into the token's lock-up partition (Offering).
    function subscribeRetained(uint256 classIndex, uint256 amount) external;
    /// @notice Close the deal (ARRANGER_ROLE, by the offering deadline): every class fully subscribed, the pool
    /// sealed, still the originator's and unchanged since its cut-off (count and principal); issuance closes,
    /// the pool is bought (true sale) and the reserve funded, in one transaction.
    function closeDeal() external;
    /// @notice Cancel the offering: the arranger at any time before closing, anyone after the deadline.
    function cancelOffering() external;
    /// @notice After a cancelled offering: cancel every unit `holder` holds in every class and pay it back
    /// exactly what was paid for them (anyone may trigger it; the money always goes to `holder`).
    /// @return amount refunded
    function refund(address holder) external returns (uint256 amount);
    /// @notice Deposit the period's collections and commit the report with its loan-level servicing tape
    /// (SERVICER_ROLE). Refused (`ReportDisagrees`, naming the first figure) unless the report's figures equal
    /// the tape's totals and the registry's loan-level data (bucket tallies, defaults and recoveries recorded loan
    /// by loan since the last report, the pool's loan count). This is the period's record date: every tranche
    /// closes its books, and the registry holds the pool's servicing updates, until the period closes.
    function submitReport(PeriodReport calldata report, ServicingCommitment calldata commitment, string calldata tapeUri)
        external;
    /// @notice The court marks the pending report of `period` disputed (a fraud proof held).
    function markDisputed(uint256 period, ChallengeKind kind, uint256 assetId, address challenger) external;
    /// @notice The court sells loan `assetId` back to `buyer` (ORIGINATOR_ROLE on this SPV) for `principal` (the
    /// loan's ending principal in the last closed period's tape, or the registry's before any) plus interest
    /// accrued since the last payment date at the loan's rate (actual/360); the cash (pulled from `buyer`) joins
    /// the next report's collections and the loan leaves the pool.
    function buyBack(address buyer, uint256 assetId, uint256 principal) external;
    /// @notice Name the pool's servicer and disposal agent in the registry (TRUSTEE_ROLE; the SPV owns the pool).
    function setPoolServicers(address servicer, address disposalAgent) external;
    /// @notice The period of the pending report (0 when none).
    function pendingServicingPeriod() external view returns (uint256);
    /// @notice keccak256(abi.encode(root, sums)) of `period`'s servicing commitment (zero if none).
    function servicingCommitment(uint256 period) external view returns (bytes32);
    /// @notice Cancel the pending report (TRUSTEE_ROLE), e.g. a wrong report or one whose close cannot run:
    /// its collections, and a pending clean-up call's price, become returnable to whoever deposited them; the
    /// books reopen; the servicer can submit again. Loans bought back before the report and the originator's
    /// repurchase cash the court passed with it (what purchases did not spend of it) stay with the deal for the
    /// next report.
    function cancelReport() external;
    /// @notice Pay the caller what cancelled reports owe it back.
    /// @dev Receivables bought with a cancelled report's collections stay in the pool: only what was not spent
    /// becomes returnable, and the report submitted again must collect at least what was spent.
    function withdrawReturned() external returns (uint256 amount);
    /// @notice Run the waterfall for the pending report once its payment date has come (anyone). A class
    /// whose token refuses its payment does not stop the close: the amount is held for it (`releaseHeld`).
    function closePeriod(PeriodReport calldata report) external;
    // Revolving purchases (periods 1 .. `SPVTerms.lastRevolvingPeriod`): the originator sells receivables into
    // the pool (`IAssetRegistry.sellIntoPool`) while a report is pending; the registry calls the SPV
    // (`IPoolPurchaser.onPoolPurchase`), which pays them at par from the report's principal collections
    // ({ReceivablesPurchased}); the close nets them out of the principal paid to the notes.


    /// @notice Deliver what is held for class `classIndex` to its token (anyone). While a report is pending (the
    ///         next period's record date) the class's books are closed again after the distribution.
    function releaseHeld(uint256 classIndex) external;
    /// @notice The originator buys what is left of the pool into the pending period (ORIGINATOR_ROLE), priced
    /// from the asset registry, not from the report: the live (performing and delinquent) principal at par,
    /// which must equal the report's pool ending balance and be at or below the clean-up level, plus the
    /// defaulted loans at their registry carrying value (as recoveries). The pool goes to the originator at the
    /// period's close. `report` must be the pending one, not proven false (`ReportDisputed`).
    function exerciseCleanUpCall(PeriodReport calldata report) external;
    /// @notice Price paid by a clean-up call into the pending period (0 if none).
    function pendingCleanUpPrice() external view returns (uint256);
    /// @notice End the deal; the cash it still holds (the reserve, buy-backs since the last report, the
    /// originator's repurchase cash no report took) pays, in this order, the fees' carried shortfalls (fee order),
    /// then each note class, senior first, its carried interest shortfall and then its unpaid principal; the rest
    /// goes to the equity class. What is still unpaid is lost: principal written off, shortfalls kept as the
    /// record (`FeeShortfallSettled`, `InterestShortfallSettled`). Every tranche is settled. Anyone may end it
    /// once the pool and the notes are paid and the registry shows no defaulted principal awaiting recovery, or
    /// once the close of a clean-up call sold the pool (nothing more can come in: unpaid principal is written off
    /// then, not at legal final); at legal final anyone may once every period due by then is closed, and the
    /// trustee may at any time after legal final.
    function endDeal() external;
    /// @notice Replace the recipient of fee `feeIndex` (TRUSTEE_ROLE). What the fee has earned so far is
    /// first paid to the previous recipient (if that transfer fails, see `FeeSettlementFailed`).
    function setFeeRecipient(uint256 feeIndex, address recipient) external;
    /// @notice Pay fee `feeIndex`'s current recipient what the fee has earned and not yet paid out (anyone may
    /// call, in any phase after closing; the money always goes to the recipient). Period closes only book
    /// fees, so a recipient that cannot receive (a blocked address) can never stop the waterfall.
    /// @return amount paid out (0 if nothing was owed)
    function withdrawFees(uint256 feeIndex) external returns (uint256 amount);
}
