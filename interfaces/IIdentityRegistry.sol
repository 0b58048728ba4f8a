// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title IIdentityRegistry
/// @notice Investor eligibility shared by all tranche tokens of a deal: KYC flag, jurisdiction (ISO 3166-1
///         numeric code), investor type, expiry date and freeze. Tokens ask `checkTransfer` on every
///         transfer path; the answer is an ERC-1066 status byte plus an application reason.
interface IIdentityRegistry {
    /// @notice One investor's record, packed in one storage slot.
    /// @param verified KYC completed and recorded by a KYC agent.
    /// @param frozen Frozen by a KYC agent (sanctions, court order); blocks sending and receiving.
    /// @param investorType Application-defined class (e.g. 1 = retail, 2 = professional, 3 = QIB).
    /// @param jurisdiction ISO 3166-1 numeric country code (1..999).
    /// @param expiry Unix time after which the verification is no longer valid.
    struct Identity {
        bool verified;
        bool frozen;
        uint8 investorType;
        uint16 jurisdiction;
        uint64 expiry;
    }

    /// @notice Emitted when a KYC agent registers or updates an investor.
    event InvestorRegistered(
        address indexed agent, address indexed investor, uint16 jurisdiction, uint8 investorType, uint64 expiry
    );
    /// @notice Emitted when a KYC agent removes an investor (verification withdrawn).
    event InvestorRemoved(address indexed agent, address indexed investor);
    /// @notice Emitted when a KYC agent freezes or unfreezes an investor.
    event InvestorFrozen(address indexed agent, address indexed investor, bool frozen);
    /// @notice Emitted when a KYC agent links `wallet` to the investor `investorId` (zero: unlinked).
    event InvestorIdSet(address indexed agent, address indexed wallet, bytes32 indexed investorId);
    /// @notice Emitted when the admin allows or disallows a jurisdiction.
    event JurisdictionAllowed(address indexed admin, uint16 indexed jurisdiction, bool allowed);
    /// @notice Emitted when the admin adds a token that keeps an identity cache (see `addIdentityListener`).
    event IdentityListenerAdded(address indexed admin, address indexed listener);
    /// @notice Emitted when the admin removes an identity listener (its cache is switched off).
    event IdentityListenerRemoved(address indexed admin, address indexed listener);
    /// @notice Emitted when a removed listener could not be told to switch its cache off (it reverted, or ran out
    ///         of its gas allowance with enough gas left to the transaction): it was removed anyway.
    event IdentityListenerUnreachable(address indexed admin, address indexed listener);

    /// @notice The investor address is the zero address.
    error IdentityZeroAddress();
    /// @notice The expiry given for `investor` is not in the future.
    error IdentityExpiryNotInFuture(address investor, uint64 expiry, uint256 nowTime);
    /// @notice The jurisdiction code is outside 1..999.
    error IdentityInvalidJurisdiction(address investor, uint16 jurisdiction);
    /// @notice `investor` has no record.
    error IdentityNotRegistered(address investor);
    /// @notice Batch arrays differ in length (`field` names the first array that does not match).
    error IdentityBatchLengthMismatch(bytes32 field, uint256 expected, uint256 actual);
    /// @notice `listener` is already an identity listener.
    error IdentityListenerExists(address listener);
    /// @notice `listener` is not an identity listener.
    error IdentityListenerUnknown(address listener);
    /// @notice The registry already informs `max` listeners (each restrictive change calls every one).
    error IdentityListenerLimit(uint256 max);
    /// @notice `listener` has no code (only contracts keep identity caches).
    error IdentityListenerNotContract(address listener);
    /// @notice `listener` did not switch its cache on when added (a token whose 65,535 identity generations are
    ///         spent keeps it off for good): informing it would cost every restrictive change for nothing.
    error IdentityListenerCacheOff(address listener);
    /// @notice `listener` refused or failed a cache update; the restrictive change is not made (the admin can remove
    ///         the listener).
    error IdentityListenerFailed(address listener);
    /// @notice Too little gas (`left`) to give a listener its whole allowance, or a listener's call failed with so little
    ///         left that it may have been cut short (`needed`: the gas the check asked for); send more gas.
    error IdentityListenerGas(uint256 needed, uint256 left);

    /// @notice Role of the KYC agents that register, update, remove and freeze investors.
    function KYC_AGENT_ROLE() external view returns (bytes32);

    /// @notice Register or update `investor` (KYC_AGENT_ROLE). Keeps the frozen flag of an existing record.
    function registerInvestor(address investor, uint16 jurisdiction, uint8 investorType, uint64 expiry) external;

    /// @notice Register or update many investors in one call (KYC_AGENT_ROLE); reverts whole on a bad row.
    function registerInvestors(
        address[] calldata investors,
        uint16[] calldata jurisdictions,
        uint8[] calldata investorTypes,
        uint64[] calldata expiries
    ) external;

    /// @notice Withdraw `investor`'s verification (KYC_AGENT_ROLE). Their tokens stay but cannot move,
    ///         except by a controller.
    function removeInvestor(address investor) external;

    /// @notice Freeze or unfreeze `investor` (KYC_AGENT_ROLE).
    function setFrozen(address investor, bool frozen) external;

    /// @notice Link `wallets` to one investor `investorId` (KYC_AGENT_ROLE): the KYC file's reference, hashed.
    ///         Wallets of the same investor can take over each other's units in a wallet recovery. Each
    ///         wallet must be registered; a zero id unlinks.
    function setInvestorId(address[] calldata wallets, bytes32 investorId) external;

    /// @notice The investor id `wallet` is linked to (zero when none).
    function investorIdOf(address wallet) external view returns (bytes32);

    /// @notice True when both wallets are linked to the same non-zero investor id.
    function isSameInvestor(address a, address b) external view returns (bool);

    /// @notice Why `holder` may not collect funds it is owed (ERC-1066 0x56, invalid sender): "SENDER_NOT_VERIFIED"
    ///         (removed or never registered), "SENDER_EXPIRED" or "SENDER_FROZEN"; zero when it may. (Jurisdiction
    ///         changes do not stop collection; they stop transfers.) One word, read on every claim.
    function claimBlocker(address holder) external view returns (bytes32 reason);

    /// @notice Allow or disallow a jurisdiction (DEFAULT_ADMIN_ROLE).
    function setJurisdictionAllowed(uint16 jurisdiction, bool allowed) external;

    /// @notice The stored record of `investor` (all zero when unknown).
    function identityOf(address investor) external view returns (Identity memory);

    /// @notice True when `jurisdiction` is allowed.
    function isJurisdictionAllowed(uint16 jurisdiction) external view returns (bool);

    /// @notice True when `investor` is verified, not expired, not frozen and in an allowed jurisdiction.
    function isEligible(address investor) external view returns (bool);

    /// @notice Add `listener` (DEFAULT_ADMIN_ROLE), a tranche token bound to this registry that keeps each holder's
    ///         last clearance in its own storage: the registry switches its cache on and, from then on, in the same
    ///         transaction as every change that can refuse a transfer that was allowed, drops the clearances it
    ///         concerns: one investor's (`clearIdentity`) on its removal, its freeze, or an update that changes its
    ///         jurisdiction or brings its expiry forward; all of them (`resetIdentityCache(true)`) when a jurisdiction
    ///         is disallowed or a batch updates investors restrictively. A listener that fails an update stops the
    ///         change (`IdentityListenerFailed`). Listeners are trusted code (the deal's tokens): at most 16. Refused
    ///         when the listener's cache is still off once switched on (`IdentityListenerCacheOff`).
    function addIdentityListener(address listener) external;

    /// @notice Remove `listener` (DEFAULT_ADMIN_ROLE): its cache is switched off (`resetIdentityCache(false)`)
    ///         and it asks the registry on every transfer again. A listener that fails the call is removed anyway
    ///         (`IdentityListenerUnreachable`).
    function removeIdentityListener(address listener) external;

    /// @notice The identity listeners.
    function identityListeners() external view returns (address[] memory);

    /// @notice `checkTransfer`, and the expiry of each party checked (0 for a zero address): a token caches the
    ///         clearance of each party until then (or the next restrictive change).
    function transferClearance(address from, address to)
        external
        view
        returns (bytes1 code, bytes32 reason, uint256 fromExpiry, uint256 toExpiry);

    /// @notice ERC-1066 status of a transfer between `from` and `to` as far as identities go; never reverts.
    /// @dev `from == address(0)` is an issuance (sender not checked), `to == address(0)` a redemption
    ///      (receiver not checked). Returns 0x51 (success), 0x56 (invalid sender) or 0x57 (invalid
    ///      receiver) and a reason such as "SENDER_NOT_VERIFIED", "RECEIVER_EXPIRED", "SENDER_FROZEN",
    ///      "RECEIVER_JURISDICTION".
    function checkTransfer(address from, address to) external view returns (bytes1 code, bytes32 reason);
}

/// @title IIdentityCache
/// @notice What an identity registry calls on a token that caches its holders' clearances.
interface IIdentityCache {
    /// @notice Emitted when the cache is switched or every cached clearance is dropped (new `generation`).
    event IdentityCacheReset(uint256 generation, bool enabled);
    /// @notice Emitted when `holder`'s cached clearance is dropped.
    event IdentityCleared(address indexed holder);

    /// @notice The caller is not the token's identity registry.
    error NotIdentityRegistry(address caller, address registry);

    /// @notice Drop every cached clearance (a new generation) and switch the cache on or off. Only the token's
    ///         identity registry. After 65,534 resets the cache stays off for good (generations are never reused).
    function resetIdentityCache(bool enabled) external;

    /// @notice Drop `holder`'s cached clearance (its next transfer or claim asks the registry). Only the token's
    ///         identity registry, in the transaction that restricted `holder`.
    function clearIdentity(address holder) external;

    /// @notice Whether cached clearances are used, and the generation they must carry.
    function identityCache() external view returns (bool enabled, uint256 generation);
}
