// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {IIdentityCache, IIdentityRegistry} from "../../interfaces/IIdentityRegistry.sol";
import {ComplianceCodes as C} from "./ComplianceCodes.sol";

/// @title IdentityRegistry
/// @notice Investor KYC records shared by all tranche tokens of a deal. One storage slot per investor and a
///         bitmap of allowed jurisdictions keep the per-transfer check to a few cold reads.
contract IdentityRegistry is AccessControl, IIdentityRegistry {
    /// @inheritdoc IIdentityRegistry
    bytes32 public constant KYC_AGENT_ROLE = keccak256("KYC_AGENT_ROLE");

    uint16 private constant MAX_JURISDICTION = 999;
    uint256 private constant MAX_LISTENERS = 16;
    /// @dev Gas a listener gets for one cache update (a tranche token's takes about 10,000).
    uint256 private constant LISTENER_GAS = 50_000;

    mapping(address investor => Identity) private _identities;
    /// @dev Bit `j & 255` of word `j >> 8` is set when jurisdiction `j` is allowed.
    mapping(uint256 word => uint256 bits) private _allowedJurisdictions;
    mapping(address wallet => bytes32 investorId) private _investorIds;
    /// @dev Tokens caching clearances: each restrictive change resets their caches (see `addIdentityListener`).
    address[] private _listeners;

    /// @param admin Receives DEFAULT_ADMIN_ROLE (jurisdiction policy, role management).
    constructor(address admin) {
        if (admin == address(0)) revert IdentityZeroAddress();
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
    }

    /// @inheritdoc IIdentityRegistry
    function registerInvestor(address investor, uint16 jurisdiction, uint8 investorType, uint64 expiry)
        external
        onlyRole(KYC_AGENT_ROLE)
    {
        if (_register(investor, jurisdiction, investorType, expiry)) {
            _notifyListeners(abi.encodeCall(IIdentityCache.clearIdentity, (investor)));
        }
    }

    /// @inheritdoc IIdentityRegistry
    function registerInvestors(
        address[] calldata investors,
        uint16[] calldata jurisdictions,
        uint8[] calldata investorTypes,
        uint64[] calldata expiries
    ) external onlyRole(KYC_AGENT_ROLE) {
        uint256 n = investors.length;
        if (jurisdictions.length != n) revert IdentityBatchLengthMismatch("jurisdictions", n, jurisdictions.length);
        if (investorTypes.length != n) revert IdentityBatchLengthMismatch("investorTypes", n, investorTypes.length);
        if (expiries.length != n) revert IdentityBatchLengthMismatch("expiries", n, expiries.length);
        bool restricted = false;
        for (uint256 i; i < n; ++i) {
            if (_register(investors[i], jurisdictions[i], investorTypes[i], expiries[i])) restricted = true;
        }
        if (restricted) _notifyListeners(abi.encodeCall(IIdentityCache.resetIdentityCache, (true)));
    }

    /// @inheritdoc IIdentityRegistry
    function removeInvestor(address investor) external onlyRole(KYC_AGENT_ROLE) {
        if (!_identities[investor].verified) revert IdentityNotRegistered(investor);
        delete _identities[investor];
        // The investor id stays: a removed (e.g. compromised) wallet can still be recovered to another wallet
        // of the same investor.
        emit InvestorRemoved(msg.sender, investor);
        _notifyListeners(abi.encodeCall(IIdentityCache.clearIdentity, (investor)));
    }

    /// @inheritdoc IIdentityRegistry
    function setFrozen(address investor, bool frozen) external onlyRole(KYC_AGENT_ROLE) {
        Identity storage id = _identities[investor];
        if (!id.verified) revert IdentityNotRegistered(investor);
        bool wasFrozen = id.frozen;
        id.frozen = frozen;
        emit InvestorFrozen(msg.sender, investor, frozen);
        if (frozen && !wasFrozen) _notifyListeners(abi.encodeCall(IIdentityCache.clearIdentity, (investor)));
    }

    /// @inheritdoc IIdentityRegistry
    function setInvestorId(address[] calldata wallets, bytes32 investorId) external onlyRole(KYC_AGENT_ROLE) {
        for (uint256 i; i < wallets.length; ++i) {
            address wallet = wallets[i];
            if (!_identities[wallet].verified) revert IdentityNotRegistered(wallet);
            _investorIds[wallet] = investorId;
            emit InvestorIdSet(msg.sender, wallet, investorId);
        }
    }

    /// @inheritdoc IIdentityRegistry
    function investorIdOf(address wallet) external view returns (bytes32) {
        return _investorIds[wallet];
    }

    /// @inheritdoc IIdentityRegistry
    function isSameInvestor(address a, address b) external view returns (bool) {
        bytes32 id = _investorIds[a];
        return id != bytes32(0) && id == _investorIds[b];
    }

    /// @inheritdoc IIdentityRegistry
    function claimBlocker(address holder) external view returns (bytes32) {
        uint256 w = _identityWord(holder);
        if (w & 0xff == 0) return C.SENDER_NOT_VERIFIED;
        if ((w >> 40) & type(uint64).max <= block.timestamp) return C.SENDER_EXPIRED;
        if ((w >> 8) & 0xff != 0) return C.SENDER_FROZEN;
        return C.OK;
    }

    /// @inheritdoc IIdentityRegistry
    function setJurisdictionAllowed(uint16 jurisdiction, bool allowed) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (jurisdiction == 0 || jurisdiction > MAX_JURISDICTION) {
            revert IdentityInvalidJurisdiction(address(0), jurisdiction);
        }
        uint256 mask = 1 << (jurisdiction & 0xff);
        bool wasAllowed = isJurisdictionAllowed(jurisdiction);
        if (allowed) _allowedJurisdictions[jurisdiction >> 8] |= mask;
        else _allowedJurisdictions[jurisdiction >> 8] &= ~mask;
        emit JurisdictionAllowed(msg.sender, jurisdiction, allowed);
        if (wasAllowed && !allowed) _notifyListeners(abi.encodeCall(IIdentityCache.resetIdentityCache, (true)));
    }

    /// @inheritdoc IIdentityRegistry
    function addIdentityListener(address listener) external onlyRole(DEFAULT_ADMIN_ROLE) {
        uint256 n = _listeners.length;
        for (uint256 i; i < n; ++i) {
            if (_listeners[i] == listener) revert IdentityListenerExists(listener);
        }
        if (n == MAX_LISTENERS) revert IdentityListenerLimit(MAX_LISTENERS);
        if (listener.code.length == 0) revert IdentityListenerNotContract(listener);
        _listeners.push(listener);
        emit IdentityListenerAdded(msg.sender, listener);
        // The token refuses unless this registry is its own.
        IIdentityCache(listener).resetIdentityCache(true);
        // slither-disable-next-line unused-return -- only whether the cache is on matters here, not its generation
        (bool enabled,) = IIdentityCache(listener).identityCache();
        if (!enabled) revert IdentityListenerCacheOff(listener);
    }

    /// @inheritdoc IIdentityRegistry
    function removeIdentityListener(address listener) external onlyRole(DEFAULT_ADMIN_ROLE) {
        uint256 n = _listeners.length;
        for (uint256 i; i < n; ++i) {
            if (_listeners[i] == listener) {
                _listeners[i] = _listeners[n - 1];
                _listeners.pop();
                emit IdentityListenerRemoved(msg.sender, listener);
                // A listener that cannot be reached is removed all the same, so that it can never block the KYC
                // agent's restrictive changes; with its allowance guaranteed, a token's update never fails.
                if (!_call(listener, abi.encodeCall(IIdentityCache.resetIdentityCache, (false)))) {
                    emit IdentityListenerUnreachable(msg.sender, listener);
                }
                return;
            }
        }
        revert IdentityListenerUnknown(listener);
    }

    /// @inheritdoc IIdentityRegistry
    function identityListeners() external view returns (address[] memory) {
        return _listeners;
    }

    /// @inheritdoc IIdentityRegistry
    function identityOf(address investor) external view returns (Identity memory) {
        return _identities[investor];
    }

    /// @inheritdoc IIdentityRegistry
    function isJurisdictionAllowed(uint16 jurisdiction) public view returns (bool) {
        return (_allowedJurisdictions[jurisdiction >> 8] >> (jurisdiction & 0xff)) & 1 == 1;
    }

    /// @inheritdoc IIdentityRegistry
    function isEligible(address investor) external view returns (bool) {
        (bytes32 reason,) = _reason(investor, true);
        return reason == C.OK;
    }

    /// @inheritdoc IIdentityRegistry
    function checkTransfer(address from, address to) external view returns (bytes1 code, bytes32 reason) {
        (code, reason,,) = transferClearance(from, to);
    }

    /// @inheritdoc IIdentityRegistry
    function transferClearance(address from, address to)
        public
        view
        returns (bytes1 code, bytes32 reason, uint256 fromExpiry, uint256 toExpiry)
    {
        if (from != address(0)) {
            (reason, fromExpiry) = _reason(from, true);
            if (reason != C.OK) return (C.INVALID_SENDER, reason, 0, 0);
        }
        if (to != address(0)) {
            (reason, toExpiry) = _reason(to, false);
            if (reason != C.OK) return (C.INVALID_RECEIVER, reason, 0, 0);
        }
        return (C.TRANSFER_SUCCESS, C.OK, fromExpiry, toExpiry);
    }

    /// @dev The first rule `investor` fails as sender or receiver (C.OK if none), and its expiry. Reads the
    ///      identity slot once (as one word: a struct copy to memory would read it once per field) and the
    ///      jurisdiction word.
    function _reason(address investor, bool sender) private view returns (bytes32, uint256 expiry) {
        uint256 w = _identityWord(investor);
        // Identity layout (IIdentityRegistry.Identity, packed from the low bits): verified (bits 0..7), frozen
        // (8..15), investorType (16..23), jurisdiction (24..39), expiry (40..103).
        expiry = (w >> 40) & type(uint64).max;
        if (w & 0xff == 0) return (sender ? C.SENDER_NOT_VERIFIED : C.RECEIVER_NOT_VERIFIED, expiry);
        if (expiry <= block.timestamp) return (sender ? C.SENDER_EXPIRED : C.RECEIVER_EXPIRED, expiry);
        if ((w >> 8) & 0xff != 0) return (sender ? C.SENDER_FROZEN : C.RECEIVER_FROZEN, expiry);
        if (!isJurisdictionAllowed(uint16(w >> 24))) return (sender ? C.SENDER_JURISDICTION : C.RECEIVER_JURISDICTION, expiry);
        return (C.OK, expiry);
    }

    /// @dev Every listener drops the cached clearances a change that can refuse an allowed transfer concerns
    ///      (`data`: a `clearIdentity` or `resetIdentityCache(true)` call); one that fails stops the change.
    function _notifyListeners(bytes memory data) private {
        uint256 n = _listeners.length;
        for (uint256 i; i < n; ++i) {
            address listener = _listeners[i];
            if (!_call(listener, data)) revert IdentityListenerFailed(listener);
        }
    }

    /// @dev Call `listener` with `data` and LISTENER_GAS; false if it fails. A caller can never make a listener fail,
    ///      or be removed unreachable, by sending too little gas: the call starts only with enough gas left for the
    ///      whole allowance after the call's own cost (a cold account, 2,600, and the arguments) and the 1/64 that
    ///      EIP-150 keeps back; and a call that failed leaving under LISTENER_GAS / 63 (a sign it was cut short)
    ///      refuses the whole transaction all the same (IdentityListenerGas).
    function _call(address listener, bytes memory data) private returns (bool ok) {
        uint256 needed = LISTENER_GAS + LISTENER_GAS / 63 + 4_000;
        if (gasleft() < needed) revert IdentityListenerGas(needed, gasleft());
        (ok,) = listener.call{gas: LISTENER_GAS}(data);
        if (!ok && gasleft() < LISTENER_GAS / 63) revert IdentityListenerGas(LISTENER_GAS, gasleft());
    }

    /// @dev The storage word holding `investor`'s {Identity}.
    function _identityWord(address investor) private view returns (uint256 w) {
        Identity storage id = _identities[investor];
        assembly ("memory-safe") {
            w := sload(id.slot)
        }
    }

    /// @dev Register or update; true when an update may refuse a transfer it allowed (a new jurisdiction, or an
    ///      earlier expiry), so that listeners must drop their cached clearances.
    function _register(address investor, uint16 jurisdiction, uint8 investorType, uint64 expiry)
        private
        returns (bool restricted)
    {
        if (investor == address(0)) revert IdentityZeroAddress();
        if (jurisdiction == 0 || jurisdiction > MAX_JURISDICTION) {
            revert IdentityInvalidJurisdiction(investor, jurisdiction);
        }
        if (expiry <= block.timestamp) revert IdentityExpiryNotInFuture(investor, expiry, block.timestamp);
        Identity storage id = _identities[investor];
        restricted = id.verified && (id.jurisdiction != jurisdiction || expiry < id.expiry);
        id.verified = true;
        id.investorType = investorType;
        id.jurisdiction = jurisdiction;
        id.expiry = expiry;
        emit InvestorRegistered(msg.sender, investor, jurisdiction, investorType, expiry);
    }
}
