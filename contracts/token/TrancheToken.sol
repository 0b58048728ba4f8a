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
import {IIdentityRegistry} from "../../interfaces/IIdentityRegistry.sol";
import {ComplianceCodes as C} from "../compliance/ComplianceCodes.sol";
import {DistributionMath as M, Pair, PairLib} from "./DistributionMath.sol";
import {DocumentStore} from "./DocumentStore.sol";

/// @title TrancheToken
/// @notice One tranche of a ChainABS deal: ERC-20 + ERC-1594/1410/1643/1644, KYC through an
///         IdentityRegistry, pull-based ERC-2222-style interest and principal distributions.
/// @dev Balances are kept in one packed slot per holder (unrestricted | locked | checkpoint epoch) instead of
///      OpenZeppelin's ERC20 storage: a compliant transfer then costs two holder-slot writes plus one registry
///      call. On every balance change the holder is checkpointed (credit += balance * (acc[now] - acc[then])),
///      which is a no-op when the holder was already checkpointed in the current epoch.
///      Lazy history: a distribution only updates the current accumulators (`_current`); the accumulators of
///      an epoch are copied to `_accumulators[epoch]` by the first checkpoint that moves an account to that
///      epoch (flag `HISTORY_WRITTEN` in `_state`). Invariant: every account whose checkpoint epoch is e > 0
///      has `_accumulators[e]` written, and it equals the accumulators after distribution e (no distribution
///      can happen between distribution e and the checkpoint, or the epoch would not be e). Epochs in which
///      no account moves (buy-and-hold tranches) never store history.
///      The distribution path touches three slots: `_state`, `_current` and `_flows`.
contract TrancheToken is ITrancheToken, AccessControl, DocumentStore {
    using SafeERC20 for IERC20;

    bytes32 public constant ISSUER_ROLE = keccak256("ISSUER_ROLE");
    bytes32 public constant DISTRIBUTOR_ROLE = keccak256("DISTRIBUTOR_ROLE");
    bytes32 public constant CONTROLLER_ROLE = keccak256("CONTROLLER_ROLE");
    bytes32 public constant PAUSER_ROLE = keccak256("PAUSER_ROLE");
    bytes32 public constant DOCUMENT_ROLE = keccak256("DOCUMENT_ROLE");

    bytes32 public constant UNRESTRICTED = "unrestricted";
    bytes32 public constant LOCKED = "locked";

    /// @dev Which balance a transfer draws from. Default: ERC-20 (unrestricted, then locked once the
    ///      lock-up is over). Forced: controller, keeps the partition of every unit.
    enum Mode {
        Default,
        Unrestricted,
        Locked,
        Forced
    }

    /// @dev Read on every transfer: one slot.
    struct Config {
        bool paused;
        bool controlRenounced;
        uint32 holderCount;
        uint32 maxHolders;
        uint40 lockupEnd;
        uint96 minHolding;
    }

    uint256 private constant MASK96 = (1 << 96) - 1;
    uint256 private constant MASK32 = (1 << 32) - 1;
    uint256 private constant MASK64 = (1 << 64) - 1;
    /// @dev `_state` bit: issuance is closed for good.
    uint256 private constant ISSUANCE_CLOSED = 1 << 224;
    /// @dev `_state` bit: `_accumulators[epoch]` of the current epoch is written (cleared by `distribute`).
    uint256 private constant HISTORY_WRITTEN = 1 << 225;

    IERC20 private immutable _currency;
    IIdentityRegistry private immutable _registry;
    uint8 private immutable _decimals;
    uint256 private immutable _couponBps;

    string private _name;
    string private _symbol;

    Config private _cfg;
    /// @dev holder => unrestricted (bits 0..95) | locked (96..191) | checkpoint epoch (192..223)
    mapping(address holder => uint256) private _accounts;
    /// @dev holder => credit earned up to its checkpoint, scaled by 2**32 (cumulative, never decreases
    ///      except when `sweepDust` closes the sub-unit remainder of an empty holder)
    mapping(address holder => Pair) private _accrued;
    /// @dev holder => base units withdrawn so far
    mapping(address holder => Pair) private _withdrawn;
    /// @dev epoch => per-token accumulators (scaled 2**96) after that epoch's distribution; written lazily, by
    ///      the first checkpoint that moves an account to the epoch (see the contract notes)
    mapping(uint256 epoch => Pair) private _accumulators;
    /// @dev the accumulators of the latest epoch (always up to date)
    Pair private _current;
    mapping(address holder => mapping(address spender => uint256)) private _allowances;
    mapping(address holder => mapping(address operator => bool)) private _operators;
    mapping(address holder => mapping(bytes32 partition => mapping(address operator => bool))) private _partitionOperators;

    /// @dev totalSupply (bits 0..95) | currentPrincipal (96..191) | epoch = distribution count (192..223) |
    ///      ISSUANCE_CLOSED (224) | HISTORY_WRITTEN (225). Both amounts are at most MAX_AMOUNT.
    uint256 private _state;
    /// @dev total interest distributed (bits 0..95) | cumulative write-down (96..191) | unswept rounding dust
    ///      in credit scale 2**32 (192..255). The write-down sits here so that a write-down / reinstatement in
    ///      the same transaction as a distribution (the SPV's period close) finds the slot warm, and never
    ///      turns a zero slot non-zero after the first distribution. The principal distributed is not stored:
    ///      it follows from the principal identity (see `totalPrincipalDistributed`).
    uint256 private _flows;
    uint256 private _totalIssued;
    uint256 private _totalRedeemed;
    uint256 private _principalRetired;
    uint256 private _interestShortfall;
    Pair private _claimed;
    uint256 private _dustSwept;
    address private _residualRecipient;

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
        _cfg.lockupEnd = uint40(lockupEnd_);
        _residualRecipient = residualRecipient_;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
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
        return _state & MASK96;
    }

    /// @inheritdoc IERC20
    function balanceOf(address holder) public view returns (uint256) {
        uint256 acct = _accounts[holder];
        return (acct & MASK96) + ((acct >> 96) & MASK96);
    }

    /// @inheritdoc IERC20
    function allowance(address holder, address spender) external view returns (uint256) {
        return _allowances[holder][spender];
    }

    /// @inheritdoc IERC20
    function approve(address spender, uint256 value) external returns (bool) {
        if (spender == address(0)) revert ZeroAddressNotAllowed("spender");
        _allowances[msg.sender][spender] = value;
        emit Approval(msg.sender, spender, value);
        return true;
    }

    /// @inheritdoc IERC20
    function transfer(address to, uint256 value) external returns (bool) {
        _checkedMove(msg.sender, to, value, Mode.Default);
        return true;
    }

    /// @inheritdoc IERC20
    function transferFrom(address from, address to, uint256 value) external returns (bool) {
        _spendAllowance(from, to, value);
        _checkedMove(from, to, value, Mode.Default);
        return true;
    }

    // =====================================================================================================
    // ERC-1594
    // =====================================================================================================

    /// @inheritdoc IERC1594
    function transferWithData(address to, uint256 value, bytes calldata) external {
        _checkedMove(msg.sender, to, value, Mode.Default);
    }

    /// @inheritdoc IERC1594
    function transferFromWithData(address from, address to, uint256 value, bytes calldata) external {
        _spendAllowance(from, to, value);
        _checkedMove(from, to, value, Mode.Default);
    }

    /// @inheritdoc IERC1594
    function isIssuable() external view returns (bool) {
        return _state & ISSUANCE_CLOSED == 0;
    }

    /// @inheritdoc IERC1594
    function issue(address to, uint256 value, bytes calldata data) external onlyRole(ISSUER_ROLE) {
        _issue(UNRESTRICTED, to, value);
        emit Issued(msg.sender, to, value, data);
    }

    /// @inheritdoc IERC1594
    function redeem(uint256 value, bytes calldata data) external {
        _checkedRedeem(msg.sender, value, Mode.Default);
        emit Redeemed(msg.sender, msg.sender, value, data);
    }

    /// @inheritdoc IERC1594
    function redeemFrom(address from, uint256 value, bytes calldata data) external {
        _spendAllowance(from, address(0), value);
        _checkedRedeem(from, value, Mode.Default);
        emit Redeemed(msg.sender, from, value, data);
    }

    /// @inheritdoc IERC1594
    function canTransfer(address to, uint256 value, bytes calldata)
        external
        view
        returns (bytes1, bytes32, bytes32)
    {
        return _transferStatus(msg.sender, to, value, Mode.Default);
    }

    /// @inheritdoc IERC1594
    function canTransferFrom(address from, address to, uint256 value, bytes calldata)
        external
        view
        returns (bytes1, bytes32, bytes32)
    {
        if (from != msg.sender && _allowances[from][msg.sender] < value) {
            return (C.INSUFFICIENT_ALLOWANCE, C.ALLOWANCE, UNRESTRICTED);
        }
        return _transferStatus(from, to, value, Mode.Default);
    }

    // =====================================================================================================
    // ERC-1410
    // =====================================================================================================

    /// @inheritdoc IERC1410
    function balanceOfByPartition(bytes32 partition, address holder) external view returns (uint256) {
        uint256 acct = _accounts[holder];
        if (partition == UNRESTRICTED) return acct & MASK96;
        if (partition == LOCKED) return (acct >> 96) & MASK96;
        return 0;
    }

    /// @inheritdoc IERC1410
    function partitionsOf(address holder) external view returns (bytes32[] memory partitions) {
        uint256 acct = _accounts[holder];
        uint256 unrestricted = acct & MASK96;
        uint256 locked = (acct >> 96) & MASK96;
        partitions = new bytes32[]((unrestricted != 0 ? 1 : 0) + (locked != 0 ? 1 : 0));
        uint256 i;
        if (unrestricted != 0) partitions[i++] = UNRESTRICTED;
        if (locked != 0) partitions[i] = LOCKED;
    }

    /// @inheritdoc IERC1410
    function transferByPartition(bytes32 partition, address to, uint256 value, bytes calldata data)
        external
        returns (bytes32)
    {
        _checkedMove(msg.sender, to, value, _mode(partition, msg.sender, to));
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
        _checkedMove(from, to, value, _mode(partition, from, to));
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
        return _transferStatus(from, to, value, partition == LOCKED ? Mode.Locked : Mode.Unrestricted);
    }

    /// @inheritdoc IERC1410
    function isOperator(address operator, address holder) public view returns (bool) {
        return operator == holder || _operators[holder][operator];
    }

    /// @inheritdoc IERC1410
    function isOperatorForPartition(bytes32 partition, address operator, address holder) public view returns (bool) {
        return isOperator(operator, holder) || _partitionOperators[holder][partition][operator];
    }

    /// @inheritdoc IERC1410
    function authorizeOperator(address operator) external {
        if (operator == address(0)) revert ZeroAddressNotAllowed("operator");
        _operators[msg.sender][operator] = true;
        emit AuthorizedOperator(operator, msg.sender);
    }

    /// @inheritdoc IERC1410
    function revokeOperator(address operator) external {
        _operators[msg.sender][operator] = false;
        emit RevokedOperator(operator, msg.sender);
    }

    /// @inheritdoc IERC1410
    function authorizeOperatorByPartition(bytes32 partition, address operator) external {
        if (operator == address(0)) revert ZeroAddressNotAllowed("operator");
        _partitionOperators[msg.sender][partition][operator] = true;
        emit AuthorizedOperatorByPartition(partition, operator, msg.sender);
    }

    /// @inheritdoc IERC1410
    function revokeOperatorByPartition(bytes32 partition, address operator) external {
        _partitionOperators[msg.sender][partition][operator] = false;
        emit RevokedOperatorByPartition(partition, operator, msg.sender);
    }

    /// @inheritdoc IERC1410
    function issueByPartition(bytes32 partition, address to, uint256 value, bytes calldata data)
        external
        onlyRole(ISSUER_ROLE)
    {
        if (partition != UNRESTRICTED && partition != LOCKED) revert InvalidPartition(partition);
        _issue(partition, to, value);
        emit IssuedByPartition(partition, msg.sender, to, value, data, "");
    }

    /// @inheritdoc IERC1410
    function redeemByPartition(bytes32 partition, uint256 value, bytes calldata data) external {
        _checkedRedeem(msg.sender, value, _mode(partition, msg.sender, address(0)));
        emit RedeemedByPartition(partition, msg.sender, msg.sender, value, data);
    }

    /// @inheritdoc IERC1410
    function operatorRedeemByPartition(bytes32 partition, address from, uint256 value, bytes calldata operatorData)
        external
    {
        if (!isOperatorForPartition(partition, msg.sender, from)) {
            revert TransferBlocked(from, address(0), C.INVALID_OPERATOR, C.NOT_OPERATOR);
        }
        _checkedRedeem(from, value, _mode(partition, from, address(0)));
        emit RedeemedByPartition(partition, msg.sender, from, value, operatorData);
    }

    // =====================================================================================================
    // ERC-1644
    // =====================================================================================================

    /// @inheritdoc IERC1644
    function isControllable() external view returns (bool) {
        return !_cfg.controlRenounced;
    }

    /// @inheritdoc IERC1644
    /// @dev Overrides pause, lock-up and the sender's KYC state (frozen, expired: the very cases of court
    ///      orders and lost keys) but checks the sender's balance and the receiver in full (verified, not
    ///      expired, not frozen, jurisdiction, minimum holding, maximum holders). Units keep their partition.
    function controllerTransfer(address from, address to, uint256 value, bytes calldata data, bytes calldata operatorData)
        external
        onlyRole(CONTROLLER_ROLE)
    {
        if (_cfg.controlRenounced) revert NotControllable();
        _checkedMove(from, to, value, Mode.Forced);
        emit ControllerTransfer(msg.sender, from, to, value, data, operatorData);
    }

    /// @inheritdoc IERC1644
    function controllerRedeem(address tokenHolder, uint256 value, bytes calldata data, bytes calldata operatorData)
        external
        onlyRole(CONTROLLER_ROLE)
    {
        if (_cfg.controlRenounced) revert NotControllable();
        _checkedRedeem(tokenHolder, value, Mode.Forced);
        emit ControllerRedemption(msg.sender, tokenHolder, value, data, operatorData);
    }

    /// @inheritdoc ITrancheToken
    function renounceControl() external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (_cfg.controlRenounced) revert NotControllable();
        _cfg.controlRenounced = true;
        emit ControlRenounced(msg.sender);
    }

    // =====================================================================================================
    // Distributions and tranche state
    // =====================================================================================================

    /// @inheritdoc ITrancheToken
    /// @dev Reads and writes three slots (`_state`, `_current`, `_flows`); no history slot is written here.
    function distribute(uint256 interest, uint256 principal) external onlyRole(DISTRIBUTOR_ROLE) {
        uint256 st = _state;
        uint256 supply = st & MASK96;
        if (supply == 0) revert NoTokensOutstanding();
        uint256 outstanding = (st >> 96) & MASK96;
        if (principal > outstanding) revert AmountExceedsLimit("principal", principal, outstanding);
        // The cumulative principal needs no range check: it never exceeds currentPrincipal + cumulativeWriteDown
        // at the first distribution (issuance is closed from then on), which is at most the supply.
        uint256 epoch = ((st >> 192) & MASK32) + 1;
        if (epoch > MASK32) revert ValueOutOfRange("epoch", epoch, MASK32);
        _addFlows(interest, principal, supply);
        _advanceAccumulators(interest, principal, supply);
        // The new epoch starts without history (HISTORY_WRITTEN cleared); distributing closes issuance.
        _state = supply | ((outstanding - principal) << 96) | (epoch << 192) | ISSUANCE_CLOSED;
        if (st & ISSUANCE_CLOSED == 0) emit IssuanceClosed(msg.sender);
        emit FundsDistributed(msg.sender, epoch, interest, principal);
        uint256 amount = interest + principal;
        if (amount != 0) {
            uint256 before = _currency.balanceOf(address(this));
            _currency.safeTransferFrom(msg.sender, address(this), amount);
            uint256 received = _currency.balanceOf(address(this)) - before;
            if (received != amount) revert CurrencyAmountMismatch(amount, received);
        }
    }

    /// @inheritdoc ITrancheToken
    function writeDown(uint256 amount) external onlyRole(DISTRIBUTOR_ROLE) {
        uint256 st = _state;
        uint256 principal = (st >> 96) & MASK96;
        if (amount > principal) revert AmountExceedsLimit("writeDown", amount, principal);
        principal -= amount;
        _state = (st & ~(MASK96 << 96)) | (principal << 96) | ISSUANCE_CLOSED;
        // currentPrincipal + cumulativeWriteDown <= totalSupply <= MAX_AMOUNT: the sum stays in its 96 bits.
        _flows += amount << 96;
        if (st & ISSUANCE_CLOSED == 0) emit IssuanceClosed(msg.sender);
        emit PrincipalWrittenDown(msg.sender, amount, principal);
    }

    /// @inheritdoc ITrancheToken
    function reinstate(uint256 amount) external onlyRole(DISTRIBUTOR_ROLE) {
        uint256 flows = _flows;
        uint256 written = (flows >> 96) & MASK96;
        if (amount > written) revert AmountExceedsLimit("reinstate", amount, written);
        _flows = flows - (amount << 96);
        uint256 st = _state;
        // currentPrincipal + cumulativeWriteDown <= totalSupply <= MAX_AMOUNT: the sum stays in its 96 bits.
        uint256 principal = ((st >> 96) & MASK96) + amount;
        _state = (st & ~(MASK96 << 96)) | (principal << 96);
        emit PrincipalReinstated(msg.sender, amount, principal);
    }

    /// @inheritdoc ITrancheToken
    function setInterestShortfall(uint256 amount) external onlyRole(DISTRIBUTOR_ROLE) {
        _interestShortfall = amount;
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
    function sweepDust(address[] calldata emptyHolders) external onlyRole(DEFAULT_ADMIN_ROLE) returns (uint256 amount) {
        uint256 closed;
        for (uint256 i; i < emptyHolders.length; ++i) {
            address holder = emptyHolders[i];
            // An empty account's checkpoint epoch is left as it is: with no balance it earns nothing more, and
            // its credit (read whenever the epoch is not 0) is what is closed here.
            if (_accounts[holder] & ((1 << 192) - 1) != 0) revert HolderNotEmpty(holder);
            Pair credit = _accrued[holder];
            uint256 fracInterest = M.subUnitRemainder(credit.interest());
            uint256 fracPrincipal = M.subUnitRemainder(credit.principal());
            _accrued[holder] = Pair.wrap(Pair.unwrap(credit) - fracInterest - (fracPrincipal << 128));
            closed += fracInterest + fracPrincipal;
        }
        uint256 flows = _flows;
        // Closed remainders are below 2**33 per holder; the dust field saturates like in `distribute`.
        uint256 dust = (flows >> 192) + closed;
        amount = M.wholeUnits(dust);
        dust -= amount << 32;
        if (dust > MASK64) dust = MASK64;
        _flows = (flows & ((1 << 192) - 1)) | (dust << 192);
        _dustSwept += amount;
        address recipient = _residualRecipient;
        emit DustSwept(msg.sender, recipient, amount);
        if (amount != 0) _currency.safeTransfer(recipient, amount);
    }

    // =====================================================================================================
    // Administration
    // =====================================================================================================

    /// @inheritdoc ITrancheToken
    function pause() external onlyRole(PAUSER_ROLE) {
        _cfg.paused = true;
        emit TransfersPaused(msg.sender);
    }

    /// @inheritdoc ITrancheToken
    function unpause() external onlyRole(PAUSER_ROLE) {
        _cfg.paused = false;
        emit TransfersUnpaused(msg.sender);
    }

    /// @inheritdoc ITrancheToken
    function closeIssuance() external onlyRole(ISSUER_ROLE) {
        uint256 st = _state;
        if (st & ISSUANCE_CLOSED != 0) revert IssuanceNotAllowed();
        _state = st | ISSUANCE_CLOSED;
        emit IssuanceClosed(msg.sender);
    }

    /// @inheritdoc ITrancheToken
    function setLockupEnd(uint256 lockupEnd_) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (lockupEnd_ > type(uint40).max) revert ValueOutOfRange("lockupEnd", lockupEnd_, type(uint40).max);
        _cfg.lockupEnd = uint40(lockupEnd_);
        emit LockupEndSet(msg.sender, lockupEnd_);
    }

    /// @inheritdoc ITrancheToken
    function setMinimumHolding(uint256 minimumHolding_) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (minimumHolding_ > M.MAX_AMOUNT) revert ValueOutOfRange("minimumHolding", minimumHolding_, M.MAX_AMOUNT);
        _cfg.minHolding = uint96(minimumHolding_);
        emit MinimumHoldingSet(msg.sender, minimumHolding_);
    }

    /// @inheritdoc ITrancheToken
    function setMaxHolders(uint256 maxHolders_) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (maxHolders_ > type(uint32).max) revert ValueOutOfRange("maxHolders", maxHolders_, type(uint32).max);
        _cfg.maxHolders = uint32(maxHolders_);
        emit MaxHoldersSet(msg.sender, maxHolders_);
    }

    /// @inheritdoc ITrancheToken
    function setResidualRecipient(address recipient) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (recipient == address(0)) revert ZeroAddressNotAllowed("residualRecipient");
        _residualRecipient = recipient;
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
        return _state & MASK96;
    }

    function totalIssued() external view returns (uint256) {
        return _totalIssued;
    }

    function totalRedeemed() external view returns (uint256) {
        return _totalRedeemed;
    }

    function currentPrincipal() external view returns (uint256) {
        return (_state >> 96) & MASK96;
    }

    function factor() external view returns (uint256) {
        uint256 st = _state;
        uint256 supply = st & MASK96;
        return supply == 0 ? 0 : M.retained((st >> 96) & MASK96, 1e18, supply);
    }

    function cumulativeWriteDown() external view returns (uint256) {
        return (_flows >> 96) & MASK96;
    }

    function principalRetired() external view returns (uint256) {
        return _principalRetired;
    }

    function interestShortfall() external view returns (uint256) {
        return _interestShortfall;
    }

    function totalInterestDistributed() external view returns (uint256) {
        return _flows & MASK96;
    }

    /// @dev From the principal identity `currentPrincipal + cumulativeWriteDown + totalPrincipalDistributed +
    ///      principalRetired == totalIssued`: every other term is stored and every change to them keeps it.
    function totalPrincipalDistributed() external view returns (uint256) {
        return _totalIssued - ((_state >> 96) & MASK96) - ((_flows >> 96) & MASK96) - _principalRetired;
    }

    function totalInterestClaimed() external view returns (uint256) {
        return _claimed.interest();
    }

    function totalPrincipalClaimed() external view returns (uint256) {
        return _claimed.principal();
    }

    function distributionCount() external view returns (uint256) {
        return (_state >> 192) & MASK32;
    }

    function withdrawableFundsOf(address holder) external view returns (uint256) {
        (uint256 interest, uint256 principal) = withdrawableOf(holder);
        return interest + principal;
    }

    function withdrawnFundsOf(address holder) external view returns (uint256) {
        Pair w = _withdrawn[holder];
        return uint256(w.interest()) + w.principal();
    }

    function accumulativeFundsOf(address holder) external view returns (uint256) {
        (uint256 interest, uint256 principal) = _accumulative(holder);
        return interest + principal;
    }

    function withdrawableOf(address holder) public view returns (uint256, uint256) {
        (uint256 interest, uint256 principal) = _accumulative(holder);
        Pair w = _withdrawn[holder];
        return (interest - w.interest(), principal - w.principal());
    }

    function withdrawnOf(address holder) external view returns (uint256, uint256) {
        Pair w = _withdrawn[holder];
        return (w.interest(), w.principal());
    }

    function sweepableDust() external view returns (uint256) {
        return M.wholeUnits(_flows >> 192);
    }

    function totalDustSwept() external view returns (uint256) {
        return _dustSwept;
    }

    function residualRecipient() external view returns (address) {
        return _residualRecipient;
    }

    function paused() external view returns (bool) {
        return _cfg.paused;
    }

    function lockupEnd() external view returns (uint256) {
        return _cfg.lockupEnd;
    }

    function minimumHolding() external view returns (uint256) {
        return _cfg.minHolding;
    }

    function maxHolders() external view returns (uint256) {
        return _cfg.maxHolders;
    }

    function holderCount() external view returns (uint256) {
        return _cfg.holderCount;
    }

    // =====================================================================================================
    // Internals
    // =====================================================================================================

    function _authorizeDocuments() internal view override {
        _checkRole(DOCUMENT_ROLE);
    }

    /// @dev Add the distribution to the interest total and its rounding remainders to the unswept dust.
    function _addFlows(uint256 interest, uint256 principal, uint256 supply) private {
        uint256 flows = _flows;
        uint256 newInterest = (flows & MASK96) + interest;
        if (newInterest > M.MAX_AMOUNT) revert ValueOutOfRange("totalInterestDistributed", newInterest, M.MAX_AMOUNT);
        // Each distribution adds less than 2 units (2**33 in credit scale); the 64-bit field would need over
        // 2**31 distributions without a sweep to fill, and saturates (never reverts) if it ever did.
        uint256 dust = (flows >> 192)
            + M.remainderCredit(M.incrementRemainder(interest, supply) + M.incrementRemainder(principal, supply));
        if (dust > MASK64) dust = MASK64;
        _flows = newInterest | (flows & (MASK96 << 96)) | (dust << 192);
    }

    /// @dev Move the current accumulators by this distribution (the history slot is written lazily).
    function _advanceAccumulators(uint256 interest, uint256 principal, uint256 supply) private {
        Pair acc = _current;
        uint256 accInterest = acc.interest() + M.perTokenIncrement(interest, supply);
        uint256 accPrincipal = acc.principal() + M.perTokenIncrement(principal, supply);
        if (accInterest > type(uint128).max) revert ValueOutOfRange("interestPerToken", accInterest, type(uint128).max);
        if (accPrincipal > type(uint128).max) {
            revert ValueOutOfRange("principalPerToken", accPrincipal, type(uint128).max);
        }
        _current = Pair.wrap(accInterest | (accPrincipal << 128));
    }

    /// @dev Partition argument -> draw mode; an unknown partition blocks with 0x50 INVALID_PARTITION.
    function _mode(bytes32 partition, address from, address to) private pure returns (Mode) {
        if (partition == UNRESTRICTED) return Mode.Unrestricted;
        if (partition == LOCKED) return Mode.Locked;
        revert TransferBlocked(from, to, C.TRANSFER_FAILURE, C.INVALID_PARTITION);
    }

    function _spendAllowance(address from, address to, uint256 value) private {
        if (from == msg.sender) return;
        uint256 allowed = _allowances[from][msg.sender];
        if (allowed == type(uint256).max) return;
        if (allowed < value) revert TransferBlocked(from, to, C.INSUFFICIENT_ALLOWANCE, C.ALLOWANCE);
        unchecked {
            _allowances[from][msg.sender] = allowed - value;
        }
    }

    /// @dev The single source of truth for transfer rules; `canTransfer*` return it, transfers revert with it.
    function _transferStatus(address from, address to, uint256 value, Mode mode)
        private
        view
        returns (bytes1, bytes32, bytes32 partition)
    {
        Config memory cfg = _cfg;
        partition = mode == Mode.Locked ? LOCKED : UNRESTRICTED;
        if (to == address(0)) return (C.INVALID_RECEIVER, C.RECEIVER_ZERO_ADDRESS, partition);
        if (mode != Mode.Forced && cfg.paused) return (C.TRANSFERS_HALTED, C.PAUSED, partition);
        uint256 acct = _accounts[from];
        uint256 unrestricted = acct & MASK96;
        uint256 locked = (acct >> 96) & MASK96;
        uint256 fromBalance = unrestricted + locked;
        if (mode == Mode.Unrestricted) {
            if (value > unrestricted) return (C.INSUFFICIENT_BALANCE, C.BALANCE, partition);
        } else if (mode == Mode.Locked) {
            if (value > locked) return (C.INSUFFICIENT_BALANCE, C.BALANCE, partition);
            if (block.timestamp < cfg.lockupEnd) return (C.FUNDS_LOCKED, C.LOCKUP, partition);
        } else {
            if (value > fromBalance) return (C.INSUFFICIENT_BALANCE, C.BALANCE, partition);
            if (value > unrestricted) {
                partition = LOCKED;
                if (mode == Mode.Default && block.timestamp < cfg.lockupEnd) {
                    return (C.FUNDS_LOCKED, C.LOCKUP, partition);
                }
            }
        }
        (bytes1 code, bytes32 reason) = _registry.checkTransfer(mode == Mode.Forced ? address(0) : from, to);
        if (code != C.TRANSFER_SUCCESS) return (code, reason, partition);
        if (from != to) {
            uint256 toBalance = balanceOf(to);
            uint256 remaining = fromBalance - value;
            if (cfg.minHolding != 0) {
                if (remaining != 0 && remaining < cfg.minHolding) {
                    return (C.TRANSFER_FAILURE, C.MIN_HOLDING_SENDER, partition);
                }
                if (toBalance + value < cfg.minHolding) return (C.TRANSFER_FAILURE, C.MIN_HOLDING_RECEIVER, partition);
            }
            if (
                cfg.maxHolders != 0 && toBalance == 0 && value != 0 && remaining != 0
                    && cfg.holderCount >= cfg.maxHolders
            ) return (C.TRANSFER_FAILURE, C.MAX_HOLDERS, partition);
        }
        return (C.TRANSFER_SUCCESS, C.OK, partition);
    }

    function _checkedMove(address from, address to, uint256 value, Mode mode) private {
        (bytes1 code, bytes32 reason,) = _transferStatus(from, to, value, mode);
        if (code != C.TRANSFER_SUCCESS) revert TransferBlocked(from, to, code, reason);
        emit Transfer(from, to, value);
        if (from == to) return;
        uint256 epoch = (_state >> 192) & MASK32;
        uint256 a = _checkpoint(from, _accounts[from], epoch);
        uint256 b = _checkpoint(to, _accounts[to], epoch);
        uint256 unrestricted = a & MASK96;
        uint256 fromLocked;
        if (mode == Mode.Locked) fromLocked = value;
        else if (mode != Mode.Unrestricted && value > unrestricted) fromLocked = value - unrestricted;
        uint256 fromUnrestricted = value - fromLocked;
        bool receiverWasEmpty = b & ((1 << 192) - 1) == 0;
        // Balances were checked by _transferStatus; the receiver cannot exceed the uint96 total supply.
        a -= fromUnrestricted + (fromLocked << 96);
        b += mode == Mode.Forced ? fromUnrestricted + (fromLocked << 96) : value;
        _accounts[from] = a;
        _accounts[to] = b;
        if (value != 0) {
            bool senderEmptied = a & ((1 << 192) - 1) == 0;
            if (senderEmptied != receiverWasEmpty) {
                if (senderEmptied) --_cfg.holderCount;
                else ++_cfg.holderCount;
            }
        }
    }

    function _checkedRedeem(address from, uint256 value, Mode mode) private {
        (bytes1 code, bytes32 reason) = _redeemStatus(from, value, mode);
        if (code != C.TRANSFER_SUCCESS) revert TransferBlocked(from, address(0), code, reason);
        uint256 acct = _checkpoint(from, _accounts[from], (_state >> 192) & MASK32);
        uint256 unrestricted = acct & MASK96;
        uint256 fromLocked;
        if (mode == Mode.Locked) fromLocked = value;
        else if (mode != Mode.Unrestricted && value > unrestricted) fromLocked = value - unrestricted;
        acct -= (value - fromLocked) + (fromLocked << 96);
        _accounts[from] = acct;
        if (value != 0 && acct & ((1 << 192) - 1) == 0) --_cfg.holderCount;
        _retire(value);
        emit Transfer(from, address(0), value);
    }

    /// @dev Rules of a redemption (holder, operator or controller); never reverts.
    function _redeemStatus(address from, uint256 value, Mode mode) private view returns (bytes1, bytes32) {
        Config memory cfg = _cfg;
        uint256 acct = _accounts[from];
        uint256 unrestricted = acct & MASK96;
        uint256 locked = (acct >> 96) & MASK96;
        if (mode != Mode.Forced && cfg.paused) return (C.TRANSFERS_HALTED, C.PAUSED);
        uint256 available =
            mode == Mode.Unrestricted ? unrestricted : mode == Mode.Locked ? locked : unrestricted + locked;
        if (value > available) return (C.INSUFFICIENT_BALANCE, C.BALANCE);
        if (mode == Mode.Forced) return (C.TRANSFER_SUCCESS, C.OK);
        if (
            block.timestamp < cfg.lockupEnd && (mode == Mode.Locked || (mode == Mode.Default && value > unrestricted))
        ) return (C.FUNDS_LOCKED, C.LOCKUP);
        (bytes1 code, bytes32 reason) = _registry.checkTransfer(from, address(0));
        if (code != C.TRANSFER_SUCCESS) return (code, reason);
        uint256 remaining = unrestricted + locked - value;
        if (remaining != 0 && remaining < cfg.minHolding) return (C.TRANSFER_FAILURE, C.MIN_HOLDING_SENDER);
        return (C.TRANSFER_SUCCESS, C.OK);
    }

    /// @dev Retire `value` tokens: their pro-rata share of current principal and outstanding write-down.
    function _retire(uint256 value) private {
        if (value == 0) return;
        uint256 st = _state;
        uint256 supply = st & MASK96;
        uint256 remainingSupply = supply - value;
        uint256 principal = (st >> 96) & MASK96;
        uint256 flows = _flows;
        uint256 written = (flows >> 96) & MASK96;
        uint256 keptPrincipal = M.retained(principal, remainingSupply, supply);
        uint256 keptWritten = M.retained(written, remainingSupply, supply);
        _state = ((st >> 192) << 192) | remainingSupply | (keptPrincipal << 96);
        _flows = flows - ((written - keptWritten) << 96);
        _principalRetired += (principal - keptPrincipal) + (written - keptWritten);
        _totalRedeemed += value;
    }

    function _issue(bytes32 partition, address to, uint256 value) private {
        uint256 st = _state;
        if (st & ISSUANCE_CLOSED != 0) revert IssuanceNotAllowed();
        Config memory cfg = _cfg;
        (bytes1 code, bytes32 reason) =
            to == address(0) ? (C.INVALID_RECEIVER, C.RECEIVER_ZERO_ADDRESS) : _registry.checkTransfer(address(0), to);
        uint256 acct = _accounts[to];
        uint256 toBalance = (acct & MASK96) + ((acct >> 96) & MASK96);
        if (code == C.TRANSFER_SUCCESS) {
            if (toBalance + value < cfg.minHolding) (code, reason) = (C.TRANSFER_FAILURE, C.MIN_HOLDING_RECEIVER);
            else if (cfg.maxHolders != 0 && toBalance == 0 && value != 0 && cfg.holderCount >= cfg.maxHolders) {
                (code, reason) = (C.TRANSFER_FAILURE, C.MAX_HOLDERS);
            }
        }
        if (code != C.TRANSFER_SUCCESS) revert TransferBlocked(address(0), to, code, reason);
        uint256 supply = (st & MASK96) + value;
        if (supply > M.MAX_AMOUNT) revert ValueOutOfRange("totalSupply", supply, M.MAX_AMOUNT);
        // Issuance is open only at factor 1 (before any distribution or write-down): principal <= supply.
        uint256 principal = ((st >> 96) & MASK96) + value;
        _state = ((st >> 192) << 192) | supply | (principal << 96);
        _totalIssued += value;
        // No distribution happened yet (issuance closes at the first one): epoch 0, no checkpoint needed.
        _accounts[to] = acct + (partition == LOCKED ? value << 96 : value);
        if (toBalance == 0 && value != 0) ++_cfg.holderCount;
        emit Transfer(address(0), to, value);
    }

    /// @dev Bring `holder`'s credit up to `epoch` (the current one); returns the account word with the new
    ///      checkpoint epoch. A holder never checkpointed after a distribution (epoch 0) has no credit yet.
    function _checkpoint(address holder, uint256 acct, uint256 epoch) private returns (uint256) {
        uint256 then = acct >> 192;
        if (then == epoch) return acct;
        _writeHistoryOnce(epoch);
        uint256 balance = (acct & MASK96) + ((acct >> 96) & MASK96);
        if (balance != 0) {
            (uint256 interest, uint256 principal) = _pending(balance, then);
            _accrued[holder] = _accrued[holder].add(interest, principal);
        }
        return (acct & ((1 << 192) - 1)) | (epoch << 192);
    }

    /// @dev Store the accumulators of the current `epoch` as its history unless already done in this epoch.
    ///      Called before any account's checkpoint is set to `epoch`, which keeps the history invariant.
    function _writeHistoryOnce(uint256 epoch) private {
        uint256 st = _state;
        if (st & HISTORY_WRITTEN == 0) {
            _accumulators[epoch] = _current;
            _state = st | HISTORY_WRITTEN;
        }
    }

    /// @dev Credit (scaled 2**32) earned by `balance` tokens from epoch `then` to now; for `then` != 0 the
    ///      history `_accumulators[then]` exists (the account was moved to `then` by `_checkpoint`).
    function _pending(uint256 balance, uint256 then) private view returns (uint256, uint256) {
        Pair accNow = _current;
        if (then == 0) {
            return (M.accrued(balance, 0, accNow.interest()), M.accrued(balance, 0, accNow.principal()));
        }
        Pair accThen = _accumulators[then];
        return (
            M.accrued(balance, accThen.interest(), accNow.interest()),
            M.accrued(balance, accThen.principal(), accNow.principal())
        );
    }

    /// @dev Whole base units earned by `holder` so far (checkpointed credit plus what accrued since).
    function _accumulative(address holder) private view returns (uint256 interest, uint256 principal) {
        uint256 acct = _accounts[holder];
        uint256 then = acct >> 192;
        if (then != 0) {
            Pair credit = _accrued[holder];
            (interest, principal) = (credit.interest(), credit.principal());
        }
        uint256 balance = (acct & MASK96) + ((acct >> 96) & MASK96);
        if (balance != 0) {
            (uint256 pendingInterest, uint256 pendingPrincipal) = _pending(balance, then);
            interest += pendingInterest;
            principal += pendingPrincipal;
        }
        return (M.toUnits(interest), M.toUnits(principal));
    }

    function _claim(address holder) private returns (uint256 interest, uint256 principal) {
        (uint256 earnedInterest, uint256 earnedPrincipal) = _accumulative(holder);
        uint256 w = Pair.unwrap(_withdrawn[holder]);
        // Payouts only grow (credits never decrease below a paid unit, see subUnitRemainder), and every
        // amount is below 2**96 (MAX_AMOUNT), so neither subtraction nor packing can overflow.
        unchecked {
            interest = earnedInterest - (w & type(uint128).max);
            principal = earnedPrincipal - (w >> 128);
            if (interest + principal == 0) return (0, 0);
            _withdrawn[holder] = Pair.wrap(earnedInterest | (earnedPrincipal << 128));
            _claimed = Pair.wrap(Pair.unwrap(_claimed) + interest + (principal << 128));
        }
        emit FundsWithdrawn(holder, interest, principal);
        _currency.safeTransfer(holder, interest + principal);
    }
}
