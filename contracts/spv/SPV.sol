// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {SSTORE2} from "solady/utils/SSTORE2.sol";

import {Waterfall} from "./Waterfall.sol";
import {DealParams, DealState, IWaterfall, PeriodReport, PeriodResult} from "../../interfaces/IWaterfall.sol";
import {ISPV, Ledger, Phase, SPVTerms} from "../../interfaces/ISPV.sol";
import {ISPVTranche} from "../../interfaces/ISPVDependencies.sol";
import {IAssetRegistry} from "../../interfaces/IAssetRegistry.sol";

/// @title SPV
/// @notice One securitization deal on chain: offering (payment and delivery of tranche tokens in one
/// transaction), closing (true sale of the pool, reserve funded), one waterfall run per payment date,
/// clean-up call, end of life. Every unit of currency is accounted for in `ledger()`.
/// @dev The waterfall's terms are stored once as code (SSTORE2) and read in one EXTCODECOPY per close; the
/// close loops over classes, fees and triggers only, so its cost does not depend on holders or assets.
contract SPV is ISPV, IWaterfall, AccessControl, ReentrancyGuard {
    using SafeERC20 for IERC20;

    /// @notice Closes the deal (and administers it through DEFAULT_ADMIN_ROLE where granted).
    bytes32 public constant ARRANGER_ROLE = keccak256("ARRANGER_ROLE");
    /// @notice Deposits collections and submits period reports.
    bytes32 public constant SERVICER_ROLE = keccak256("SERVICER_ROLE");
    /// @notice Changes fee recipients.
    bytes32 public constant TRUSTEE_ROLE = keccak256("TRUSTEE_ROLE");
    /// @notice Subscribes the retained slice and holds the clean-up call.
    bytes32 public constant ORIGINATOR_ROLE = keccak256("ORIGINATOR_ROLE");
    /// @notice Days in a 30/360 month.
    uint256 private constant DAYS_PER_MONTH = 30;

    IERC20 private immutable _currency;
    IAssetRegistry private immutable _registry;
    uint256 private immutable _poolId;
    address private immutable _originator;
    uint64 private immutable _firstPaymentDate;
    uint64 private immutable _legalFinalDate;
    uint256 private immutable _reserveInitial;
    uint256 private immutable _delinquencyAlertBps;
    uint256 private immutable _periodSeconds;
    address private immutable _paramsPointer;
    bytes32 private immutable _retainedPartition;

    Phase private _phase;
    address[] private _classTokens;
    address[] private _feeRecipients;
    uint256[] private _subscribed;
    uint256[] private _distributed;
    uint256[] private _feesPaid;

    // DealState, field by field (see `_loadState` / `_storeState`).
    uint256 private _periodsClosed;
    uint256 private _poolBalance;
    uint256[] private _classBalances;
    uint256[] private _interestShortfalls;
    uint256[] private _pdl;
    uint256[] private _feeShortfalls;
    uint256 private _reserveBalance;
    uint256 private _cumulativeDefaults;
    uint256 private _cumulativeRecoveries;
    uint256 private _triggersBreached;

    bytes32 private _pendingHash;
    uint256 private _pendingCollections;
    uint256 private _pendingCleanUpPrice;

    uint256 private _subscriptions;
    uint256 private _reserveFunded;
    uint256 private _collections;
    uint256 private _cleanUpProceeds;
    uint256 private _paidToOriginator;
    uint256 private _feesPaidTotal;
    uint256 private _distributedTotal;

    /// @param terms_ currency, registry, pool, originator, dates, reserve and alert levels
    /// @param params the waterfall terms (validated by `Waterfall.validateParams`)
    /// @param classSizes original face of each class; must add up to `params.originalPoolBalance`
    /// @param classTokens tranche token of each class, seniority order (the SPV needs ISSUER and DISTRIBUTOR roles)
    /// @param feeRecipients recipient of each fee of `params.fees`
    /// @param retainedPartition the tokens' lock-up partition used by `subscribeRetained`
    /// @param admin receives DEFAULT_ADMIN_ROLE and ARRANGER_ROLE
    constructor(
        SPVTerms memory terms_,
        DealParams memory params,
        uint256[] memory classSizes,
        address[] memory classTokens,
        address[] memory feeRecipients,
        bytes32 retainedPartition,
        address admin
    ) {
        Waterfall.validateParams(params);
        uint256 n = params.classes.length;
        if (classSizes.length != n || classTokens.length != n) revert InvalidTerms("one size and one token per class");
        if (feeRecipients.length != params.fees.length) revert InvalidTerms("one recipient per fee");
        if (terms_.currency == address(0) || terms_.registry == address(0) || terms_.originator == address(0)) {
            revert InvalidTerms("zero address");
        }
        if (admin == address(0)) revert InvalidTerms("zero admin");
        if (terms_.legalFinalDate <= terms_.firstPaymentDate) revert InvalidTerms("legal final before first payment");
        uint256 total;
        for (uint256 i; i < n; ++i) {
            if (classTokens[i] == address(0)) revert InvalidTerms("zero class token");
            total += classSizes[i];
        }
        for (uint256 i; i < feeRecipients.length; ++i) {
            if (feeRecipients[i] == address(0)) revert InvalidTerms("zero fee recipient");
        }
        if (total != params.originalPoolBalance) revert InvalidTerms("class sizes must add up to the pool");

        _currency = IERC20(terms_.currency);
        _registry = IAssetRegistry(terms_.registry);
        _poolId = terms_.poolId;
        _originator = terms_.originator;
        _firstPaymentDate = terms_.firstPaymentDate;
        _legalFinalDate = terms_.legalFinalDate;
        _reserveInitial = terms_.reserveInitial;
        _delinquencyAlertBps = terms_.delinquencyAlertBps;
        _periodSeconds = params.periodMonths * DAYS_PER_MONTH * 1 days;
        _paramsPointer = SSTORE2.write(abi.encode(params));
        _retainedPartition = retainedPartition;

        _classTokens = classTokens;
        _feeRecipients = feeRecipients;
        _classBalances = classSizes;
        _subscribed = new uint256[](n);
        _distributed = new uint256[](n);
        _interestShortfalls = new uint256[](n);
        _pdl = new uint256[](n);
        _feesPaid = new uint256[](params.fees.length);
        _feeShortfalls = new uint256[](params.fees.length);
        _poolBalance = total;

        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(ARRANGER_ROLE, admin);
        _grantRole(ORIGINATOR_ROLE, terms_.originator);
    }

    // ============================================================================================ views

    /// @inheritdoc ISPV
    function phase() external view returns (Phase) {
        return _phase;
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
            delinquencyAlertBps: _delinquencyAlertBps
        });
    }

    /// @inheritdoc ISPV
    function dealParams() public view returns (DealParams memory) {
        return abi.decode(SSTORE2.read(_paramsPointer), (DealParams));
    }

    /// @inheritdoc ISPV
    function dealState() public view returns (DealState memory) {
        return _loadState();
    }

    /// @inheritdoc ISPV
    function classTokens() external view returns (address[] memory) {
        return _classTokens;
    }

    /// @inheritdoc ISPV
    function feeRecipients() external view returns (address[] memory) {
        return _feeRecipients;
    }

    /// @inheritdoc ISPV
    function paymentDate(uint256 period) public view returns (uint256) {
        if (period == 0) return _firstPaymentDate;
        return uint256(_firstPaymentDate) + (period - 1) * _periodSeconds;
    }

    /// @inheritdoc ISPV
    function subscribed(uint256 classIndex) external view returns (uint256) {
        _checkClass(classIndex);
        return _subscribed[classIndex];
    }

    /// @inheritdoc ISPV
    function distributedToClass(uint256 classIndex) external view returns (uint256) {
        _checkClass(classIndex);
        return _distributed[classIndex];
    }

    /// @inheritdoc ISPV
    function feePaidTotal(uint256 feeIndex) external view returns (uint256) {
        return _feesPaid[feeIndex];
    }

    /// @inheritdoc ISPV
    function pendingReportHash() external view returns (bytes32) {
        return _pendingHash;
    }

    /// @inheritdoc ISPV
    function pendingCleanUpPrice() external view returns (uint256) {
        return _pendingCleanUpPrice;
    }

    /// @inheritdoc ISPV
    function ledger() external view returns (Ledger memory l) {
        l.subscriptions = _subscriptions;
        l.reserveFunded = _reserveFunded;
        l.collections = _collections;
        l.cleanUpProceeds = _cleanUpProceeds;
        l.paidToOriginator = _paidToOriginator;
        l.feesPaid = _feesPaidTotal;
        l.distributed = _distributedTotal;
        l.reserveBalance = _reserveBalance;
        l.pendingCollections = _pendingCollections + _pendingCleanUpPrice;
        l.unsettledSubscriptions = _phase == Phase.Offering ? _subscriptions : 0;
    }

    // ========================================================================================= offering

    /// @inheritdoc ISPV
    function subscribe(uint256 classIndex, uint256 amount) external nonReentrant {
        _subscribe(classIndex, amount, false);
    }

    /// @inheritdoc ISPV
    function subscribeRetained(uint256 classIndex, uint256 amount) external nonReentrant onlyRole(ORIGINATOR_ROLE) {
        _subscribe(classIndex, amount, true);
    }

    /// @inheritdoc ISPV
    function closeDeal() external nonReentrant onlyRole(ARRANGER_ROLE) {
        _requirePhase(Phase.Offering);
        uint256 n = _classTokens.length;
        for (uint256 i; i < n; ++i) {
            if (_subscribed[i] != _classBalances[i]) revert NotFullySubscribed(i, _subscribed[i], _classBalances[i]);
        }
        // The pool must be sealed (cut-off tape committed), still the originator's, and of the deal's size.
        IAssetRegistry.PoolInfo memory pool = _registry.poolInfo(_poolId);
        if (!pool.isSealed || pool.owner != _originator || pool.cutoffPrincipal != _poolBalance) {
            revert PoolNotReady(_poolId, pool.cutoffPrincipal, _poolBalance, pool.isSealed, pool.owner);
        }
        _phase = Phase.Active;
        uint256 price = _subscriptions;
        _paidToOriginator = price;
        _reserveBalance = _reserveInitial;
        _reserveFunded = _reserveInitial;
        // True sale: the pool's certificates move to the SPV in the same transaction as the payment.
        _registry.transferPool(_poolId, address(this));
        // Each tranche token pulls its distributions; one standing approval saves an approval per payment.
        for (uint256 i; i < n; ++i) {
            _currency.forceApprove(_classTokens[i], type(uint256).max);
        }
        if (_reserveInitial > 0) _currency.safeTransferFrom(msg.sender, address(this), _reserveInitial);
        _currency.safeTransfer(_originator, price);
        emit DealClosed(_poolId, msg.sender, price, _reserveInitial);
    }

    // ========================================================================================== periods

    /// @inheritdoc ISPV
    function submitReport(PeriodReport calldata report, bytes32 tapeRoot, string calldata tapeUri)
        external
        nonReentrant
        onlyRole(SERVICER_ROLE)
    {
        _requirePhase(Phase.Active);
        uint256 period = _periodsClosed + 1;
        if (_pendingHash != bytes32(0)) revert ReportPending(period);
        Waterfall.validateReport(_loadState(), report);
        uint256 collections = report.interestCollections + report.scheduledPrincipal + report.prepayments + report.recoveries;
        _pendingHash = keccak256(abi.encode(report));
        _pendingCollections = collections;
        _collections += collections;
        if (collections > 0) _currency.safeTransferFrom(msg.sender, address(this), collections);
        emit ReportSubmitted(period, msg.sender, collections, tapeRoot, tapeUri, report);
    }

    /// @inheritdoc ISPV
    function exerciseCleanUpCall(PeriodReport calldata report) external nonReentrant onlyRole(ORIGINATOR_ROLE) {
        _requirePhase(Phase.Active);
        uint256 period = _checkPending(report);
        DealParams memory p = dealParams();
        uint256 level = p.originalPoolBalance * p.cleanUpCallBps / Waterfall.BPS;
        uint256 price = report.poolEndingBalance;
        if (_pendingCleanUpPrice != 0 || price == 0 || price > level) revert CleanUpCallNotAvailable(price, level);
        _pendingCleanUpPrice = price;
        _cleanUpProceeds += price;
        _registry.transferPool(_poolId, _originator);
        _currency.safeTransferFrom(msg.sender, address(this), price);
        emit CleanUpCallExercised(period, msg.sender, price);
    }

    /// @inheritdoc ISPV
    function closePeriod(PeriodReport calldata report) external nonReentrant {
        _requirePhase(Phase.Active);
        uint256 period = _checkPending(report);
        uint256 due = paymentDate(period);
        if (block.timestamp < due) revert PaymentDateNotReached(period, due, block.timestamp);

        PeriodReport memory r = report;
        uint256 callPrice = _pendingCleanUpPrice;
        if (callPrice > 0) {
            // The originator bought what was left at par: it arrives as prepayments; nothing is delinquent.
            r.prepayments += callPrice;
            r.poolEndingBalance = 0;
            r.delinquent30 = 0;
            r.delinquent60 = 0;
            r.delinquent90Plus = 0;
        }
        DealParams memory p = dealParams();
        DealState memory s = _loadState();
        (PeriodResult memory res, DealState memory next) = Waterfall.closePeriod(p, s, r);

        _storeState(next);
        _pendingHash = bytes32(0);
        _pendingCollections = 0;
        _pendingCleanUpPrice = 0;

        _payFees(period, res);
        _payClasses(period, s, next, res);
        _emitAlerts(period, p, r, s, res);
        emit PeriodClosed(period, msg.sender, res);
    }

    /// @inheritdoc ISPV
    function endDeal() external nonReentrant {
        _requirePhase(Phase.Active);
        uint256 n = _classTokens.length;
        uint256 debt;
        for (uint256 i; i + 1 < n; ++i) {
            debt += _classBalances[i];
        }
        bool legalFinal = block.timestamp >= _legalFinalDate;
        if (_pendingHash != bytes32(0)) revert ReportPending(_periodsClosed + 1);
        if (!legalFinal && (_poolBalance != 0 || debt != 0)) revert CannotEnd(_poolBalance, debt, _legalFinalDate);
        _phase = Phase.Ended;

        // Whatever principal is still unpaid is lost: written off (beyond the principal deficiency already
        // recorded) and the balances closed.
        uint256 finalWriteDown;
        for (uint256 i; i < n; ++i) {
            uint256 unpaid = _classBalances[i] - _pdl[i];
            if (unpaid > 0) {
                ISPVTranche(_classTokens[i]).writeDown(unpaid);
                finalWriteDown += unpaid;
            }
            _classBalances[i] = 0;
            _pdl[i] = 0;
        }
        uint256 released = _reserveBalance;
        _reserveBalance = 0;
        if (released > 0) _distribute(n - 1, released, 0);
        emit DealEnded(_periodsClosed, released, finalWriteDown, legalFinal);
    }

    /// @inheritdoc ISPV
    function setFeeRecipient(uint256 feeIndex, address recipient) external onlyRole(TRUSTEE_ROLE) {
        if (feeIndex >= _feeRecipients.length) revert InvalidTerms("unknown fee");
        if (recipient == address(0)) revert InvalidTerms("zero fee recipient");
        address previous = _feeRecipients[feeIndex];
        _feeRecipients[feeIndex] = recipient;
        emit FeeRecipientChanged(feeIndex, previous, recipient);
    }

    // ======================================================================================== internals

    function _subscribe(uint256 classIndex, uint256 amount, bool retained) private {
        _requirePhase(Phase.Offering);
        _checkClass(classIndex);
        if (amount == 0) revert ZeroAmount();
        uint256 available = _classBalances[classIndex] - _subscribed[classIndex];
        if (amount > available) revert OverSubscribed(classIndex, amount, available);
        _subscribed[classIndex] += amount;
        _subscriptions += amount;
        _currency.safeTransferFrom(msg.sender, address(this), amount);
        ISPVTranche token = ISPVTranche(_classTokens[classIndex]);
        if (retained) token.issueByPartition(_retainedPartition, msg.sender, amount, "");
        else token.issue(msg.sender, amount, "");
        emit Subscribed(msg.sender, classIndex, amount, retained);
    }

    function _payFees(uint256 period, PeriodResult memory res) private {
        for (uint256 i; i < res.feePaid.length; ++i) {
            uint256 amount = res.feePaid[i];
            if (amount == 0) continue;
            _feesPaid[i] += amount;
            _feesPaidTotal += amount;
            address recipient = _feeRecipients[i];
            _currency.safeTransfer(recipient, amount);
            emit FeePaid(period, i, recipient, amount);
        }
    }

    function _payClasses(uint256 period, DealState memory s, DealState memory next, PeriodResult memory res) private {
        uint256 n = res.interestPaid.length;
        for (uint256 i; i < n; ++i) {
            ISPVTranche token = ISPVTranche(_classTokens[i]);
            // Order keeps the token's current principal (= balance - PDL) within bounds at every step.
            if (res.writeDown[i] > 0) token.writeDown(res.writeDown[i]);
            if (res.pdlCured[i] > 0) token.reinstate(res.pdlCured[i]);
            uint256 interest = res.interestPaid[i] + (i == n - 1 ? res.residual : 0);
            _distribute(i, interest, res.principalPaid[i]);
            if (next.interestShortfalls[i] != s.interestShortfalls[i]) {
                token.setInterestShortfall(next.interestShortfalls[i]);
                if (next.interestShortfalls[i] > 0) emit InterestShortfall(period, i, next.interestShortfalls[i]);
            }
            emit ClassPaid(
                period,
                i,
                interest,
                res.principalPaid[i],
                res.writeDown[i],
                res.pdlCured[i],
                next.classBalances[i],
                next.pdl[i],
                next.interestShortfalls[i]
            );
        }
    }

    function _distribute(uint256 classIndex, uint256 interest, uint256 principal) private {
        uint256 amount = interest + principal;
        if (amount == 0) return;
        _distributed[classIndex] += amount;
        _distributedTotal += amount;
        ISPVTranche(_classTokens[classIndex]).distribute(interest, principal);
    }

    function _emitAlerts(
        uint256 period,
        DealParams memory p,
        PeriodReport memory r,
        DealState memory s,
        PeriodResult memory res
    ) private {
        if (res.reserveDraw > 0) emit ReserveDrawn(period, res.reserveDraw, _reserveBalance);
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
        period = _periodsClosed + 1;
        bytes32 pending = _pendingHash;
        if (pending == bytes32(0)) revert NoReportPending(period);
        bytes32 given = keccak256(abi.encode(report));
        if (given != pending) revert ReportMismatch(period, pending, given);
    }

    function _loadState() private view returns (DealState memory s) {
        s.periodsClosed = _periodsClosed;
        s.poolBalance = _poolBalance;
        s.classBalances = _classBalances;
        s.interestShortfalls = _interestShortfalls;
        s.pdl = _pdl;
        s.feeShortfalls = _feeShortfalls;
        s.reserveBalance = _reserveBalance;
        s.cumulativeDefaults = _cumulativeDefaults;
        s.cumulativeRecoveries = _cumulativeRecoveries;
        s.triggersBreached = _triggersBreached;
    }

    function _storeState(DealState memory s) private {
        _periodsClosed = s.periodsClosed;
        _poolBalance = s.poolBalance;
        _storeArray(_classBalances, s.classBalances);
        _storeArray(_interestShortfalls, s.interestShortfalls);
        _storeArray(_pdl, s.pdl);
        _storeArray(_feeShortfalls, s.feeShortfalls);
        _reserveBalance = s.reserveBalance;
        _cumulativeDefaults = s.cumulativeDefaults;
        _cumulativeRecoveries = s.cumulativeRecoveries;
        if (_triggersBreached != s.triggersBreached) _triggersBreached = s.triggersBreached;
    }

    /// @dev Writes only the slots that change (same length arrays).
    function _storeArray(uint256[] storage dst, uint256[] memory src) private {
        for (uint256 i; i < src.length; ++i) {
            if (dst[i] != src[i]) dst[i] = src[i];
        }
    }

    function _requirePhase(Phase expected) private view {
        if (_phase != expected) revert WrongPhase(expected, _phase);
    }

    function _checkClass(uint256 classIndex) private view {
        if (classIndex >= _classTokens.length) revert UnknownClass(classIndex);
    }
}
