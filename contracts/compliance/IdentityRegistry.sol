// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {IIdentityRegistry} from "../../interfaces/IIdentityRegistry.sol";
import {ComplianceCodes as C} from "./ComplianceCodes.sol";

/// @title IdentityRegistry
/// @notice Investor KYC records shared by all tranche tokens of a deal. One storage slot per investor and a
///         bitmap of allowed jurisdictions keep the per-transfer check to a few cold reads.
contract IdentityRegistry is AccessControl, IIdentityRegistry {
    /// @inheritdoc IIdentityRegistry
    bytes32 public constant KYC_AGENT_ROLE = keccak256("KYC_AGENT_ROLE");

    uint16 private constant MAX_JURISDICTION = 999;

    mapping(address investor => Identity) private _identities;
    /// @dev Bit `j & 255` of word `j >> 8` is set when jurisdiction `j` is allowed.
    mapping(uint256 word => uint256 bits) private _allowedJurisdictions;
    mapping(address wallet => bytes32 investorId) private _investorIds;

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
        _register(investor, jurisdiction, investorType, expiry);
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
        for (uint256 i; i < n; ++i) {
            _register(investors[i], jurisdictions[i], investorTypes[i], expiries[i]);
        }
    }

    /// @inheritdoc IIdentityRegistry
    function removeInvestor(address investor) external onlyRole(KYC_AGENT_ROLE) {
        if (!_identities[investor].verified) revert IdentityNotRegistered(investor);
        delete _identities[investor];
        // The investor id stays: a removed (e.g. compromised) wallet can still be recovered to another wallet
        // of the same investor.
        emit InvestorRemoved(msg.sender, investor);
    }

    /// @inheritdoc IIdentityRegistry
    function setFrozen(address investor, bool frozen) external onlyRole(KYC_AGENT_ROLE) {
        if (!_identities[investor].verified) revert IdentityNotRegistered(investor);
        _identities[investor].frozen = frozen;
        emit InvestorFrozen(msg.sender, investor, frozen);
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
        if (allowed) _allowedJurisdictions[jurisdiction >> 8] |= mask;
        else _allowedJurisdictions[jurisdiction >> 8] &= ~mask;
        emit JurisdictionAllowed(msg.sender, jurisdiction, allowed);
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
        return _reason(investor, true) == C.OK;
    }

    /// @inheritdoc IIdentityRegistry
    function checkTransfer(address from, address to) external view returns (bytes1 code, bytes32 reason) {
        if (from != address(0)) {
            reason = _reason(from, true);
            if (reason != C.OK) return (C.INVALID_SENDER, reason);
        }
        if (to != address(0)) {
            reason = _reason(to, false);
            if (reason != C.OK) return (C.INVALID_RECEIVER, reason);
        }
        return (C.TRANSFER_SUCCESS, C.OK);
    }

    /// @dev The first rule `investor` fails as sender or receiver (C.OK if none). Reads the identity slot once
    ///      (as one word: a struct copy to memory would read it once per field) and the jurisdiction word.
    function _reason(address investor, bool sender) private view returns (bytes32) {
        uint256 w = _identityWord(investor);
        // Identity layout (IIdentityRegistry.Identity, packed from the low bits): verified (bits 0..7), frozen
        // (8..15), investorType (16..23), jurisdiction (24..39), expiry (40..103).
        if (w & 0xff == 0) return sender ? C.SENDER_NOT_VERIFIED : C.RECEIVER_NOT_VERIFIED;
        if ((w >> 40) & type(uint64).max <= block.timestamp) return sender ? C.SENDER_EXPIRED : C.RECEIVER_EXPIRED;
        if ((w >> 8) & 0xff != 0) return sender ? C.SENDER_FROZEN : C.RECEIVER_FROZEN;
        if (!isJurisdictionAllowed(uint16(w >> 24))) return sender ? C.SENDER_JURISDICTION : C.RECEIVER_JURISDICTION;
        return C.OK;
    }

    /// @dev The storage word holding `investor`'s {Identity}.
    function _identityWord(address investor) private view returns (uint256 w) {
        Identity storage id = _identities[investor];
        assembly ("memory-safe") {
            w := sload(id.slot)
        }
    }

    function _register(address investor, uint16 jurisdiction, uint8 investorType, uint64 expiry) private {
        if (investor == address(0)) revert IdentityZeroAddress();
        if (jurisdiction == 0 || jurisdiction > MAX_JURISDICTION) {
            revert IdentityInvalidJurisdiction(investor, jurisdiction);
        }
        if (expiry <= block.timestamp) revert IdentityExpiryNotInFuture(investor, expiry, block.timestamp);
        Identity storage id = _identities[investor];
        id.verified = true;
        id.investorType = investorType;
        id.jurisdiction = jurisdiction;
        id.expiry = expiry;
        emit InvestorRegistered(msg.sender, investor, jurisdiction, investorType, expiry);
    }
}
