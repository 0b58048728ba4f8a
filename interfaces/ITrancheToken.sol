// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IERC20Metadata} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Metadata.sol";
import {IERC1594} from "./IERC1594.sol";
import {IERC1410} from "./IERC1410.sol";
import {IERC1643} from "./IERC1643.sol";
import {IERC1644} from "./IERC1644.sol";
import {IIdentityRegistry} from "./IIdentityRegistry.sol";

/// @title ITrancheToken
/// @notice One tranche of a deal: an ERC-20 (one unit = one unit of original face, decimals of the deal
///         currency) with the ERC-1400 family on top, KYC through an `IIdentityRegistry`, and pull-based
///         distributions in the ERC-2222 style: the distributor deposits interest and principal for the whole
///         tranche in one O(1) call; every holder's entitlement follows per-token accumulators and is
///         checkpointed on every balance change, so it is exact whoever held when.
/// @dev Principal invariant (all in face / currency base units):
///      `currentPrincipal + cumulativeWriteDown + totalPrincipalDistributed + principalRetired == totalIssued`
///      and `currentPrincipal + cumulativeWriteDown <= totalSupply`. Issuance is only possible while
///      `isIssuable()`: before the first distribution or write-down (i.e. at factor 1), and until the issuer
///      closes it. A redemption of `v` tokens retires their pro-rata share of the current principal and of
///      the outstanding write-down (remaining amounts round down).
///      Dust bound: for each holder and each kind (interest, principal),
///      `0 <= exactShare - (withdrawn + withdrawable) < 1 + s * 2**-32 + d * balance / 2**96` base units,
///      where `s` counts checkpoints and `d` distributions. The accumulator rounding of every distribution is
///      counted, rounded down to 2**-32 units (never above the exact unallocated dust), and `sweepableDust()`
///      can be sent to the residual recipient by the admin.
interface ITrancheToken is IERC20Metadata, IERC1594, IERC1410, IERC1643, IERC1644 {
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

    // ---- roles ----
    function ISSUER_ROLE() external view returns (bytes32);
    function DISTRIBUTOR_ROLE() external view returns (bytes32);
    function CONTROLLER_ROLE() external view returns (bytes32);
    function PAUSER_ROLE() external view returns (bytes32);
    function DOCUMENT_ROLE() external view returns (bytes32);

    // ---- partitions ----
    /// @notice The default partition, used by ERC-20 transfers.
    function UNRESTRICTED() external view returns (bytes32);
    /// @notice The lock-up partition: transferable only after `lockupEnd()`, then lands unrestricted.
    function LOCKED() external view returns (bytes32);

    // ---- distributions (DISTRIBUTOR_ROLE) ----
    /// @notice Pull `interest + principal` of the currency from the caller (SafeERC20, needs allowance) and
    ///         credit it pro rata to all holders. O(1) in the number of holders. `principal` reduces
    ///         `currentPrincipal()`.
    function distribute(uint256 interest, uint256 principal) external;
    /// @notice Allocate a principal loss of `amount` to the tranche.
    function writeDown(uint256 amount) external;
    /// @notice Reverse up to `cumulativeWriteDown()` of earlier write-downs.
    function reinstate(uint256 amount) external;
    /// @notice Record the unpaid interest shortfall (the amount owed but not paid so far).
    function setInterestShortfall(uint256 amount) external;

    // ---- claims ----
    /// @notice Withdraw the caller's interest and principal; returns the amounts.
    function claim() external returns (uint256 interest, uint256 principal);
    /// @notice Withdraw `holder`'s funds, always paid to `holder` (anyone may trigger it).
    function claimFor(address holder) external returns (uint256 interest, uint256 principal);

    // ---- admin ----
    function pause() external;
    function unpause() external;
    function closeIssuance() external;
    function renounceControl() external;
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
    function totalInterestClaimed() external view returns (uint256);
    function totalPrincipalClaimed() external view returns (uint256);
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
    function holderCount() external view returns (uint256);
}
