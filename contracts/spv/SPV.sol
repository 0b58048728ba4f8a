// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
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
    using SafeCast for uint256;

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

    /// @dev Storage is packed so that a period close reads and writes as few slots as possible: amounts
    /// are uint128 (SafeCast on every write), per-class and per-fee books are one slot each.
    struct Core {
        uint32 triggersBreached;
        Phase phase;
        bool cleanUpPending;
        uint128 poolBalance;
    }

    struct ClassBook {
        uint128 balance;
        uint128 pdl;
    }

    /// @dev The class token lives next to the shortfall: a close reads both in one slot.
    struct ClassExtra {
        uint96 interestShortfall;
        address token;
    }

    struct FeeBook {
        uint128 shortfall;
        uint128 paid;
    }

    struct Cash {
        uint128 reserveBalance;
        uint128 pendingCollections;
    }

    /// @dev The period count shares its slot with the loss totals, so that the first default of a deal
    /// writes a slot that is already non-zero (a pool is at most 8 classes of 2**96 units: 112 bits suffice).
    struct Progress {
        uint32 periodsClosed;
        uint112 cumulativeDefaults;
        uint112 cumulativeRecoveries;
    }

    struct Totals {
        uint128 subscriptions;
        uint128 reserveFunded;
        uint128 collections;
        uint128 cleanUpProceeds;
        uint128 paidToOriginator;
        uint128 pendingCleanUpPrice;
    }

    uint256 private immutable _classCount;
    uint256 private immutable _feeCount;

    Core private _core;
    Cash private _cash;
    Progress private _progress;
    Totals private _totals;
    bytes32 private _pendingHash;
    ClassBook[8] private _books;
    ClassExtra[8] private _extra;
    FeeBook[8] private _fees;
    uint256[8] private _subscribed;
    /// @dev Per fee: what its recipients have been paid out of `FeeBook.paid` (earned).
    uint256[8] private _feeWithdrawn;
    address[8] private _feeRecipients;

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

        _classCount = n;
        _feeCount = feeRecipients.length;
        for (uint256 k; k < feeRecipients.length; ++k) {
            _feeRecipients[k] = feeRecipients[k];
        }
        for (uint256 i; i < n; ++i) {
            _books[i].balance = classSizes[i].toUint128();
            _extra[i].token = classTokens[i];
        }
        _core.poolBalance = total.toUint128();

        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(ARRANGER_ROLE, admin);
        _grantRole(ORIGINATOR_ROLE, terms_.originator);
    }

    // ============================================================================================ views

    /// @inheritdoc ISPV
    function phase() external view returns (Phase) {
        return _core.phase;
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
    function dealParamsEncoded() external view returns (bytes memory) {
        return SSTORE2.read(_paramsPointer);
    }

    function _dealParams() private view returns (DealParams memory) {
        return abi.decode(SSTORE2.read(_paramsPointer), (DealParams));
    }

    /// @inheritdoc ISPV
    function dealState() public view returns (DealState memory) {
        return _loadState();
    }

    /// @inheritdoc ISPV
    function classTokens() external view returns (address[] memory) {
        uint256 n = _classCount;
        address[] memory tokens = new address[](n);
        for (uint256 i; i < n; ++i) {
            tokens[i] = _extra[i].token;
        }
        return tokens;
    }

    /// @inheritdoc ISPV
    function feeRecipients() external view returns (address[] memory) {
        uint256 f = _feeCount;
        address[] memory recipients = new address[](f);
        for (uint256 k; k < f; ++k) {
            recipients[k] = _feeRecipients[k];
        }
        return recipients;
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
        ISPVTranche token = ISPVTranche(_extra[classIndex].token);
        return token.totalInterestDistributed() + token.totalPrincipalDistributed();
    }

    /// @inheritdoc ISPV
    function feePaidTotal(uint256 feeIndex) external view returns (uint256) {
        if (feeIndex >= _feeCount) revert UnknownFee(feeIndex);
        return _fees[feeIndex].paid;
    }

    /// @inheritdoc ISPV
    function feeOwed(uint256 feeIndex) public view returns (uint256) {
        if (feeIndex >= _feeCount) revert UnknownFee(feeIndex);
        return _fees[feeIndex].paid - _feeWithdrawn[feeIndex];
    }

    /// @inheritdoc ISPV
    function pendingReportHash() external view returns (bytes32) {
        return _pendingHash;
    }

    /// @inheritdoc ISPV
    function pendingCleanUpPrice() external view returns (uint256) {
        return _totals.pendingCleanUpPrice;
    }

    /// @inheritdoc ISPV
    function ledger() external view returns (Ledger memory l) {
        Totals memory t = _totals;
        l.subscriptions = t.subscriptions;
        l.reserveFunded = t.reserveFunded;
        l.collections = t.collections;
        l.cleanUpProceeds = t.cleanUpProceeds;
        l.paidToOriginator = t.paidToOriginator;
        for (uint256 i; i < _feeCount; ++i) {
            uint256 withdrawn = _feeWithdrawn[i];
            l.feesPaid += withdrawn;
            l.feesOwed += _fees[i].paid - withdrawn;
        }
        // What each tranche token received from the SPV is in the token's own books.
        for (uint256 i; i < _classCount; ++i) {
            ISPVTranche token = ISPVTranche(_extra[i].token);
            l.distributed += token.totalInterestDistributed() + token.totalPrincipalDistributed();
        }
        l.reserveBalance = _cash.reserveBalance;
        l.pendingCollections = uint256(_cash.pendingCollections) + t.pendingCleanUpPrice;
        l.unsettledSubscriptions = _core.phase == Phase.Offering ? t.subscriptions : 0;
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
        uint256 n = _classCount;
        for (uint256 i; i < n; ++i) {
            uint256 have = _subscribed[i];
            uint256 size = _books[i].balance;
            if (have != size) revert NotFullySubscribed(i, have, size);
        }
        // The pool must be sealed (cut-off tape committed), still the originator's, and of the deal's size.
        IAssetRegistry.PoolInfo memory pool = _registry.poolInfo(_poolId);
        uint256 dealPrincipal = _core.poolBalance;
        if (!pool.isSealed || pool.owner != _originator || pool.cutoffPrincipal != dealPrincipal) {
            revert PoolNotReady(_poolId, pool.cutoffPrincipal, dealPrincipal, pool.isSealed, pool.owner);
        }
        _core.phase = Phase.Active;
        uint256 price = _totals.subscriptions;
        _totals.paidToOriginator = price.toUint128();
        _cash.reserveBalance = _reserveInitial.toUint128();
        _totals.reserveFunded = _reserveInitial.toUint128();
        // True sale: the pool's certificates move to the SPV in the same transaction as the payment.
        _registry.transferPool(_poolId, address(this));
        // Each tranche token pulls its distributions; one standing approval saves an approval per payment.
        for (uint256 i; i < n; ++i) {
            _currency.forceApprove(_extra[i].token, type(uint256).max);
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
        uint256 period = uint256(_progress.periodsClosed) + 1;
        if (_pendingHash != bytes32(0)) revert ReportPending(period);
        Waterfall.validateReport(_loadState(), report);
        uint256 collections = report.interestCollections + report.scheduledPrincipal + report.prepayments + report.recoveries;
        _pendingHash = keccak256(abi.encode(report));
        _cash.pendingCollections = collections.toUint128();
        _totals.collections = (uint256(_totals.collections) + collections).toUint128();
        if (collections > 0) _currency.safeTransferFrom(msg.sender, address(this), collections);
        emit ReportSubmitted(period, msg.sender, collections, tapeRoot, tapeUri, report);
    }

    /// @inheritdoc ISPV
    function exerciseCleanUpCall(PeriodReport calldata report) external nonReentrant onlyRole(ORIGINATOR_ROLE) {
        _requirePhase(Phase.Active);
        uint256 period = _checkPending(report);
        DealParams memory p = _dealParams();
        uint256 level = p.originalPoolBalance * p.cleanUpCallBps / Waterfall.BPS;
        uint256 price = report.poolEndingBalance;
        if (_totals.pendingCleanUpPrice != 0 || price == 0 || price > level) revert CleanUpCallNotAvailable(price, level);
        _totals.pendingCleanUpPrice = price.toUint128();
        _core.cleanUpPending = true;
        _totals.cleanUpProceeds = (uint256(_totals.cleanUpProceeds) + price).toUint128();
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
        uint256 callPrice = _core.cleanUpPending ? _totals.pendingCleanUpPrice : 0;
        if (callPrice > 0) {
            // The originator bought what was left at par: it arrives as prepayments; nothing is delinquent.
            r.prepayments += callPrice;
            r.poolEndingBalance = 0;
            r.delinquent30 = 0;
            r.delinquent60 = 0;
            r.delinquent90Plus = 0;
        }
        DealParams memory p = _dealParams();
        DealState memory s = _loadState();
        (PeriodResult memory res, DealState memory next) = Waterfall.closePeriodOfValidTerms(p, s, r);

        _storeState(s, next, res.feePaid);
        _pendingHash = bytes32(0);
        _cash.pendingCollections = 0;
        if (callPrice > 0) _totals.pendingCleanUpPrice = 0;

        _payClasses(period, s, next, res);
        _emitAlerts(period, p, r, s, res);
        emit PeriodClosed(period, msg.sender, res);
    }

    /// @inheritdoc ISPV
    function endDeal() external nonReentrant {
        _requirePhase(Phase.Active);
        uint256 n = _classCount;
        uint256 debt;
        for (uint256 i; i + 1 < n; ++i) {
            debt += _books[i].balance;
        }
        bool legalFinal = block.timestamp >= _legalFinalDate;
        uint256 poolBalance = _core.poolBalance;
        if (_pendingHash != bytes32(0)) revert ReportPending(uint256(_progress.periodsClosed) + 1);
        if (!legalFinal && (poolBalance != 0 || debt != 0)) revert CannotEnd(poolBalance, debt, _legalFinalDate);
        _core.phase = Phase.Ended;

        // Whatever principal is still unpaid is lost: written off (beyond the principal deficiency already
        // recorded) and the balances closed.
        uint256 finalWriteDown;
        for (uint256 i; i < n; ++i) {
            ClassBook memory book = _books[i];
            uint256 unpaid = uint256(book.balance) - book.pdl;
            if (unpaid > 0) {
                ISPVTranche(_extra[i].token).writeDown(unpaid);
                finalWriteDown += unpaid;
            }
            delete _books[i];
        }
        uint256 released = _cash.reserveBalance;
        _cash.reserveBalance = 0;
        if (released > 0) _distribute(n - 1, released, 0);
        emit DealEnded(_progress.periodsClosed, released, finalWriteDown, legalFinal);
    }

    /// @inheritdoc ISPV
    function setFeeRecipient(uint256 feeIndex, address recipient) external nonReentrant onlyRole(TRUSTEE_ROLE) {
        if (feeIndex >= _feeCount) revert UnknownFee(feeIndex);
        if (recipient == address(0)) revert ZeroFeeRecipient(feeIndex);
        address previous = _feeRecipients[feeIndex];
        // What the fee earned while `previous` was its recipient is paid to `previous` first; a failed
        // transfer (a blocked address) must not stop the trustee from redirecting the fee.
        uint256 owed = feeOwed(feeIndex);
        if (owed > 0) {
            _feeWithdrawn[feeIndex] += owed; // booked before the transfer, undone if it fails
            if (_currency.trySafeTransfer(previous, owed)) {
                emit FeesWithdrawn(feeIndex, previous, msg.sender, owed);
            } else {
                _feeWithdrawn[feeIndex] -= owed;
                emit FeeSettlementFailed(feeIndex, previous, owed);
            }
        }
        _feeRecipients[feeIndex] = recipient;
        emit FeeRecipientChanged(feeIndex, previous, recipient);
    }

    /// @inheritdoc ISPV
    function withdrawFees(uint256 feeIndex) external nonReentrant returns (uint256 amount) {
        amount = feeOwed(feeIndex);
        if (amount == 0) return 0;
        _feeWithdrawn[feeIndex] += amount;
        address recipient = _feeRecipients[feeIndex];
        emit FeesWithdrawn(feeIndex, recipient, msg.sender, amount);
        _currency.safeTransfer(recipient, amount);
    }

    // ======================================================================================== internals

    function _subscribe(uint256 classIndex, uint256 amount, bool retained) private {
        _requirePhase(Phase.Offering);
        _checkClass(classIndex);
        if (amount == 0) revert ZeroAmount();
        uint256 have = _subscribed[classIndex];
        uint256 available = uint256(_books[classIndex].balance) - have;
        if (amount > available) revert OverSubscribed(classIndex, amount, available);
        _subscribed[classIndex] = have + amount;
        _totals.subscriptions = (uint256(_totals.subscriptions) + amount).toUint128();
        _currency.safeTransferFrom(msg.sender, address(this), amount);
        ISPVTranche token = ISPVTranche(_extra[classIndex].token);
        if (retained) token.issueByPartition(_retainedPartition, msg.sender, amount, "");
        else token.issue(msg.sender, amount, "");
        emit Subscribed(msg.sender, classIndex, amount, retained);
    }

    function _payClasses(uint256 period, DealState memory s, DealState memory next, PeriodResult memory res) private {
        uint256 n = res.interestPaid.length;
        for (uint256 i; i < n; ++i) {
            ISPVTranche token = ISPVTranche(_extra[i].token);
            // Order keeps the token's current principal (= balance - PDL) within bounds at every step.
            if (res.writeDown[i] > 0) token.writeDown(res.writeDown[i]);
            if (res.pdlCured[i] > 0) token.reinstate(res.pdlCured[i]);
            uint256 interest = res.interestPaid[i] + (i == n - 1 ? res.residual : 0);
            _distribute(i, interest, res.principalPaid[i]);
            if (next.interestShortfalls[i] != s.interestShortfalls[i]) {
                token.setInterestShortfall(next.interestShortfalls[i]);
                if (next.interestShortfalls[i] > 0) emit InterestShortfall(period, i, next.interestShortfalls[i]);
            }
            emit ClassBalances(period, i, next.classBalances[i], next.pdl[i], next.interestShortfalls[i]);
        }
    }

    function _distribute(uint256 classIndex, uint256 interest, uint256 principal) private {
        uint256 amount = interest + principal;
        if (amount == 0) return;
        ISPVTranche(_extra[classIndex].token).distribute(interest, principal);
    }

    function _emitAlerts(
        uint256 period,
        DealParams memory p,
        PeriodReport memory r,
        DealState memory s,
        PeriodResult memory res
    ) private {
        if (res.reserveDraw > 0) emit ReserveDrawn(period, res.reserveDraw, _cash.reserveBalance);
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
        period = uint256(_progress.periodsClosed) + 1;
        bytes32 pending = _pendingHash;
        if (pending == bytes32(0)) revert NoReportPending(period);
        bytes32 given = keccak256(abi.encode(report));
        if (given != pending) revert ReportMismatch(period, pending, given);
    }

    function _loadState() private view returns (DealState memory s) {
        uint256 n = _classCount;
        uint256 f = _feeCount;
        Core memory core = _core;
        Cash memory cash = _cash;
        Progress memory progress = _progress;
        s.periodsClosed = progress.periodsClosed;
        s.poolBalance = core.poolBalance;
        s.triggersBreached = core.triggersBreached;
        s.reserveBalance = cash.reserveBalance;
        s.cumulativeDefaults = progress.cumulativeDefaults;
        s.cumulativeRecoveries = progress.cumulativeRecoveries;
        s.classBalances = new uint256[](n);
        s.pdl = new uint256[](n);
        s.interestShortfalls = new uint256[](n);
        s.feeShortfalls = new uint256[](f);
        for (uint256 i; i < n; ++i) {
            ClassBook memory book = _books[i];
            s.classBalances[i] = book.balance;
            s.pdl[i] = book.pdl;
            s.interestShortfalls[i] = _extra[i].interestShortfall;
        }
        for (uint256 k; k < f; ++k) {
            s.feeShortfalls[k] = _fees[k].shortfall;
        }
    }

    /// @dev Writes only the slots whose content changes from `s` (the state loaded for this close).
    function _storeState(DealState memory s, DealState memory next, uint256[] memory feePaid) private {
        _core = Core({
            triggersBreached: next.triggersBreached.toUint32(),
            phase: Phase.Active,
            cleanUpPending: false,
            poolBalance: next.poolBalance.toUint128()
        });
        _cash.reserveBalance = next.reserveBalance.toUint128();
        _progress = Progress(
            next.periodsClosed.toUint32(), next.cumulativeDefaults.toUint112(), next.cumulativeRecoveries.toUint112()
        );
        for (uint256 i; i < next.classBalances.length; ++i) {
            if (next.classBalances[i] != s.classBalances[i] || next.pdl[i] != s.pdl[i]) {
                _books[i] = ClassBook(next.classBalances[i].toUint128(), next.pdl[i].toUint128());
            }
            if (next.interestShortfalls[i] != s.interestShortfalls[i]) {
                _extra[i].interestShortfall = next.interestShortfalls[i].toUint96();
            }
        }
        // Fees are booked, not sent: each recipient withdraws (`withdrawFees`).
        for (uint256 k; k < next.feeShortfalls.length; ++k) {
            if (next.feeShortfalls[k] != s.feeShortfalls[k] || feePaid[k] != 0) {
                _fees[k] = FeeBook(next.feeShortfalls[k].toUint128(), (uint256(_fees[k].paid) + feePaid[k]).toUint128());
            }
        }
    }

    function _requirePhase(Phase expected) private view {
        Phase current = _core.phase;
        if (current != expected) revert WrongPhase(expected, current);
    }

    function _checkClass(uint256 classIndex) private view {
        if (classIndex >= _classCount) revert UnknownClass(classIndex);
    }
}
