// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IAssetRegistry} from "./IAssetRegistry.sol";

// The loan-level servicing tape of one period, committed as a Merkle sum tree with every period report: what
// lets anyone holding the tape prove a false figure on chain.
//
// Leaves. One per asset in the pool at the report (the registry's pool count), sorted by strictly increasing
// asset id, at positions 0 .. count-1 of a tree of depth ceil(log2(count)) whose other positions are empty
// (hash 0, zero sums). A leaf's hash is keccak256(abi.encode(period, leaf)); its sums are derived from it: the
// ending principal counts toward the pool balance only for a performing or delinquent asset (a defaulted asset's
// ending principal is its remaining claim), count 1.
//
// Nodes. keccak256(abi.encode(leftHash, rightHash, sums)) where `sums` is what the node claims (an honest node
// claims the sum of its children). The commitment a report carries is (root hash, root sums); the SPV checks the
// report's figures against the root sums and the registry when it accepts the report.
//
// Tape conventions per leaf (amounts in base units):
// * an asset performing or delinquent at the end: beginning = scheduled + prepaid + defaulted + ending;
// * an asset that defaulted this period: beginning = scheduled + prepaid + defaulted, ending = its claim (at most
//   the defaulted principal);
// * an asset in recovery (Defaulted, InRecovery, Repossessed) or closed this period (Disposed, ChargedOff):
//   scheduled = prepaid = defaulted = 0, ending <= beginning, recoveries = cash recovered;
// * prepaid in full or repaid: ending = 0.

/// @notice Totals of a subtree of the servicing tape.
struct TapeSums {
    uint256 ending; // ending principal of performing and delinquent assets (the pool balance)
    uint256 scheduled;
    uint256 prepaid;
    uint256 defaulted;
    uint256 interest;
    uint256 recoveries;
    uint256 count; // non-empty leaves
}

/// @notice One asset's row of a period's servicing tape.
struct LoanLeaf {
    uint256 index; // its position among the leaves (0-based, sorted by asset id)
    uint256 assetId;
    uint8 status; // IAssetRegistry.AssetStatus at the end of the period
    uint256 beginning;
    uint256 scheduled;
    uint256 prepaid;
    uint256 defaulted;
    uint256 ending;
    uint256 interest;
    uint256 recoveries;
}

/// @notice One level of a path from a leaf to the root: the sibling (hash and claimed sums) and the claimed
/// sums of the parent.
struct ProofStep {
    bytes32 sibling;
    TapeSums siblingSums;
    TapeSums parentSums;
}

/// @notice What a report commits: the tape's root hash and the root's claimed sums.
struct ServicingCommitment {
    bytes32 root;
    TapeSums sums;
}

/// @notice The registration of one asset, as the registry recorded it (an onboarding batch of the cut-off pool,
/// or a revolving purchase): the batch's checkpoint (`IAssetRegistry.purchaseCheckpoint(poolId, firstIndex)`) is
/// keccak256(abi.encode(before, the chain after `leaves`, period)) (period 0 for an onboarding batch); `record`
/// is the asset's full record, whose StandardMerkleTree leaf (with the pool's originator) is `leaves[position]`.
/// Everything comes from the batch's `AssetsRegistered` event (firstIndex, leaves; `before` is the previous
/// batch's `leafChain`, zero for the pool's first) and the transaction's calldata (the record). The pool's sealed
/// Merkle root plays no part: a record is proven against the leaf chain the registry computed itself.
struct PurchaseProof {
    uint256 firstIndex;
    bytes32 before;
    bytes32[] leaves;
    uint256 position;
    IAssetRegistry.AssetRecord record;
}

/// @notice How an asset came into the pool before the pending report: its registration `batch`, proven against
/// the registry's checkpoint for `period` (below the pending one): 0 for an onboarding batch of the cut-off pool,
/// else the period whose report was pending when it was bought.
struct Registration {
    uint256 period;
    PurchaseProof batch;
}

/// @notice Two neighbouring leaves of a tape (positions i and i + 1) around an asset id, or the first leaf only
/// (`hasBelow` false: the asset id is below it) or the last leaf only (`hasAbove` false: above it).
struct Neighbours {
    bool hasBelow;
    LoanLeaf below;
    ProofStep[] belowPath;
    bool hasAbove;
    LoanLeaf above;
    ProofStep[] abovePath;
}

/// @notice What a proven challenge showed.
/// SumMismatch: a node claims sums its children do not add up to. NotInPool: a leaf's asset is not in the pool.
/// StatusMismatch: a leaf's status differs from the registry's. PrincipalMismatch: a leaf's ending principal
/// differs from the registry's (above it for a performing asset). BrokenIdentity: a leaf's flows do not add up
/// (see the tape conventions). Discontinuity: a leaf's beginning principal is not the asset's previous ending
/// (previous period's leaf, or the cut-off tape for period 1, or, for a receivable bought in the previous
/// period, its purchase principal). OutOfOrder: two neighbouring leaves are not in
/// increasing asset id order. Gap: an empty position among the first `count`, or a leaf beyond them, or an asset of
/// the pool registered before the report missing from the tape. UnbookedDilution: a receivable the court recorded
/// as diluted in the pending period has a leaf booking less than that dilution (its `prepaid` under repurchase
/// terms, its `defaulted` under loss terms).
enum ChallengeKind {
    SumMismatch,
    NotInPool,
    StatusMismatch,
    PrincipalMismatch,
    BrokenIdentity,
    Discontinuity,
    OutOfOrder,
    Gap,
    UnbookedDilution
}

/// @title IServicingCourt
/// @notice Anyone holding a period's servicing tape can prove on chain that the pending report's commitment is
/// false: the court checks the proof against the SPV's commitment and the asset registry and, when it holds,
/// marks the SPV's pending report disputed (it cannot close until the trustee cancels it). One court serves
/// every SPV that names it; its only state is the deals' dilutions (below).
interface IServicingCourt {
    /// @notice The proof does not reach the committed root (or the commitment given is not the SPV's).
    error ProofDoesNotMatch(uint256 period);
    /// @notice The proof is valid but shows no fault of `kind`.
    error NothingWrong(ChallengeKind kind);

    // ---------------------------------------------------------------------------------- dilution
    // A credit note or a dispute reduces a receivable of a deal's pool. The court records it with its evidence,
    // per deal and period, as the deal's dilution terms say: a loss (the SPV's report must count it in its
    // defaults) or a repurchase by the originator (its cash is held here and paid to the SPV with the period's
    // report, which must count it in its prepayments). The SPV also tests it for early amortization.

    /// @notice `spv`'s dilution terms were set by `arranger`: `repurchase` (else a loss) and the early-amortization
    /// limit (the period's dilutions over its beginning pool, bps, breached above; 0: no such test).
    event DilutionTermsSet(address indexed spv, address indexed arranger, bool repurchase, uint16 earlyAmortizationBps);
    /// @notice Receivable `assetId` of `spv`'s pool was diluted by `amount` in `period` (`evidence`: the hash of
    /// the credit note or dispute) by `by`; `repurchased`: the originator paid `amount` (held for the SPV).
    event ReceivableDiluted(
        address indexed spv,
        uint256 indexed period,
        uint256 indexed assetId,
        address by,
        uint256 amount,
        bytes32 evidence,
        bool repurchased
    );
    /// @notice `spv` took `period`'s dilution figures with its report and received `cash` of repurchases.
    event DilutionTaken(address indexed spv, uint256 indexed period, uint256 loss, uint256 repurchased, uint256 cash);

    /// @notice `caller` does not hold `role` on `spv` (dilution terms: ARRANGER_ROLE; a dilution as a loss:
    /// SERVICER_ROLE; as a repurchase: the deal's originator).
    error NotDealRole(address spv, address caller, bytes32 role);
    /// @notice Dilution terms can be set once, while the deal is offered.
    error DilutionTermsFixed(address spv);
    /// @notice `spv` has no dilution terms: nothing can be diluted.
    error NoDilutionTerms(address spv);
    /// @notice A dilution needs an active deal with no report pending (the period's report counts it).
    error DilutionNotOpen(address spv, uint256 period);
    /// @notice A dilution needs the hash of its evidence.
    error MissingEvidence();
    /// @notice Receivable `assetId` is not an active receivable of the deal's pool.
    error NotDilutable(uint256 assetId);
    /// @notice `amount` (with this period's earlier dilutions of it) is zero or above the receivable's
    /// `principal`.
    error DilutionAboveBalance(uint256 assetId, uint256 amount, uint256 principal);
    /// @notice `spv` is not a revolving deal (dilution terms are for revolving receivables pools).
    error NotRevolving(address spv);
    /// @notice An early-amortization limit above 10,000 bps.
    error InvalidDilutionLimit(uint256 limitBps);
    /// @notice Receivable `assetId` was diluted in `period`, the deal's current one: it cannot be bought back
    /// before that period's report has counted the dilution (its leaf books it; the loan then leaves the pool).
    error DilutedThisPeriod(uint256 assetId, uint256 period);
    /// @notice Before the deal's first close a loan's only proven balance is its sealed cut-off principal; the
    /// registry's principal of `assetId` is known to be it only while no servicing update or purchase has moved
    /// the pool since the seal. Buy it back after period 1 closes (at its leaf in the closed tape).
    error BalanceNotProven(uint256 assetId);

    /// @notice Set `spv`'s dilution terms (the caller holds ARRANGER_ROLE on it; once, while it is offered; a
    /// revolving deal only).
    function setDilutionTerms(address spv, bool repurchase, uint16 earlyAmortizationBps) external;

    /// @notice Record a dilution of receivable `assetId` of `spv`'s pool by `amount`, with `evidence`, in the
    /// deal's current period (no report pending). As a loss the caller holds SERVICER_ROLE on `spv`; as a
    /// repurchase the caller is the deal's originator and pays `amount` (approved to the court) now.
    function dilute(address spv, uint256 assetId, uint256 amount, bytes32 evidence) external;

    /// @notice The calling SPV's `period` report: that period's dilution loss and repurchases, what the
    /// repurchases paid that the SPV has not yet received (transferred to it now: `cash`), the previous
    /// period's dilutions (both treatments) and the early-amortization limit.
    function takeDilution(uint256 period)
        external
        returns (uint256 loss, uint256 repurchased, uint256 cash, uint256 previous, uint256 limitBps);

    /// @notice `spv`'s dilutions of `period`: as losses, as repurchases.
    function dilutionOf(address spv, uint256 period) external view returns (uint256 loss, uint256 repurchased);

    /// @notice `spv`'s dilution terms (`set` false: none).
    function dilutionTerms(address spv) external view returns (bool set, bool repurchase, uint16 earlyAmortizationBps);

    /// @notice The last period in which receivable `assetId` of `spv`'s pool was diluted and that period's total
    /// dilution of it (0, 0: never).
    function assetDilution(address spv, uint256 assetId) external view returns (uint256 period, uint256 amount);

    /// @notice The court recorded a dilution of `leaf.assetId` in the pending period above what `leaf` (proven
    /// against the pending commitment `c`) books for it: its `prepaid` under repurchase terms (the originator's
    /// cash is a deemed prepayment of that receivable), its `defaulted` under loss terms (the written-off amount).
    /// The kind proven is `UnbookedDilution`.
    function challengeDilution(
        address spv,
        ServicingCommitment calldata c,
        LoanLeaf calldata leaf,
        ProofStep[] calldata path
    ) external;

    /// @notice A node on the path of `leaf` (or the leaf's own parent) claims sums its children do not add up to.
    function challengeSums(address spv, ServicingCommitment calldata c, LoanLeaf calldata leaf, ProofStep[] calldata path)
        external;

    /// @notice `leaf` contradicts the registry: its asset is not in the pool, its status differs, or its ending
    /// principal differs from the registry's (is above it, for a performing asset); or its flows do not add up.
    function challengeLeaf(address spv, ServicingCommitment calldata c, LoanLeaf calldata leaf, ProofStep[] calldata path)
        external;

    /// @notice `leaf`'s beginning principal is not `previous`'s ending principal (the same asset in the previous
    /// period's tape, committed by `prev`).
    function challengeContinuity(
        address spv,
        ServicingCommitment calldata c,
        LoanLeaf calldata leaf,
        ProofStep[] calldata path,
        ServicingCommitment calldata prev,
        LoanLeaf calldata previous,
        ProofStep[] calldata previousPath
    ) external;

    /// @notice Period 1: `leaf`'s beginning principal is not the asset's principal in the cut-off tape: `cutoff`
    /// proves the asset's record, its onboarding batch and that batch's leaf chain against the registry's
    /// checkpoint (period 0), never against the root the originator sealed the pool with.
    function challengeCutoff(
        address spv,
        ServicingCommitment calldata c,
        LoanLeaf calldata leaf,
        ProofStep[] calldata path,
        PurchaseProof calldata cutoff
    ) external;

    /// @notice `leaf`'s asset was bought into the deal's pool while the previous period's report was pending
    /// (so this is its first tape) at a principal other than `leaf`'s beginning principal: `purchase` proves
    /// the record, its batch and that batch's period against the registry's checkpoint.
    function challengePurchase(
        address spv,
        ServicingCommitment calldata c,
        LoanLeaf calldata leaf,
        ProofStep[] calldata path,
        PurchaseProof calldata purchase
    ) external;

    /// @notice An asset still in the deal's pool and registered there before the pending report (`registration`:
    /// its onboarding batch or an earlier purchase) has no leaf in the tape: `neighbours` are adjacent leaves whose
    /// asset ids enclose it (or the first leaf above it, or the last below it). The kind proven is `Gap`.
    function challengeMissing(
        address spv,
        ServicingCommitment calldata c,
        Registration calldata registration,
        Neighbours calldata neighbours
    ) external;

    /// @notice The caller (ORIGINATOR_ROLE on `spv`) buys loan `leaf.assetId` back out of the deal's pool: at the
    /// loan's ending principal in the last closed period's tape (`leaf`, proven against `c`, that period's
    /// commitment) plus accrued interest; before any period closed, at its registry principal while that is
    /// proven to be its sealed cut-off principal (no purchase into the pool, and the pool's principal plus its
    /// repurchases equal to its cut-off principal: else `BalanceNotProven`; `leaf` then only names the asset,
    /// `path` is empty and `c` is ignored). Not a receivable diluted in the current period (`DilutedThisPeriod`).
    function buyBack(address spv, LoanLeaf calldata leaf, ProofStep[] calldata path, ServicingCommitment calldata c)
        external;

    /// @notice The caller (ORIGINATOR_ROLE on `spv`) buys back a receivable bought into the deal's pool while the
    /// last closed period's report was pending (it has no leaf in a closed tape yet): at its purchase principal
    /// (`purchase`, proven against the registry's checkpoint) plus accrued interest, while no report is pending.
    /// Not a receivable diluted in the current period (`DilutedThisPeriod`).
    function buyBackBought(address spv, PurchaseProof calldata purchase) external;

    /// @notice Neighbouring leaves `a` (position i) and `b` (position i + 1) are not in increasing asset id order.
    function challengeOrder(
        address spv,
        ServicingCommitment calldata c,
        LoanLeaf calldata a,
        ProofStep[] calldata pathA,
        LoanLeaf calldata b,
        ProofStep[] calldata pathB
    ) external;

    /// @notice Position `index` is empty though below the count, or holds `leaf` though at or beyond it
    /// (`empty`: the position is proven empty, `leaf` is ignored).
    function challengeGap(
        address spv,
        ServicingCommitment calldata c,
        uint256 index,
        bool empty,
        LoanLeaf calldata leaf,
        ProofStep[] calldata path
    ) external;
}
