// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";

import {Waterfall} from "./Waterfall.sol";
import {SPVOffering} from "./SPVOffering.sol";
import {SPVSettlement} from "./SPVSettlement.sol";
import {SPVServicing} from "./SPVServicing.sol";
import {
    SPVBooks, DealStorage, SPVRefs, Core, Cash, ClassBook, Progress, Held, BuyBacks
} from "./SPVStorage.sol";
import {DealParams, DealState, IWaterfall, PeriodReport, PeriodResult} from "../../interfaces/IWaterfall.sol";
import {ISPV, Ledger, Phase, SPVTerms, TermsRule} from "../../interfaces/ISPV.sol";
import {ISPVTranche} from "../../interfaces/ISPVDependencies.sol";
import {IAssetRegistry, IPoolOwner, IPoolPurchaser} from "../../interfaces/IAssetRegistry.sol";
import {ChallengeKind, ServicingCommitment} from "../../interfaces/IServicing.sol";

/// @title SPV
/// @notice One securitization deal on chain: offering (payment and delivery of tranche tokens in one
/// transaction, a deadline, cancellation and refunds), closing (true sale of the pool, reserve funded), one
/// waterfall run per payment date, clean-up call, end of life. Every unit of currency is accounted for in
/// `ledger()`.
/// @dev The period path (report, close) lives here with the waterfall inlined; the offering and the end of
/// life live in the linked libraries `SPVOffering` and `SPVSettlement`, which work on the same `DealStorage`.
/// The waterfall's terms are stored once as code (SSTORE2) and read in one EXTCODECOPY per close; the close
/// loops over classes, fees and triggers only, so its cost does not depend on holders or assets.
contract SPV is ISPV, IWaterfall, IPoolOwner, IPoolPurchaser, AccessControl, ReentrancyGuard {
    using SafeCast for uint256;
    using SPVBooks for DealStorage;

    /// @notice Closes the deal, cancels the offering (and administers it through DEFAULT_ADMIN_ROLE).
    bytes32 public constant ARRANGER_ROLE = keccak256("ARRANGER_ROLE");
    /// @notice Deposits collections and submits period reports.
    bytes32 public constant SERVICER_ROLE = keccak256("SERVICER_ROLE");
    /// @notice Changes fee recipients, cancels a pending report, ends a deal past legal final.
    bytes32 public constant TRUSTEE_ROLE = keccak256("TRUSTEE_ROLE");
    /// @notice Subscribes the retained slice and holds the clean-up call.
    bytes32 public constant ORIGINATOR_ROLE = keccak256("ORIGINATOR_ROLE");
    /// @dev Smallest class relative to the pool: each class's per-unit accumulators then hold 2**8 times the
    /// pool before they could overflow.
    uint256 private constant MIN_CLASS_SHIFT = 24;

    address private immutable _court;
    IERC20 private immutable _currency;
    IAssetRegistry private immutable _registry;
    uint256 private immutable _poolId;
    address private immutable _originator;
    uint64 private immutable _firstPaymentDate;
    uint64 private immutable _legalFinalDate;
    uint64 private immutable _offeringDeadline;
    uint256 private immutable _reserveInitial;
    uint256 private immutable _delinquencyAlertBps;
    uint256 private immutable _periodMonths;
    address private immutable _paramsPointer;
    bytes32 private immutable _retainedPartition;
    uint256 private immutable _classCount;
    uint256 private immutable _feeCount;

    DealStorage private _s;

    /// @param terms_ currency, registry, pool, originator, dates, reserve, alert level, offering deadline
    /// @param params the waterfall terms (validated by `Waterfall.validateParams`)
    /// @param classSizes original face of each class; must add up to `params.originalPoolBalance`
    /// @param classTokens_ tranche token of each class, seniority order: fresh tokens of the deal currency,
    /// distinct, to be bound to this SPV (`bindDeal`) before the offering
    /// @param feeRecipients_ recipient of each fee of `params.fees`
    /// @param retainedPartition the tokens' lock-up partition used by `subscribeRetained`
    /// @param admin receives DEFAULT_ADMIN_ROLE and ARRANGER_ROLE
    constructor(
        SPVTerms memory terms_,
        DealParams memory params,
        uint256[] memory classSizes,
        address[] memory classTokens_,
        address[] memory feeRecipients_,
        bytes32 retainedPartition,
        address admin
    ) {
        Waterfall.validateParams(params);
        uint256 n = params.classes.length;
        if (classSizes.length != n || classTokens_.length != n) revert InvalidTerms(TermsRule.ClassCount, n);
        if (feeRecipients_.length != params.fees.length) revert InvalidTerms(TermsRule.FeeCount, params.fees.length);
        if (
            terms_.currency == address(0) || terms_.registry == address(0) || terms_.originator == address(0)
                || admin == address(0) || terms_.court == address(0)
        ) revert InvalidTerms(TermsRule.ZeroAddress, 0);
        if (terms_.legalFinalDate <= terms_.firstPaymentDate || terms_.offeringDeadline >= terms_.firstPaymentDate) {
            revert InvalidTerms(TermsRule.Dates, 0);
        }
        _checkTokens(terms_.currency, classTokens_);
        uint256 total = 0;
        for (uint256 i; i < n; ++i) {
            total += classSizes[i];
        }
        if (total != params.originalPoolBalance) revert InvalidTerms(TermsRule.PoolSize, 0);
        for (uint256 i; i < n; ++i) {
            if (classSizes[i] == 0 || classSizes[i] << MIN_CLASS_SHIFT < total) revert InvalidTerms(TermsRule.ClassSize, i);
        }
        for (uint256 k; k < feeRecipients_.length; ++k) {
            if (feeRecipients_[k] == address(0)) revert InvalidTerms(TermsRule.FeeRecipient, k);
        }
        if (IAssetRegistry(terms_.registry).poolInfo(terms_.poolId).originator != terms_.originator) {
            revert InvalidTerms(TermsRule.PoolOriginator, terms_.poolId);
        }

        _court = terms_.court;
        _currency = IERC20(terms_.currency);
        _registry = IAssetRegistry(terms_.registry);
        _poolId = terms_.poolId;
        _originator = terms_.originator;
        _firstPaymentDate = terms_.firstPaymentDate;
        _legalFinalDate = terms_.legalFinalDate;
        _offeringDeadline = terms_.offeringDeadline;
        _reserveInitial = terms_.reserveInitial;
        _delinquencyAlertBps = terms_.delinquencyAlertBps;
        _periodMonths = params.periodMonths;
        _paramsPointer = SPVBooks.writeTerms(params, classTokens_);
        _retainedPartition = retainedPartition;

        _classCount = n;
        _feeCount = feeRecipients_.length;
        for (uint256 k; k < feeRecipients_.length; ++k) {
            _s.feeRecipients[k] = feeRecipients_[k];
        }
        for (uint256 i; i < n; ++i) {
            _s.books[i].balance = classSizes[i].toUint128();
            _s.extra[i].token = classTokens_[i];
        }
        _s.core.poolBalance = total.toUint128();
        _s.core.revolving = terms_.lastRevolvingPeriod != 0;
        _s.revolving.lastPeriod = terms_.lastRevolvingPeriod;
        _s.revolving.delinquencyLimitBps = terms_.earlyAmortizationDelinquencyBps;
        _s.revolving.excessSpreadLimitBps = terms_.earlyAmortizationExcessSpreadBps;

        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(ARRANGER_ROLE, admin);
        _grantRole(ORIGINATOR_ROLE, terms_.originator);
    }

    /// @dev Each class token: the deal currency, nothing issued, issuance open, not bound to another deal,
    /// and used by one class only.
    function _checkTokens(address currency_, address[] memory tokens) private view {
        for (uint256 i; i < tokens.length; ++i) {
            ISPVTranche token = ISPVTranche(tokens[i]);
            if (address(token) == address(0)) revert InvalidTerms(TermsRule.ClassToken, i);
            for (uint256 j; j < i; ++j) {
                if (tokens[j] == address(token)) revert InvalidTerms(TermsRule.ClassToken, i);
            }
            address bound = token.deal();
            if (
                token.currency() != currency_ || token.totalSupply() != 0 || !token.isIssuable()
                    || (bound != address(0) && bound != address(this))
            ) revert InvalidTerms(TermsRule.ClassToken, i);
        }
    }

    // ============================================================================================ views

    /// @inheritdoc ISPV
    function phase() external view returns (Phase) {
        return _s.core.phase;
    }

    /// @inheritdoc ISPV
    function terms() external view returns (SPVTerms memory) {
        return SPVTerms({
            currency: address(_currency),
            registry: address(_registry),
            poolId: _poolId,
            originator: _originator,
            firstPaymentDate: _firstPaymentDate,
            legalFinalDate: _legalFinalDate,
            reserveInitial: _reserveInitial,
            delinquencyAlertBps: _delinquencyAlertBps,
            offeringDeadline: _offeringDeadline,
            court: _court,
            lastRevolvingPeriod: _s.revolving.lastPeriod,
            earlyAmortizationDelinquencyBps: _s.revolving.delinquencyLimitBps,
            earlyAmortizationExcessSpreadBps: _s.revolving.excessSpreadLimitBps
        });
    }

    /// @inheritdoc ISPV
    function dealParamsEncoded() external view returns (bytes memory) {
        // slither-disable-next-line unused-return -- the terms' code holds the tokens and the encoded terms: only the terms are asked for
        (, bytes memory encoded) = SPVBooks.readTerms(_paramsPointer, _classCount);
        return encoded;
    }

    /// @inheritdoc ISPV
    function dealState() public view returns (DealState memory) {
        return _s.loadState(_classCount, _feeCount);
    }

    /// @inheritdoc ISPV
    function classTokens() external view returns (address[] memory tokens) {
        // slither-disable-next-line unused-return -- the terms' code holds the tokens and the encoded terms: only the tokens are asked for
        (tokens,) = SPVBooks.readTerms(_paramsPointer, _classCount);
    }

    /// @inheritdoc ISPV
    function feeRecipients() external view returns (address[] memory recipients) {
        recipients = SPVSettlement.feeRecipients(_s, _feeCount);
    }

    /// @inheritdoc ISPV
    function paymentDate(uint256 period) public view returns (uint256) {
        return SPVBooks.paymentDate(_firstPaymentDate, _periodMonths, period);
    }

    /// @inheritdoc ISPV
    function subscribed(uint256 classIndex) external view returns (uint256) {
        _checkClass(classIndex);
        return _s.subscribed[classIndex];
    }

    /// @inheritdoc ISPV
    function distributedToClass(uint256 classIndex) external view returns (uint256) {
        _checkClass(classIndex);
        return SPVSettlement.distributedToClass(_s, classIndex);
    }

    /// @inheritdoc ISPV
    function heldForClass(uint256 classIndex) external view returns (uint256, uint256) {
        _checkClass(classIndex);
        Held memory h = _s.held[classIndex];
        return (h.interest, h.principal);
    }

    /// @inheritdoc ISPV
    function returnable(address depositor) external view returns (uint256) {
        return _s.returnable[depositor];
    }

    /// @inheritdoc ISPV
    function feePaidTotal(uint256 feeIndex) external view returns (uint256) {
        if (feeIndex >= _feeCount) revert UnknownFee(feeIndex);
        return _s.feePaid[feeIndex];
    }

    /// @inheritdoc ISPV
    function feeOwed(uint256 feeIndex) external view returns (uint256) {
        if (feeIndex >= _feeCount) revert UnknownFee(feeIndex);
        return _s.feePaid[feeIndex] - _s.feeWithdrawn[feeIndex];
    }

    /// @inheritdoc ISPV
    function pendingReportHash() external view returns (bytes32) {
        return _s.pendingHash;
    }

    /// @inheritdoc ISPV
    function pendingCleanUpPrice() external view returns (uint256) {
        return _s.totals.pendingCleanUpPrice;
    }

    /// @inheritdoc ISPV
    function ledger() external view returns (Ledger memory) {
        return SPVSettlement.ledger(_s, _refs());
    }

    // ========================================================================================= offering

    /// @inheritdoc ISPV
    function subscribe(uint256 classIndex, uint256 amount) external nonReentrant {
        SPVOffering.subscribe(_s, _refs(), classIndex, amount, false);
    }

    /// @inheritdoc ISPV
    function subscribeRetained(uint256 classIndex, uint256 amount) external nonReentrant onlyRole(ORIGINATOR_ROLE) {
        SPVOffering.subscribe(_s, _refs(), classIndex, amount, true);
    }

    /// @inheritdoc ISPV
    function closeDeal() external nonReentrant onlyRole(ARRANGER_ROLE) {
        SPVOffering.closeDeal(_s, _refs());
    }

    /// @inheritdoc ISPV
    function cancelOffering() external nonReentrant {
        SPVOffering.cancelOffering(_s, _refs(), hasRole(ARRANGER_ROLE, msg.sender));
    }

    /// @inheritdoc ISPV
    function refund(address holder) external nonReentrant returns (uint256) {
        return SPVOffering.refund(_s, _refs(), holder);
    }

    // ========================================================================================== periods

    /// @inheritdoc ISPV
    function submitReport(PeriodReport calldata report, ServicingCommitment calldata commitment, string calldata tapeUri)
        external
        nonReentrant
        onlyRole(SERVICER_ROLE)
    {
        SPVServicing.submitReport(_s, _refs(), report, commitment, tapeUri);
    }

    /// @inheritdoc ISPV
    function markDisputed(uint256 period, ChallengeKind kind, uint256 assetId, address challenger) external {
        if (msg.sender != _court) revert NotCourt(msg.sender);
        if (period != pendingServicingPeriod()) revert NoReportPending(period);
        _s.core.disputed = true;
        emit ChallengeProven(period, kind, assetId, challenger);
    }

    /// @inheritdoc ISPV
    function buyBack(address buyer, uint256 assetId, uint256 principal) external nonReentrant {
        if (msg.sender != _court) revert NotCourt(msg.sender);
        _checkRole(ORIGINATOR_ROLE, buyer);
        SPVServicing.buyBack(_s, _refs(), buyer, assetId, principal);
    }

    /// @inheritdoc IPoolPurchaser
    function onPoolPurchase(uint256 poolId, address seller, uint256 count, uint256 principal) external nonReentrant {
        SPVServicing.purchase(_s, _refs(), poolId, seller, count, principal);
    }

    /// @inheritdoc ISPV
    function setPoolServicers(address servicer, address disposalAgent) external onlyRole(TRUSTEE_ROLE) {
        _registry.setPoolServicers(_poolId, servicer, disposalAgent);
    }

    /// @inheritdoc ISPV
    function pendingServicingPeriod() public view returns (uint256) {
        return _s.pendingHash == bytes32(0) ? 0 : uint256(_s.progress.periodsClosed) + 1;
    }

    /// @inheritdoc ISPV
    function servicingCommitment(uint256 period) external view returns (bytes32) {
        return _s.commitments[period];
    }

    /// @notice The asset registry, the pool the deal owns and its originator (what the court checks against).
    function servicedPool() external view returns (IAssetRegistry, uint256, address) {
        return (_registry, _poolId, _originator);
    }

    /// @notice Periods closed so far.
    function periodsClosed() external view returns (uint256) {
        return _s.progress.periodsClosed;
    }

    /// @inheritdoc IPoolOwner
    /// @dev While a report is pending its figures, checked against the registry, must not move.
    function servicingLocked(uint256 poolId) external view returns (bool) {
        return poolId == _poolId && _s.pendingHash != bytes32(0);
    }

    /// @inheritdoc ISPV
    function cancelReport() external nonReentrant onlyRole(TRUSTEE_ROLE) {
        SPVSettlement.cancelReport(_s, _refs());
    }

    /// @inheritdoc ISPV
    function withdrawReturned() external nonReentrant returns (uint256) {
        return SPVSettlement.withdrawReturned(_s, _refs());
    }

    /// @inheritdoc ISPV
    function exerciseCleanUpCall(PeriodReport calldata report) external nonReentrant onlyRole(ORIGINATOR_ROLE) {
        _s.requirePhase(Phase.Active);
        uint256 period = _checkPending(report);
        // A report proven false prices nothing.
        if (_s.core.disputed) revert ReportDisputed(period);
        SPVSettlement.exerciseCleanUpCall(_s, _refs(), report.poolEndingBalance);
    }

    /// @inheritdoc ISPV
    function closePeriod(PeriodReport calldata report) external nonReentrant {
        _s.requirePhase(Phase.Active);
        uint256 period = _checkPending(report);
        uint256 due = paymentDate(period);
        if (block.timestamp < due) revert PaymentDateNotReached(period, due, block.timestamp);

        Core memory core = _s.core;
        if (core.disputed) revert ReportDisputed(period);
        PeriodReport memory r = report;
        uint256 bought = core.revolving ? _s.revolving.purchased : 0;
        if (bought != 0) {
            // Receivables bought with the period's principal (`SPVServicing.purchase`, within it): netted out of
            // scheduled principal, then prepayments, and in the pool at the period's end.
            uint256 fromScheduled = bought < r.scheduledPrincipal ? bought : r.scheduledPrincipal;
            r.scheduledPrincipal -= fromScheduled;
            r.prepayments -= bought - fromScheduled;
            r.poolEndingBalance += bought;
            _s.revolving.purchased = 0;
        }
        if (core.buyBackPending) {
            // Loans bought back since the last report: their principal and interest are this period's.
            BuyBacks memory bought = _s.pendingBuyBacks;
            r.prepayments += bought.principal;
            r.interestCollections += bought.interest;
            delete _s.pendingBuyBacks;
        }
        bool called = core.cleanUpPending;
        if (called) {
            // The originator bought what was left: the live principal arrives as prepayments, the defaulted
            // loans' carrying value as recoveries; nothing is left in the pool or delinquent.
            uint256 recoveries = _s.totals.pendingCleanUpRecoveries;
            r.prepayments += _s.totals.pendingCleanUpPrice - recoveries;
            r.recoveries += recoveries;
            r.poolEndingBalance = 0;
            r.delinquent30 = 0;
            r.delinquent60 = 0;
            r.delinquent90Plus = 0;
        }
        (DealParams memory p, address[] memory tokens) = SPVBooks.readParams(_paramsPointer, _classCount);
        DealState memory s = _s.loadState(_classCount, _feeCount);
        (PeriodResult memory res, DealState memory next) = Waterfall.closePeriodOfValidTerms(p, s, r);

        _storeState(s, next, res.feePaid, core);
        _s.pendingHash = bytes32(0);
        if (called) {
            _s.totals.pendingCleanUpPrice = 0;
            _s.totals.pendingCleanUpRecoveries = 0;
            // The pool's certificates go to the originator with the close that books its price.
            _registry.transferPool(_poolId, _originator);
        }

        _payClasses(period, tokens, s, next, res);
        _emitAlerts(period, p, r, s, res);
        emit PeriodClosed(period, msg.sender, res);
    }

    /// @inheritdoc ISPV
    function releaseHeld(uint256 classIndex) external nonReentrant {
        _checkClass(classIndex);
        SPVSettlement.releaseHeld(_s, classIndex);
    }

    /// @inheritdoc ISPV
    function endDeal() external nonReentrant {
        SPVSettlement.endDeal(_s, _refs(), hasRole(TRUSTEE_ROLE, msg.sender));
    }

    /// @inheritdoc ISPV
    function setFeeRecipient(uint256 feeIndex, address recipient) external nonReentrant onlyRole(TRUSTEE_ROLE) {
        SPVSettlement.setFeeRecipient(_s, _refs(), feeIndex, recipient);
    }

    /// @inheritdoc ISPV
    function withdrawFees(uint256 feeIndex) external nonReentrant returns (uint256) {
        return SPVSettlement.withdrawFees(_s, _refs(), feeIndex);
    }

    // ======================================================================================== internals

    function _refs() private view returns (SPVRefs memory) {
        return SPVRefs({
            court: _court,
            currency: address(_currency),
            registry: address(_registry),
            poolId: _poolId,
            originator: _originator,
            classCount: _classCount,
            feeCount: _feeCount,
            retainedPartition: _retainedPartition,
            reserveInitial: _reserveInitial,
            offeringDeadline: _offeringDeadline,
            legalFinalDate: _legalFinalDate,
            firstPaymentDate: _firstPaymentDate,
            periodMonths: _periodMonths,
            paramsPointer: _paramsPointer
        });
    }

    function _payClasses(
        uint256 period,
        address[] memory tokens,
        DealState memory s,
        DealState memory next,
        PeriodResult memory res
    ) private {
        uint256 n = res.interestPaid.length;
        for (uint256 i; i < n; ++i) {
            ISPVTranche token = ISPVTranche(tokens[i]);
            uint256 interest = res.interestPaid[i] + (i == n - 1 ? res.residual : 0);
            uint256 principal = res.principalPaid[i];
            // One token call: write-down, reinstatement (this order keeps the token's current principal, balance
            // less PDL, within bounds at every step), then the distribution, which reopens the books. With nothing
            // to pay, or the payment held, the same call applies the write-down and reinstatement and reopens them.
            uint256 written = res.writeDown[i];
            uint256 cured = res.pdlCured[i];
            if (interest + principal == 0 || !_s.payClass(token, period, i, interest, principal, written, cured)) {
                token.distributePeriod(0, 0, written, cured);
            }
            if (next.interestShortfalls[i] != s.interestShortfalls[i]) {
                token.setInterestShortfall(next.interestShortfalls[i]);
                if (next.interestShortfalls[i] > 0) emit InterestShortfall(period, i, next.interestShortfalls[i]);
            }
            emit ClassBalances(period, i, next.classBalances[i], next.pdl[i], next.interestShortfalls[i]);
        }
    }

    function _emitAlerts(
        uint256 period,
        DealParams memory p,
        PeriodReport memory r,
        DealState memory s,
        PeriodResult memory res
    ) private {
        if (res.reserveDraw > 0) emit ReserveDrawn(period, res.reserveDraw, _s.cash.reserveBalance);
        for (uint256 j; j < p.triggers.length; ++j) {
            bool was = (s.triggersBreached >> j) & 1 == 1;
            bool now_ = (res.triggersBreached >> j) & 1 == 1;
            if (was == now_) continue;
            if (now_) emit TriggerBreached(period, j, p.triggers[j].kind, res.triggerValues[j], p.triggers[j].thresholdBps);
            else emit TriggerCured(period, j, p.triggers[j].kind, res.triggerValues[j], p.triggers[j].thresholdBps);
        }
        if (_delinquencyAlertBps > 0 && r.poolEndingBalance > 0) {
            uint256 ratio = (r.delinquent60 + r.delinquent90Plus) * Waterfall.BPS / r.poolEndingBalance;
            if (ratio > _delinquencyAlertBps) emit DelinquencyAlert(period, ratio, _delinquencyAlertBps);
        }
    }

    function _checkPending(PeriodReport calldata report) private view returns (uint256 period) {
        period = uint256(_s.progress.periodsClosed) + 1;
        bytes32 pending = _s.pendingHash;
        if (pending == bytes32(0)) revert NoReportPending(period);
        bytes32 given = keccak256(abi.encode(report));
        if (given != pending) revert ReportMismatch(period, pending, given);
    }

    /// @dev Writes only the slots whose content changes from `s` (the state loaded for this close).
    function _storeState(DealState memory s, DealState memory next, uint256[] memory feePaid, Core memory core) private {
        uint256 carried = 0;
        for (uint256 i; i < next.classBalances.length; ++i) {
            if (next.classBalances[i] != s.classBalances[i] || next.pdl[i] != s.pdl[i]) {
                _s.books[i] = ClassBook(next.classBalances[i].toUint128(), next.pdl[i].toUint128());
            }
            uint256 shortfall = next.interestShortfalls[i];
            if (shortfall != s.interestShortfalls[i]) _s.extra[i].interestShortfall = shortfall.toUint96();
            if (shortfall != 0) carried |= 1 << i;
        }
        // Fees are booked, not sent: each recipient withdraws (`withdrawFees`).
        uint256 owing = 0;
        for (uint256 k; k < next.feeShortfalls.length; ++k) {
            uint256 shortfall = next.feeShortfalls[k];
            if (shortfall != s.feeShortfalls[k]) _s.feeShortfall[k] = shortfall.toUint128();
            if (shortfall != 0) owing |= 1 << k;
            if (feePaid[k] != 0) _s.feePaid[k] = (uint256(_s.feePaid[k]) + feePaid[k]).toUint128();
        }
        _s.core = Core({
            triggersBreached: next.triggersBreached.toUint32(),
            shortfallClasses: uint8(carried), // at most 8 classes (Waterfall.validateParams)
            shortfallFees: uint8(owing), // at most 8 fees (Waterfall.validateParams)
            phase: Phase.Active,
            cleanUpPending: core.cleanUpPending, // kept after the close of a call: the pool is sold (PoolSold)
            disputed: false,
            buyBackPending: false,
            revolving: core.revolving,
            closedAt: core.closedAt,
            poolBalance: next.poolBalance.toUint128()
        });
        // The pending collections are all in the waterfall's figures now: one write for the reserve and them.
        _s.cash = Cash(next.reserveBalance.toUint128(), 0);
        _s.progress = Progress(
            next.periodsClosed.toUint32(), next.cumulativeDefaults.toUint112(), next.cumulativeRecoveries.toUint112()
        );
    }

    function _checkClass(uint256 classIndex) private view {
        if (classIndex >= _classCount) revert UnknownClass(classIndex);
    }
}
