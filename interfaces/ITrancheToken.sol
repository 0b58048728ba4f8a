// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IERC20Metadata} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Metadata.sol";
import {IERC1594} from "./IERC1594.sol";
import {IERC1410} from "./IERC1410.sol";
import {IERC1643} from "./IERC1643.sol";
import {IERC1644} from "./IERC1644.sol";
import {IIdentityCache, IIdentityRegistry} from "./IIdentityRegistry.sol";

/// @title ITrancheToken
/// @notice One tranche of a deal: an ERC-20 (one unit = one unit of original face, decimals of the deal
///         currency) with the ERC-1400 family on top, KYC through an `IIdentityRegistry`, and pull-based
///         distributions in the ERC-2222 style: the distributor deposits interest and principal for the whole
///         tranche in one O(1) call; every holder's entitlement follows per-token accumulators and is
///         checkpointed on every balance change, so it is exact whoever held when.
/// @dev Principal invariant (all in face / currency base units):
///      `currentPrincipal + cumulativeWriteDown + totalPrincipalDistributed + principalRetired == totalIssued`
///      and `currentPrincipal + cumulativeWriteDown <= totalSupply`. Issuance is only possible while
///      `isIssuable()`: before the first distribution or write-down (i.e. at factor 1), and until the deal
///      closes it. The token is bound once to its deal (`bindDeal`, the SPV): only the deal issues, cancels
///      (refunds of a cancelled offering), distributes, writes down, reinstates, closes the books at a
///      record date and settles the tranche; nobody else, the admin included, can move its books.
///      Redemption policy: while the deal owes principal (before `settle`), no unit can be redeemed by
///      anyone (holder, operator or controller: ERC-1066 0x55 "PRINCIPAL_OWED"), so the token's principal
///      always equals the deal's class book. After settlement (the deal ended, principal paid or written off)
///      a redemption of `v` tokens retires their pro-rata share of the (zero) current principal and of the
///      outstanding write-down (remaining amounts round down).
///      Record date: the deal closes the books when the period's report is accepted; until that period's
///      distribution (or `openBooks`), holder transfers are refused (0x54 "BOOKS_CLOSED"), so the coming
///      distribution goes to the holders of record. Forced transfers and wallet recoveries still run.
///      Dust bound: for each holder and each kind (interest, principal),
///      `0 <= exactShare - (withdrawn + withdrawable) < 1 + s * 2**-32 + d * balance / 2**96` base units,
///      where `s` counts checkpoints and `d` distributions. The accumulator rounding of every distribution is
///      counted, rounded down to 2**-32 units (never above the exact unallocated dust), and `sweepableDust()`
///      can be sent to the residual recipient by the admin.
///      Identity cache: while its registry lists the token as a listener, each holder's last clearance by the
///      registry is stamped on its account (generation and expiry day) and a transfer or claim asks the registry
///      only about a party without a valid stamp; every restrictive change in the registry drops all stamps in the
///      same transaction (`IIdentityCache.resetIdentityCache`).
interface ITrancheToken is IERC20Metadata, IERC1594, IERC1410, IERC1643, IERC1644, IIdentityCache {
    /// @notice Emitted when the distributor deposits a period's interest and principal.
    event FundsDistributed(address indexed distributor, uint256 indexed epoch, uint256 interest, uint256 principal);
    /// @notice Emitted when a holder's funds are withdrawn (always to the holder's own address; the caller
    ///         is the transaction's sender, the holder or anyone using `claimFor`).
    event FundsWithdrawn(address indexed holder, uint256 interest, uint256 principal);
    /// @notice Emitted when principal is written down (loss allocated to the tranche).
    event PrincipalWrittenDown(address indexed distributor, uint256 amount, uint256 currentPrincipal);
    /// @notice Emitted when a write-down is reversed (principal deficiency cured).
    event PrincipalReinstated(address indexed distributor, uint256 amount, uint256 currentPrincipal);
    /// @notice Emitted when the unpaid interest shortfall is set.
    event InterestShortfallSet(address indexed distributor, uint256 amount);
    /// @notice Emitted when rounding dust is swept to the residual recipient.
    event DustSwept(address indexed admin, address indexed recipient, uint256 amount);
    /// @notice Emitted when the residual recipient (home of rounding dust) changes.
    event ResidualRecipientSet(address indexed admin, address recipient);
    /// @notice Emitted when the issuer closes issuance for good.
    event IssuanceClosed(address indexed by);
    /// @notice Emitted when the admin binds the token to its deal (once).
    event DealBound(address indexed admin, address indexed deal);
    /// @notice Emitted when the deal closes the books at a record date (holder transfers refused until the
    ///         next distribution or `openBooks`).
    event BooksClosed(uint256 indexed epoch);
    /// @notice Emitted when the deal reopens the books without a distribution.
    event BooksOpened(uint256 indexed epoch);
    /// @notice Emitted when the deal settles the tranche (deal over: redemptions allowed from now on).
    event TrancheSettled(address indexed deal);
    /// @notice Emitted when the deal cancels `units` of `holder` (refund of a cancelled offering).
    event UnitsCancelled(address indexed holder, uint256 units);
    /// @notice Emitted when a controller recovers a lost wallet: every unit (both partitions) and every
    ///         unclaimed credit (scaled 2**32) of `lost` now belong to `replacement`, a verified wallet of the
    ///         same investor.
    event WalletRecovered(
        address indexed controller,
        address indexed lost,
        address indexed replacement,
        uint256 units,
        uint256 interestCredit,
        uint256 principalCredit
    );
    /// @notice Emitted when the admin renounces control (ERC-1644) for good.
    event ControlRenounced(address indexed admin);
    /// @notice Emitted when transfers are paused.
    event TransfersPaused(address indexed pauser);
    /// @notice Emitted when transfers are unpaused.
    event TransfersUnpaused(address indexed pauser);
    /// @notice Emitted when the end of the lock-up of the "locked" partition changes.
    event LockupEndSet(address indexed admin, uint256 lockupEnd);
    /// @notice Emitted when the minimum holding changes (0 = none).
    event MinimumHoldingSet(address indexed admin, uint256 minimumHolding);
    /// @notice Emitted when the maximum number of holders changes (0 = unlimited).
    event MaxHoldersSet(address indexed admin, uint256 maxHolders);

    /// @notice A transfer, issuance or redemption is not allowed; `code` and `reason` are what
    ///         `canTransfer` reports (ERC-1066 status, application reason).
    error TransferBlocked(address from, address to, bytes1 code, bytes32 reason);
    /// @notice Issuance is closed (after the first distribution or write-down, or closed by the issuer).
    error IssuanceNotAllowed();
    /// @notice The unknown `partition` was given.
    error InvalidPartition(bytes32 partition);
    /// @notice Control was renounced; controller operations are no longer possible.
    error NotControllable();
    /// @notice A distribution needs outstanding tokens.
    error NoTokensOutstanding();
    /// @notice `amount` exceeds `available` for `field` (e.g. "principal", "writeDown", "reinstate").
    error AmountExceedsLimit(bytes32 field, uint256 amount, uint256 available);
    /// @notice The currency received (`received`) differs from the amount pulled (`expected`), e.g. a
    ///         fee-on-transfer currency.
    error CurrencyAmountMismatch(uint256 expected, uint256 received);
    /// @notice A total would leave the supported range (`field` names it; `limit` is the maximum).
    error ValueOutOfRange(bytes32 field, uint256 value, uint256 limit);
    /// @notice An address argument `field` is the zero address.
    error ZeroAddressNotAllowed(bytes32 field);
    /// @notice `holder` still holds tokens; only zero-balance holders' dust can be closed.
    error HolderNotEmpty(address holder);
    /// @notice Only the deal the token is bound to may call this (`caller` is not `deal`).
    error NotDeal(address caller, address deal);
    /// @notice The token is already bound to `deal`.
    error DealAlreadyBound(address deal);
    /// @notice `holder` may not collect funds now (ERC-1066 `code`, `reason`: e.g. 0x56 "SENDER_FROZEN");
    ///         what it is owed stays owed.
    error ClaimBlocked(address holder, bytes1 code, bytes32 reason);
    /// @notice `lost` and `replacement` are not wallets of the same verified investor, or `replacement` may
    ///         not hold units (`code`, `reason` as in `canTransfer`).
    error RecoveryRefused(address lost, address replacement, bytes1 code, bytes32 reason);
    /// @notice The lock-up end can only move later (`current` -> `proposed` refused).
    error LockupCannotShorten(uint256 current, uint256 proposed);
    /// @notice Units can be cancelled only before the first distribution (issuance still open).
    error CancelNotAllowed();

    // ---- roles ----
    function CONTROLLER_ROLE() external view returns (bytes32);
    function PAUSER_ROLE() external view returns (bytes32);
    function DOCUMENT_ROLE() external view returns (bytes32);

    // ---- partitions ----
    /// @notice The default partition, used by ERC-20 transfers.
    function UNRESTRICTED() external view returns (bytes32);
    /// @notice The lock-up partition: transferable only after `lockupEnd()`, then lands unrestricted.
    function LOCKED() external view returns (bytes32);

    // ---- the deal (the SPV the token is bound to) ----
    /// @notice Bind the token to its deal, once (DEFAULT_ADMIN_ROLE). From then on only the deal issues,
    ///         cancels, distributes, writes down, reinstates, sets the interest shortfall, closes issuance,
    ///         closes and opens the books and settles.
    function bindDeal(address deal_) external;
    /// @notice The deal the token is bound to (zero before `bindDeal`).
    function deal() external view returns (address);
    /// @notice Record date: refuse holder transfers until the next distribution or `openBooks` (deal only).
    function closeBooks() external;
    /// @notice Reopen the books without a distribution (deal only).
    function openBooks() external;
    /// @notice True between a record date and the distribution that follows it.
    function booksClosed() external view returns (bool);
    /// @notice Cancel every unit of `holder` (deal only, before the first distribution): the refund of a
    ///         cancelled offering, one unit per unit of currency paid. Refused (`ClaimBlocked`) for a holder
    ///         who may not collect funds (frozen, removed, expired); returns the units cancelled.
    function cancel(address holder) external returns (uint256 units);
    /// @notice The deal is over: principal paid or written off; redemptions are allowed from now on (deal
    ///         only).
    function settle() external;
    /// @notice True once the deal has settled the tranche.
    function isSettled() external view returns (bool);

    // ---- distributions (the deal only) ----
    /// @notice Pull `interest + principal` of the currency from the caller (SafeERC20, needs allowance) and
    ///         credit it pro rata to all holders. O(1) in the number of holders. `principal` reduces
    ///         `currentPrincipal()`.
    function distribute(uint256 interest, uint256 principal) external;
    /// @notice Allocate a principal loss of `amount` to the tranche.
    function writeDown(uint256 amount) external;
    /// @notice Reverse up to `cumulativeWriteDown()` of earlier write-downs.
    function reinstate(uint256 amount) external;
    /// @notice A period's payment in one call (the deal only): `writeDown(writeDownAmount)` if non-zero, then
    ///         `reinstate(reinstated)` if non-zero, then `distribute(interest, principal)` when something is paid,
    ///         else `openBooks()`; the same checks, errors, events and results as those calls in that order.
    function distributePeriod(uint256 interest, uint256 principal, uint256 writeDownAmount, uint256 reinstated)
        external;
    /// @notice Record the unpaid interest shortfall (the amount owed but not paid so far).
    function setInterestShortfall(uint256 amount) external;

    // ---- claims ----
    /// @notice Withdraw the caller's interest and principal; returns the amounts. Refused (`ClaimBlocked`)
    ///         while the holder is frozen, removed or expired in the identity registry: the funds stay owed.
    function claim() external returns (uint256 interest, uint256 principal);
    /// @notice Withdraw `holder`'s funds, always paid to `holder` (anyone may trigger it; same rule as `claim`).
    function claimFor(address holder) external returns (uint256 interest, uint256 principal);
    /// @notice ERC-1066 status of a claim by `holder` (0x51 when allowed).
    function canClaim(address holder) external view returns (bytes1 code, bytes32 reason);

    // ---- wallet recovery (CONTROLLER_ROLE) ----
    /// @notice Move every unit (both partitions) and every unclaimed credit of `lost` to `replacement`, a
    ///         wallet of the same investor (`IIdentityRegistry.isSameInvestor`) that may hold units. Works
    ///         while paused and with the books closed; refused once control is renounced.
    function recoverWallet(address lost, address replacement) external;

    // ---- admin ----
    function pause() external;
    function unpause() external;
    /// @notice Close issuance for good (deal only; also closed by the first distribution or write-down).
    function closeIssuance() external;
    function renounceControl() external;
    /// @notice Move the end of the lock-up later (DEFAULT_ADMIN_ROLE); it can never be moved earlier.
    function setLockupEnd(uint256 lockupEnd_) external;
    function setMinimumHolding(uint256 minimumHolding_) external;
    function setMaxHolders(uint256 maxHolders_) external;
    function setResidualRecipient(address recipient) external;
    /// @notice Send `sweepableDust()` to the residual recipient; first close the sub-unit remainders of the
    ///         given zero-balance holders (they can never become withdrawable).
    function sweepDust(address[] calldata emptyHolders) external returns (uint256 amount);

    // ---- views ----
    function currency() external view returns (address);
    function identityRegistry() external view returns (IIdentityRegistry);
    function couponBps() external view returns (uint256);
    /// @notice Face of the outstanding tokens (= totalSupply: one token unit is one unit of original face).
    function originalFace() external view returns (uint256);
    function totalIssued() external view returns (uint256);
    function totalRedeemed() external view returns (uint256);
    function currentPrincipal() external view returns (uint256);
    /// @notice currentPrincipal / originalFace in 1e18 fixed point (0 when nothing is outstanding).
    function factor() external view returns (uint256);
    function cumulativeWriteDown() external view returns (uint256);
    function principalRetired() external view returns (uint256);
    function interestShortfall() external view returns (uint256);
    function totalInterestDistributed() external view returns (uint256);
    function totalPrincipalDistributed() external view returns (uint256);
    /// @notice Number of distributions so far.
    function distributionCount() external view returns (uint256);
    function withdrawableFundsOf(address holder) external view returns (uint256);
    function withdrawnFundsOf(address holder) external view returns (uint256);
    function accumulativeFundsOf(address holder) external view returns (uint256);
    /// @notice Interest and principal withdrawable by `holder` now.
    function withdrawableOf(address holder) external view returns (uint256 interest, uint256 principal);
    /// @notice Interest and principal withdrawn by `holder` so far (statements).
    function withdrawnOf(address holder) external view returns (uint256 interest, uint256 principal);
    /// @notice Rounding dust that belongs to nobody and can be swept to the residual recipient now (rounded down:
    ///         at most the exact unallocated dust).
    function sweepableDust() external view returns (uint256);
    function totalDustSwept() external view returns (uint256);
    function residualRecipient() external view returns (address);
    function paused() external view returns (bool);
    function lockupEnd() external view returns (uint256);
    function minimumHolding() external view returns (uint256);
    function maxHolders() external view returns (uint256);
    /// @notice Number of addresses holding units now. At most 16,777,215 at once (the dust bound assumes fewer than
    ///         2**24 accounts ever): a move that would add one more reverts with ValueOutOfRange("holderCount").
    function holderCount() external view returns (uint256);
}
