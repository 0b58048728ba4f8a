// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {DealParams, DealState, PeriodReport, PeriodResult} from "./IWaterfall.sol";

/// @notice Lifecycle of a deal.
/// Offering: investors subscribe (payment and delivery in one transaction).
/// Active: closed; the pool belongs to the SPV; one period close per payment date.
/// Ended: fully paid, called or past legal final; every unit of currency has left the SPV.
enum Phase {
    Offering,
    Active,
    Ended
}

/// @notice Fixed terms of an SPV besides the waterfall's `DealParams`.
/// @param currency the deal currency (an ERC-20 stablecoin)
/// @param registry the AssetRegistry holding the pool's certificates
/// @param poolId the pool the SPV buys at closing
/// @param originator seller of the pool, payee of the purchase price, clean-up call holder
/// @param firstPaymentDate unix time of payment date 1; payment date n = first + (n-1) * periodMonths * 30 days
/// @param legalFinalDate unix time after which the deal may be ended whatever is outstanding
/// @param reserveInitial currency the closer deposits into the reserve account at closing
/// @param delinquencyAlertBps a 60+ days delinquency ratio above this emits `DelinquencyAlert` (0: off)
struct SPVTerms {
    address currency;
    address registry;
    uint256 poolId;
    address originator;
    uint64 firstPaymentDate;
    uint64 legalFinalDate;
    uint256 reserveInitial;
    uint256 delinquencyAlertBps;
}

/// @notice Where every unit of currency the SPV received is now. Always:
/// subscriptions + reserveFunded + collections + cleanUpProceeds
///   == paidToOriginator + feesPaid + feesOwed + distributed + reserveBalance + pendingCollections
///      + unsettledSubscriptions
/// and the SPV's currency balance == feesOwed + reserveBalance + pendingCollections + unsettledSubscriptions.
/// `feesPaid` has left the SPV (withdrawn by or settled to the fee recipients); `feesOwed` is earned by the
/// fees at period closes and held for their recipients until `withdrawFees`.
struct Ledger {
    uint256 subscriptions;
    uint256 reserveFunded;
    uint256 collections;
    uint256 cleanUpProceeds;
    uint256 paidToOriginator;
    uint256 feesPaid;
    uint256 feesOwed;
    uint256 distributed;
    uint256 reserveBalance;
    uint256 pendingCollections;
    uint256 unsettledSubscriptions;
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
    /// @notice The deal closed: the originator was paid `purchasePrice` for pool `poolId` (true sale), and
    /// `reserveFunded` was deposited into the reserve by `closer`.
    event DealClosed(uint256 indexed poolId, address indexed closer, uint256 purchasePrice, uint256 reserveFunded);
    /// @notice The servicer deposited `collections` and committed its period report and loan-level tape.
    event ReportSubmitted(
        uint256 indexed period, address indexed servicer, uint256 collections, bytes32 tapeRoot, string tapeUri, PeriodReport report
    );
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
    /// @notice The originator bought the remaining pool back at par.
    event CleanUpCallExercised(uint256 indexed period, address indexed originator, uint256 price);
    /// @notice The deal ended; `releasedToEquity` (reserve and any remainder) went to the equity class and
    /// `finalWriteDown` of unpaid principal was written off.
    event DealEnded(uint256 indexed period, uint256 releasedToEquity, uint256 finalWriteDown, bool legalFinal);
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
    /// @notice The pool is not sealed, not owned by the originator, or its principal differs from the deal.
    error PoolNotReady(uint256 poolId, uint256 poolPrincipal, uint256 dealPrincipal, bool isSealed, address owner);
    /// @notice The class tokens, fee recipients or terms given at deployment are inconsistent.
    error InvalidTerms(string what);
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
    /// @notice The deal can end only when the pool and the debt are paid, or after legal final.
    error CannotEnd(uint256 poolBalance, uint256 debt, uint256 legalFinalDate);

    // ------------------------------------------------------------------------------------------- views
    /// @notice Current phase.
    function phase() external view returns (Phase);
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
    /// @notice Close the deal: buy the pool (true sale), fund the reserve (ARRANGER_ROLE).
    function closeDeal() external;
    /// @notice Deposit the period's collections and commit the report (SERVICER_ROLE).
    function submitReport(PeriodReport calldata report, bytes32 tapeRoot, string calldata tapeUri) external;
    /// @notice Run the waterfall for the pending report once its payment date has come (anyone).
    function closePeriod(PeriodReport calldata report) external;
    /// @notice The originator buys the remaining pool at par into the pending period (ORIGINATOR_ROLE):
    /// it pays `report.poolEndingBalance`, which the period close treats as prepayments (pool to zero), and
    /// the pool's certificates go back to it. `report` must be the pending one.
    function exerciseCleanUpCall(PeriodReport calldata report) external;
    /// @notice Price paid by a clean-up call into the pending period (0 if none).
    function pendingCleanUpPrice() external view returns (uint256);
    /// @notice End the deal once paid off or past legal final; the rest goes to the equity class (anyone).
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
