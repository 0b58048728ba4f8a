// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Metadata} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Metadata.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ITrancheToken} from "../../interfaces/ITrancheToken.sol";
import {IERC1594} from "../../interfaces/IERC1594.sol";
import {IERC1410} from "../../interfaces/IERC1410.sol";
import {IERC1644} from "../../interfaces/IERC1644.sol";
import {IIdentityCache, IIdentityRegistry} from "../../interfaces/IIdentityRegistry.sol";
import {ComplianceCodes as C} from "../compliance/ComplianceCodes.sol";
import {DistributionMath as M, Pair, PairLib} from "./DistributionMath.sol";
import {DocumentStore} from "./DocumentStore.sol";
import {Account, Flows, TrancheState, TrancheStateLib as S} from "./TrancheWords.sol";
import {TrancheStore, TrancheLogic, Config, Mode, UNRESTRICTED as UNRESTRICTED_, LOCKED as LOCKED_} from "./TrancheStore.sol";
import {TrancheOps} from "./TrancheOps.sol";

/// @title TrancheToken
/// @notice One tranche of a ChainABS deal: ERC-20 + ERC-1594/1410/1643/1644, KYC through an
///         IdentityRegistry, pull-based ERC-2222-style interest and principal distributions, bound once to
///         its deal (the SPV), which alone moves its books.
/// @dev Balances are kept in one packed {Account} per holder (unrestricted | locked | checkpoint epoch) instead
///      of OpenZeppelin's ERC20 storage: a compliant transfer then costs two holder-slot writes plus one
///      registry call. On every balance change the holder is checkpointed (credit += balance * (acc[now] -
///      acc[then])), which is a no-op when the holder was already checkpointed in the current epoch.
///      Lazy history: a distribution only updates the current accumulators (`_t.current`); the accumulators of
///      an epoch are copied to `_t.accumulators[epoch]` by the first checkpoint that moves an account to that
///      epoch (flag HISTORY_WRITTEN of {TrancheState}). Invariant: every account whose checkpoint epoch is
///      e > 0 has `_t.accumulators[e]` written, and it equals the accumulators after distribution e (no
///      distribution can happen between distribution e and the checkpoint, or the epoch would not be e).
///      Epochs in which no account moves (buy-and-hold tranches) never store history.
///      The distribution path touches three slots: `_t.state`, `_t.current` and `_t.flows`.
contract TrancheToken is ITrancheToken, AccessControl, DocumentStore {
    using SafeERC20 for IERC20;

    bytes32 public constant CONTROLLER_ROLE = keccak256("CONTROLLER_ROLE");
    bytes32 public constant PAUSER_ROLE = keccak256("PAUSER_ROLE");
    bytes32 public constant DOCUMENT_ROLE = keccak256("DOCUMENT_ROLE");

    bytes32 public constant UNRESTRICTED = UNRESTRICTED_;
    bytes32 public constant LOCKED = LOCKED_;

    IERC20 private immutable _currency;
    IIdentityRegistry private immutable _registry;
    uint8 private immutable _decimals;
    uint256 private immutable _couponBps;

    string private _name;
    string private _symbol;

    TrancheStore private _t;

    /// @param name_ Token name, e.g. "Consumer ABS 2025-1 Class A".
    /// @param symbol_ Token symbol.
    /// @param currency_ Deal currency (ERC-20); the token takes its decimals.
    /// @param registry_ Identity registry shared by the deal's tranches.
    /// @param couponBps_ Coupon in basis points per year (informational for investors and the SPV).
    /// @param lockupEnd_ Unix time until which the "locked" partition cannot move (0 = no lock-up).
    /// @param admin Receives DEFAULT_ADMIN_ROLE.
    /// @param residualRecipient_ Named home of rounding dust (e.g. the residual/equity holder).
    constructor(
        string memory name_,
        string memory symbol_,
        address currency_,
        address registry_,
        uint256 couponBps_,
        uint256 lockupEnd_,
        address admin,
        address residualRecipient_
    ) {
        if (currency_ == address(0)) revert ZeroAddressNotAllowed("currency");
        if (registry_ == address(0)) revert ZeroAddressNotAllowed("registry");
        if (admin == address(0)) revert ZeroAddressNotAllowed("admin");
        if (residualRecipient_ == address(0)) revert ZeroAddressNotAllowed("residualRecipient");
        if (lockupEnd_ > type(uint40).max) revert ValueOutOfRange("lockupEnd", lockupEnd_, type(uint40).max);
        _name = name_;
        _symbol = symbol_;
        _currency = IERC20(currency_);
        _registry = IIdentityRegistry(registry_);
        _decimals = IERC20Metadata(currency_).decimals();
        _couponBps = couponBps_;
        _t.cfg.lockupEnd = uint40(lockupEnd_);
        _t.residualRecipient = residualRecipient_;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
    }

    modifier onlyDeal() {
        if (msg.sender != _t.deal) revert NotDeal(msg.sender, _t.deal);
        _;
    }

    // =====================================================================================================
    // ERC-20
    // =====================================================================================================

    /// @inheritdoc IERC20Metadata
    function name() external view returns (string memory) {
        return _name;
    }

    /// @inheritdoc IERC20Metadata
    function symbol() external view returns (string memory) {
        return _symbol;
    }

    /// @inheritdoc IERC20Metadata
    function decimals() external view returns (uint8) {
        return _decimals;
    }

    /// @inheritdoc IERC20
    function totalSupply() external view returns (uint256) {
        return _t.state.supply();
    }

    /// @inheritdoc IERC20
    function balanceOf(address holder) public view returns (uint256) {
        return _t.accounts[holder].balance();
    }

    /// @inheritdoc IERC20
    function allowance(address holder, address spender) external view returns (uint256) {
        return _t.allowances[holder][spender];
    }

    /// @inheritdoc IERC20
    function approve(address spender, uint256 value) external returns (bool) {
        if (spender == address(0)) revert ZeroAddressNotAllowed("spender");
        _t.allowances[msg.sender][spender] = value;
        emit Approval(msg.sender, spender, value);
        return true;
    }

    /// @inheritdoc IERC20
    function transfer(address to, uint256 value) external returns (bool) {
        TrancheLogic.checkedMove(_t, _registry, msg.sender, to, value, Mode.Default);
        return true;
    }

    /// @inheritdoc IERC20
    function transferFrom(address from, address to, uint256 value) external returns (bool) {
        _spendAllowance(from, to, value);
        TrancheLogic.checkedMove(_t, _registry, from, to, value, Mode.Default);
        return true;
    }

    // =====================================================================================================
    // ERC-1594
    // =====================================================================================================

    /// @inheritdoc IERC1594
    function transferWithData(address to, uint256 value, bytes calldata) external {
        TrancheLogic.checkedMove(_t, _registry, msg.sender, to, value, Mode.Default);
    }

    /// @inheritdoc IERC1594
    function transferFromWithData(address from, address to, uint256 value, bytes calldata) external {
        _spendAllowance(from, to, value);
        TrancheLogic.checkedMove(_t, _registry, from, to, value, Mode.Default);
    }

    /// @inheritdoc IERC1594
    function isIssuable() external view returns (bool) {
        return !_t.state.has(S.ISSUANCE_CLOSED);
    }

    /// @inheritdoc IERC1594
    function issue(address to, uint256 value, bytes calldata data) external onlyDeal {
        TrancheOps.issue(_t, _registry, UNRESTRICTED, to, value);
        emit Issued(msg.sender, to, value, data);
    }

    /// @inheritdoc IERC1594
    function redeem(uint256 value, bytes calldata data) external {
        TrancheOps.redeem(_t, _registry, msg.sender, value, Mode.Default);
        emit Redeemed(msg.sender, msg.sender, value, data);
    }

    /// @inheritdoc IERC1594
    function redeemFrom(address from, uint256 value, bytes calldata data) external {
        _spendAllowance(from, address(0), value);
        TrancheOps.redeem(_t, _registry, from, value, Mode.Default);
        emit Redeemed(msg.sender, from, value, data);
    }

    /// @inheritdoc IERC1594
    function canTransfer(address to, uint256 value, bytes calldata)
        external
        view
        returns (bytes1, bytes32, bytes32)
    {
        return TrancheLogic.transferStatus(_t, _registry, msg.sender, to, value, Mode.Default);
    }

    /// @inheritdoc IERC1594
    function canTransferFrom(address from, address to, uint256 value, bytes calldata)
        external
        view
        returns (bytes1, bytes32, bytes32)
    {
        if (from != msg.sender && _t.allowances[from][msg.sender] < value) {
            return (C.INSUFFICIENT_ALLOWANCE, C.ALLOWANCE, UNRESTRICTED);
        }
        return TrancheLogic.transferStatus(_t, _registry, from, to, value, Mode.Default);
    }

    // =====================================================================================================
    // ERC-1410
    // =====================================================================================================

    /// @inheritdoc IERC1410
    function balanceOfByPartition(bytes32 partition, address holder) external view returns (uint256) {
        Account acct = _t.accounts[holder];
        if (partition == UNRESTRICTED) return acct.unrestricted();
        if (partition == LOCKED) return acct.locked();
        return 0;
    }

    /// @inheritdoc IERC1410
    function partitionsOf(address holder) external view returns (bytes32[] memory partitions) {
        Account acct = _t.accounts[holder];
        uint256 unrestricted = acct.unrestricted();
        uint256 locked = acct.locked();
        partitions = new bytes32[]((unrestricted != 0 ? 1 : 0) + (locked != 0 ? 1 : 0));
        uint256 i = 0;
        if (unrestricted != 0) partitions[i++] = UNRESTRICTED;
        if (locked != 0) partitions[i] = LOCKED;
    }

    /// @inheritdoc IERC1410
    function transferByPartition(bytes32 partition, address to, uint256 value, bytes calldata data)
        external
        returns (bytes32)
    {
        TrancheLogic.checkedMove(_t, _registry, msg.sender, to, value, _mode(partition, msg.sender, to));
        emit TransferByPartition(partition, msg.sender, msg.sender, to, value, data, "");
        return UNRESTRICTED;
    }

    /// @inheritdoc IERC1410
    function operatorTransferByPartition(
        bytes32 partition,
        address from,
        address to,
        uint256 value,
        bytes calldata data,
        bytes calldata operatorData
    ) external returns (bytes32) {
        if (!isOperatorForPartition(partition, msg.sender, from)) {
            revert TransferBlocked(from, to, C.INVALID_OPERATOR, C.NOT_OPERATOR);
        }
        TrancheLogic.checkedMove(_t, _registry, from, to, value, _mode(partition, from, to));
        emit TransferByPartition(partition, msg.sender, from, to, value, data, operatorData);
        return UNRESTRICTED;
    }

    /// @inheritdoc IERC1410
    function canTransferByPartition(address from, address to, bytes32 partition, uint256 value, bytes calldata)
        external
        view
        returns (bytes1, bytes32, bytes32)
    {
        if (partition != UNRESTRICTED && partition != LOCKED) {
            return (C.TRANSFER_FAILURE, C.INVALID_PARTITION, partition);
        }
        if (from != msg.sender && !isOperatorForPartition(partition, msg.sender, from)) {
            return (C.INVALID_OPERATOR, C.NOT_OPERATOR, partition);
        }
        return TrancheLogic.transferStatus(_t, _registry, from, to, value, partition == LOCKED ? Mode.Locked : Mode.Unrestricted);
    }

    /// @inheritdoc IERC1410
    function isOperator(address operator, address holder) public view returns (bool) {
        return operator == holder || _t.operators[holder][operator];
    }

    /// @inheritdoc IERC1410
    function isOperatorForPartition(bytes32 partition, address operator, address holder) public view returns (bool) {
        return isOperator(operator, holder) || _t.partitionOperators[holder][partition][operator];
    }

    /// @inheritdoc IERC1410
    function authorizeOperator(address operator) external {
        if (operator == address(0)) revert ZeroAddressNotAllowed("operator");
        _t.operators[msg.sender][operator] = true;
        emit AuthorizedOperator(operator, msg.sender);
    }

    /// @inheritdoc IERC1410
    function revokeOperator(address operator) external {
        _t.operators[msg.sender][operator] = false;
        emit RevokedOperator(operator, msg.sender);
    }

    /// @inheritdoc IERC1410
    function authorizeOperatorByPartition(bytes32 partition, address operator) external {
        if (operator == address(0)) revert ZeroAddressNotAllowed("operator");
        _t.partitionOperators[msg.sender][partition][operator] = true;
        emit AuthorizedOperatorByPartition(partition, operator, msg.sender);
    }

    /// @inheritdoc IERC1410
    function revokeOperatorByPartition(bytes32 partition, address operator) external {
        _t.partitionOperators[msg.sender][partition][operator] = false;
        emit RevokedOperatorByPartition(partition, operator, msg.sender);
    }

    /// @inheritdoc IERC1410
    function issueByPartition(bytes32 partition, address to, uint256 value, bytes calldata data) external onlyDeal {
        if (partition != UNRESTRICTED && partition != LOCKED) revert InvalidPartition(partition);
        TrancheOps.issue(_t, _registry, partition, to, value);
        emit IssuedByPartition(partition, msg.sender, to, value, data, "");
    }

    /// @inheritdoc IERC1410
    function redeemByPartition(bytes32 partition, uint256 value, bytes calldata data) external {
        TrancheOps.redeem(_t, _registry, msg.sender, value, _mode(partition, msg.sender, address(0)));
        emit RedeemedByPartition(partition, msg.sender, msg.sender, value, data);
    }

    /// @inheritdoc IERC1410
    function operatorRedeemByPartition(bytes32 partition, address from, uint256 value, bytes calldata operatorData)
        external
    {
        if (!isOperatorForPartition(partition, msg.sender, from)) {
            revert TransferBlocked(from, address(0), C.INVALID_OPERATOR, C.NOT_OPERATOR);
        }
        TrancheOps.redeem(_t, _registry, from, value, _mode(partition, from, address(0)));
        emit RedeemedByPartition(partition, msg.sender, from, value, operatorData);
    }

    // =====================================================================================================
    // ERC-1644 and wallet recovery
    // =====================================================================================================

    /// @inheritdoc IERC1644
    function isControllable() external view returns (bool) {
        return !_t.cfg.controlRenounced;
    }

    /// @inheritdoc IERC1644
    /// @dev Overrides pause, lock-up, closed books and the sender's KYC state (frozen, expired: the very cases
    ///      of court orders) but checks the sender's balance and the receiver in full (verified, not expired,
    ///      not frozen, jurisdiction, minimum holding, maximum holders). Units keep their partition; credit
    ///      already earned stays with `from` (use `recoverWallet` to move a lost wallet's credit too).
    function controllerTransfer(address from, address to, uint256 value, bytes calldata data, bytes calldata operatorData)
        external
        onlyRole(CONTROLLER_ROLE)
    {
        if (_t.cfg.controlRenounced) revert NotControllable();
        TrancheLogic.checkedMove(_t, _registry, from, to, value, Mode.Forced);
        emit ControllerTransfer(msg.sender, from, to, value, data, operatorData);
    }

    /// @inheritdoc IERC1644
    /// @dev Like every redemption, possible only once the deal has settled the tranche: a forced redemption of
    ///      units whose principal the deal still owes would desynchronise the token from the deal's books.
    function controllerRedeem(address tokenHolder, uint256 value, bytes calldata data, bytes calldata operatorData)
        external
        onlyRole(CONTROLLER_ROLE)
    {
        if (_t.cfg.controlRenounced) revert NotControllable();
        TrancheOps.redeem(_t, _registry, tokenHolder, value, Mode.Forced);
        emit ControllerRedemption(msg.sender, tokenHolder, value, data, operatorData);
    }

    /// @inheritdoc ITrancheToken
    function recoverWallet(address lost, address replacement) external onlyRole(CONTROLLER_ROLE) {
        if (_t.cfg.controlRenounced) revert NotControllable();
        TrancheOps.recoverWallet(_t, _registry, lost, replacement);
    }

    /// @inheritdoc ITrancheToken
    function renounceControl() external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (_t.cfg.controlRenounced) revert NotControllable();
        _t.cfg.controlRenounced = true;
        emit ControlRenounced(msg.sender);
    }

    // =====================================================================================================
    // The deal: binding, record date, cancellation, settlement
    // =====================================================================================================

    /// @inheritdoc ITrancheToken
    function bindDeal(address deal_) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (deal_ == address(0)) revert ZeroAddressNotAllowed("deal");
        if (_t.deal != address(0)) revert DealAlreadyBound(_t.deal);
        _t.deal = deal_;
        emit DealBound(msg.sender, deal_);
    }

    /// @inheritdoc ITrancheToken
    function deal() external view returns (address) {
        return _t.deal;
    }

    /// @inheritdoc ITrancheToken
    function closeBooks() external onlyDeal {
        TrancheState st = _t.state;
        _t.state = st.with(S.BOOKS_CLOSED);
        emit BooksClosed(st.epoch());
    }

    /// @inheritdoc ITrancheToken
    function openBooks() external onlyDeal {
        _openBooks();
    }

    /// @inheritdoc ITrancheToken
    function booksClosed() external view returns (bool) {
        return _t.state.has(S.BOOKS_CLOSED);
    }

    /// @inheritdoc ITrancheToken
    function cancel(address holder) external onlyDeal returns (uint256) {
        return TrancheOps.cancel(_t, _registry, holder);
    }

    /// @inheritdoc ITrancheToken
    function settle() external onlyDeal {
        _t.state = _t.state.with(S.SETTLED | S.ISSUANCE_CLOSED);
        emit TrancheSettled(msg.sender);
    }

    /// @inheritdoc ITrancheToken
    function isSettled() external view returns (bool) {
        return _t.state.has(S.SETTLED);
    }

    // =====================================================================================================
    // Distributions and tranche state
    // =====================================================================================================

    /// @inheritdoc ITrancheToken
    /// @dev Reads and writes three slots (`_t.state`, `_t.current`, `_t.flows`); no history slot is written here.
    function distribute(uint256 interest, uint256 principal) external onlyDeal {
        _distribute(interest, principal);
    }

    /// @inheritdoc ITrancheToken
    function writeDown(uint256 amount) external onlyDeal {
        _writeDown(amount);
    }

    /// @inheritdoc ITrancheToken
    function reinstate(uint256 amount) external onlyDeal {
        _reinstate(amount);
    }

    /// @inheritdoc ITrancheToken
    /// @dev One call instead of up to three: the deal check, `_t.state` and `_t.flows` are read and written once
    ///      (a write-down and a reinstatement find them warm), and the events are those of the separate calls.
    function distributePeriod(uint256 interest, uint256 principal, uint256 writeDownAmount, uint256 reinstated)
        external
        onlyDeal
    {
        if (writeDownAmount != 0) _writeDown(writeDownAmount);
        if (reinstated != 0) _reinstate(reinstated);
        if (interest + principal != 0) _distribute(interest, principal);
        else _openBooks();
    }

    /// @inheritdoc ITrancheToken
    function setInterestShortfall(uint256 amount) external onlyDeal {
        _t.interestShortfall = amount;
        emit InterestShortfallSet(msg.sender, amount);
    }

    /// @inheritdoc ITrancheToken
    function claim() external returns (uint256, uint256) {
        return _claim(msg.sender);
    }

    /// @inheritdoc ITrancheToken
    function claimFor(address holder) external returns (uint256, uint256) {
        return _claim(holder);
    }

    /// @inheritdoc ITrancheToken
    function canClaim(address holder) external view returns (bytes1, bytes32) {
        bytes32 reason = _claimBlocker(holder);
        return reason == C.OK ? (C.TRANSFER_SUCCESS, C.OK) : (C.INVALID_SENDER, reason);
    }

    /// @inheritdoc IIdentityCache
    function resetIdentityCache(bool enabled) external {
        if (msg.sender != address(_registry)) revert NotIdentityRegistry(msg.sender, address(_registry));
        TrancheOps.resetIdentityCache(_t, enabled);
    }

    /// @inheritdoc IIdentityCache
    function clearIdentity(address holder) external {
        if (msg.sender != address(_registry)) revert NotIdentityRegistry(msg.sender, address(_registry));
        Account acct = _t.accounts[holder];
        if (acct.stamp() != 0) {
            _t.accounts[holder] = acct.withStamp(0);
            emit IdentityCleared(holder);
        }
    }

    /// @inheritdoc IIdentityCache
    function identityCache() external view returns (bool, uint256) {
        TrancheState st = _t.state;
        return (st.has(S.IDENTITY_CACHE), st.identityGeneration());
    }

    /// @inheritdoc ITrancheToken
    function sweepDust(address[] calldata emptyHolders) external onlyRole(DEFAULT_ADMIN_ROLE) returns (uint256) {
        return TrancheOps.sweepDust(_t, _currency, emptyHolders);
    }

    // =====================================================================================================
    // Administration
    // =====================================================================================================

    /// @inheritdoc ITrancheToken
    function pause() external onlyRole(PAUSER_ROLE) {
        _t.state = _t.state.with(S.PAUSED);
        emit TransfersPaused(msg.sender);
    }

    /// @inheritdoc ITrancheToken
    function unpause() external onlyRole(PAUSER_ROLE) {
        _t.state = _t.state.without(S.PAUSED);
        emit TransfersUnpaused(msg.sender);
    }

    /// @inheritdoc ITrancheToken
    function closeIssuance() external onlyDeal {
        TrancheState st = _t.state;
        if (st.has(S.ISSUANCE_CLOSED)) revert IssuanceNotAllowed();
        _t.state = st.with(S.ISSUANCE_CLOSED);
        emit IssuanceClosed(msg.sender);
    }

    /// @inheritdoc ITrancheToken
    function setLockupEnd(uint256 lockupEnd_) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (lockupEnd_ > type(uint40).max) revert ValueOutOfRange("lockupEnd", lockupEnd_, type(uint40).max);
        uint256 current = _t.cfg.lockupEnd;
        if (lockupEnd_ < current) revert LockupCannotShorten(current, lockupEnd_);
        _t.cfg.lockupEnd = uint40(lockupEnd_);
        emit LockupEndSet(msg.sender, lockupEnd_);
    }

    /// @inheritdoc ITrancheToken
    function setMinimumHolding(uint256 minimumHolding_) external onlyRole(DEFAULT_ADMIN_ROLE) {
        TrancheOps.setHoldingRule(_t, false, minimumHolding_);
    }

    /// @inheritdoc ITrancheToken
    function setMaxHolders(uint256 maxHolders_) external onlyRole(DEFAULT_ADMIN_ROLE) {
        TrancheOps.setHoldingRule(_t, true, maxHolders_);
    }

    /// @inheritdoc ITrancheToken
    function setResidualRecipient(address recipient) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (recipient == address(0)) revert ZeroAddressNotAllowed("residualRecipient");
        _t.residualRecipient = recipient;
        emit ResidualRecipientSet(msg.sender, recipient);
    }

    // =====================================================================================================
    // Views
    // =====================================================================================================

    function currency() external view returns (address) {
        return address(_currency);
    }

    function identityRegistry() external view returns (IIdentityRegistry) {
        return _registry;
    }

    function couponBps() external view returns (uint256) {
        return _couponBps;
    }

    function originalFace() external view returns (uint256) {
        return _t.state.supply();
    }

    function totalIssued() external view returns (uint256) {
        return _t.totalIssued;
    }

    function totalRedeemed() external view returns (uint256) {
        return _t.totalRedeemed;
    }

    function currentPrincipal() external view returns (uint256) {
        return _t.state.principal();
    }

    function factor() external view returns (uint256) {
        TrancheState st = _t.state;
        uint256 supply = st.supply();
        return supply == 0 ? 0 : M.retained(st.principal(), 1e18, supply);
    }

    function cumulativeWriteDown() external view returns (uint256) {
        return _t.flows.writeDown();
    }

    function principalRetired() external view returns (uint256) {
        return _t.principalRetired;
    }

    function interestShortfall() external view returns (uint256) {
        return _t.interestShortfall;
    }

    function totalInterestDistributed() external view returns (uint256) {
        return _t.flows.interest();
    }

    /// @dev From the principal identity `currentPrincipal + cumulativeWriteDown + totalPrincipalDistributed +
    ///      principalRetired == totalIssued`: every other term is stored and every change to them keeps it.
    function totalPrincipalDistributed() external view returns (uint256) {
        return _t.totalIssued - _t.state.principal() - _t.flows.writeDown() - _t.principalRetired;
    }

    function distributionCount() external view returns (uint256) {
        return _t.state.epoch();
    }

    function withdrawableFundsOf(address holder) external view returns (uint256) {
        (uint256 interest, uint256 principal) = withdrawableOf(holder);
        return interest + principal;
    }

    function withdrawnFundsOf(address holder) external view returns (uint256) {
        Pair w = _t.withdrawn[holder];
        return uint256(w.interest()) + w.principal();
    }

    function accumulativeFundsOf(address holder) external view returns (uint256) {
        (uint256 interest, uint256 principal) = TrancheLogic.accumulative(_t, holder);
        return interest + principal;
    }

    function withdrawableOf(address holder) public view returns (uint256, uint256) {
        (uint256 interest, uint256 principal) = TrancheLogic.accumulative(_t, holder);
        Pair w = _t.withdrawn[holder];
        return (interest - w.interest(), principal - w.principal());
    }

    function withdrawnOf(address holder) external view returns (uint256, uint256) {
        Pair w = _t.withdrawn[holder];
        return (w.interest(), w.principal());
    }

    function sweepableDust() external view returns (uint256) {
        return M.wholeUnits(_t.flows.dust());
    }

    function totalDustSwept() external view returns (uint256) {
        return _t.dustSwept;
    }

    function residualRecipient() external view returns (address) {
        return _t.residualRecipient;
    }

    function paused() external view returns (bool) {
        return _t.state.has(S.PAUSED);
    }

    function lockupEnd() external view returns (uint256) {
        return _t.cfg.lockupEnd;
    }

    function minimumHolding() external view returns (uint256) {
        return _t.cfg.minHolding;
    }

    function maxHolders() external view returns (uint256) {
        return _t.cfg.maxHolders;
    }

    function holderCount() external view returns (uint256) {
        return _t.state.holders();
    }

    // =====================================================================================================
    // Internals
    // =====================================================================================================

    function _authorizeDocuments() internal view override {
        _checkRole(DOCUMENT_ROLE);
    }

    /// @dev Reopen the books without a distribution.
    function _openBooks() private {
        TrancheState st = _t.state;
        _t.state = st.without(S.BOOKS_CLOSED);
        emit BooksOpened(st.epoch());
    }

    /// @dev `distribute`: pulls `interest + principal` from the deal (the caller).
    function _distribute(uint256 interest, uint256 principal) private {
        TrancheState st = _t.state;
        uint256 supply = st.supply();
        if (supply == 0) revert NoTokensOutstanding();
        uint256 outstanding = st.principal();
        if (principal > outstanding) revert AmountExceedsLimit("principal", principal, outstanding);
        // The cumulative principal needs no range check: it never exceeds currentPrincipal + cumulativeWriteDown
        // at the first distribution (issuance is closed from then on), which is at most the supply.
        uint256 epoch = st.epoch() + 1;
        if (epoch > S.MAX_EPOCH) revert ValueOutOfRange("epoch", epoch, S.MAX_EPOCH);
        _addFlows(interest, principal, supply);
        _advanceAccumulators(interest, principal, supply);
        // The new epoch starts without history; distributing opens the books and closes issuance.
        _t.state = st.distributed(outstanding - principal, epoch);
        if (!st.has(S.ISSUANCE_CLOSED)) emit IssuanceClosed(msg.sender);
        emit FundsDistributed(msg.sender, epoch, interest, principal);
        uint256 amount = interest + principal;
        if (amount != 0) {
            uint256 before = _currency.balanceOf(address(this));
            _currency.safeTransferFrom(msg.sender, address(this), amount);
            uint256 received = _currency.balanceOf(address(this)) - before;
            if (received != amount) revert CurrencyAmountMismatch(amount, received);
        }
    }

    /// @dev `writeDown`.
    function _writeDown(uint256 amount) private {
        TrancheState st = _t.state;
        uint256 principal = st.principal();
        if (amount > principal) revert AmountExceedsLimit("writeDown", amount, principal);
        principal -= amount;
        _t.state = st.withPrincipal(principal).with(S.ISSUANCE_CLOSED);
        // currentPrincipal + cumulativeWriteDown <= totalSupply <= MAX_AMOUNT: the sum stays in its 96 bits.
        Flows flows = _t.flows;
        _t.flows = flows.withWriteDown(flows.writeDown() + amount);
        if (!st.has(S.ISSUANCE_CLOSED)) emit IssuanceClosed(msg.sender);
        emit PrincipalWrittenDown(msg.sender, amount, principal);
    }

    /// @dev `reinstate`.
    function _reinstate(uint256 amount) private {
        Flows flows = _t.flows;
        uint256 written = flows.writeDown();
        if (amount > written) revert AmountExceedsLimit("reinstate", amount, written);
        _t.flows = flows.withWriteDown(written - amount);
        TrancheState st = _t.state;
        // currentPrincipal + cumulativeWriteDown <= totalSupply <= MAX_AMOUNT: the sum stays in its 96 bits.
        uint256 principal = st.principal() + amount;
        _t.state = st.withPrincipal(principal);
        emit PrincipalReinstated(msg.sender, amount, principal);
    }

    /// @dev Add the distribution to the interest total and its rounding remainders to the unswept dust.
    function _addFlows(uint256 interest, uint256 principal, uint256 supply) private {
        Flows flows = _t.flows;
        uint256 newInterest = flows.interest() + interest;
        if (newInterest > M.MAX_AMOUNT) revert ValueOutOfRange("totalInterestDistributed", newInterest, M.MAX_AMOUNT);
        // Each distribution adds less than 2 units (2**33 in credit scale); the 64-bit field would need over
        // 2**31 distributions without a sweep to fill, and saturates (never reverts) if it ever did.
        uint256 dust = flows.dust()
            + M.remainderCredit(M.incrementRemainder(interest, supply) + M.incrementRemainder(principal, supply));
        _t.flows = flows.withInterest(newInterest).withDust(dust);
    }

    /// @dev Move the current accumulators by this distribution (the history slot is written lazily).
    function _advanceAccumulators(uint256 interest, uint256 principal, uint256 supply) private {
        Pair acc = _t.current;
        uint256 accInterest = acc.interest() + M.perTokenIncrement(interest, supply);
        uint256 accPrincipal = acc.principal() + M.perTokenIncrement(principal, supply);
        if (accInterest > type(uint128).max) revert ValueOutOfRange("interestPerToken", accInterest, type(uint128).max);
        if (accPrincipal > type(uint128).max) {
            revert ValueOutOfRange("principalPerToken", accPrincipal, type(uint128).max);
        }
        _t.current = Pair.wrap(accInterest | (accPrincipal << 128));
    }

    /// @dev Partition argument -> draw mode; an unknown partition blocks with 0x50 INVALID_PARTITION.
    function _mode(bytes32 partition, address from, address to) private pure returns (Mode) {
        if (partition == UNRESTRICTED) return Mode.Unrestricted;
        if (partition == LOCKED) return Mode.Locked;
        revert TransferBlocked(from, to, C.TRANSFER_FAILURE, C.INVALID_PARTITION);
    }

    function _spendAllowance(address from, address to, uint256 value) private {
        if (from == msg.sender) return;
        uint256 allowed = _t.allowances[from][msg.sender];
        if (allowed == type(uint256).max) return;
        if (allowed < value) revert TransferBlocked(from, to, C.INSUFFICIENT_ALLOWANCE, C.ALLOWANCE);
        unchecked {
            _t.allowances[from][msg.sender] = allowed - value;
        }
    }

    /// @dev Why `holder` may not claim: nothing when its identity stamp is valid (it passed the registry's transfer
    ///      check, which includes the claim rules, and nothing restrictive changed since), else the registry's answer.
    function _claimBlocker(address holder) private view returns (bytes32) {
        if (TrancheLogic.cleared(TrancheLogic.liveGeneration(_t), _t.accounts[holder].stamp())) return C.OK;
        return _registry.claimBlocker(holder);
    }

    function _claim(address holder) private returns (uint256 interest, uint256 principal) {
        bytes32 reason = _claimBlocker(holder);
        if (reason != C.OK) revert ClaimBlocked(holder, C.INVALID_SENDER, reason);
        (uint256 earnedInterest, uint256 earnedPrincipal) = TrancheLogic.accumulative(_t, holder);
        uint256 w = Pair.unwrap(_t.withdrawn[holder]);
        // Payouts only grow (credits never decrease below a paid unit, see subUnitRemainder), and every
        // amount is below 2**96 (MAX_AMOUNT), so neither subtraction nor packing can overflow.
        unchecked {
            interest = earnedInterest - (w & type(uint128).max);
            principal = earnedPrincipal - (w >> 128);
            if (interest + principal == 0) return (0, 0);
            _t.withdrawn[holder] = Pair.wrap(earnedInterest | (earnedPrincipal << 128));
        }
        emit FundsWithdrawn(holder, interest, principal);
        _currency.safeTransfer(holder, interest + principal);
    }
}
