// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";

import {ServicingTree} from "./ServicingTree.sol";
import {IAssetRegistry} from "../../interfaces/IAssetRegistry.sol";
import {Phase, SPVTerms} from "../../interfaces/ISPV.sol";
import {
    ChallengeKind,
    IServicingCourt,
    LoanLeaf,
    Neighbours,
    ProofStep,
    PurchaseProof,
    Registration,
    ServicingCommitment,
    TapeSums
} from "../../interfaces/IServicing.sol";

/// @notice What the court needs of an SPV: its pending period's commitment, its pool, and the dispute switch.
interface IServicedDeal {
    /// @notice The period of the pending report (0 when none).
    function pendingServicingPeriod() external view returns (uint256);
    /// @notice keccak256(abi.encode(root, sums)) of `period`'s servicing commitment (zero if none).
    function servicingCommitment(uint256 period) external view returns (bytes32);
    /// @notice The asset registry and the pool the deal owns.
    function servicedPool() external view returns (IAssetRegistry registry, uint256 poolId, address originator);
    /// @notice Stop the pending report of `period` (the court only).
    function markDisputed(uint256 period, ChallengeKind kind, uint256 assetId, address challenger) external;
    /// @notice Periods closed so far.
    function periodsClosed() external view returns (uint256);
    /// @notice Sell loan `assetId` back to `buyer` at `principal` plus accrued interest (the court only).
    function buyBack(address buyer, uint256 assetId, uint256 principal) external;
    /// @notice The deal's phase.
    function phase() external view returns (Phase);
    /// @notice The deal's terms (its currency).
    function terms() external view returns (SPVTerms memory);
    /// @notice AccessControl's role check.
    function hasRole(bytes32 role, address account) external view returns (bool);
}

/// @title ServicingCourt
/// @notice Checks fraud proofs against an SPV's pending servicing commitment and the asset registry; a proof that
/// holds marks the SPV's pending report disputed. One court serves every SPV that names it. It also records
/// the deals' dilutions (credit notes, disputes) per period and holds the originators' repurchase cash until the
/// SPV takes it with the period's report.
contract ServicingCourt is IServicingCourt {
    using ServicingTree for ServicingTree.Walk;
    using SafeERC20 for IERC20;
    using SafeCast for uint256;

    bytes32 private constant ARRANGER_ROLE = keccak256("ARRANGER_ROLE");
    bytes32 private constant SERVICER_ROLE = keccak256("SERVICER_ROLE");
    bytes32 private constant ORIGINATOR = keccak256("ORIGINATOR");

    /// @dev `currency`: the deal's, read once when the terms are set (the cash held for a deal is paid back in
    /// the currency it was paid in, whatever the caller claims later).
    struct DilutionTerms {
        bool set;
        bool repurchase;
        uint16 earlyAmortizationBps;
        address currency;
    }

    /// @dev A period's dilutions of one deal: as losses, as repurchases, and the repurchase cash the SPV took.
    struct PeriodDilution {
        uint96 loss;
        uint96 repurchased;
        uint96 taken;
    }

    mapping(address spv => DilutionTerms) private _terms;
    mapping(address spv => mapping(uint256 period => PeriodDilution)) private _diluted;
    /// @dev per deal and receivable: (period << 128) | what that period diluted of it
    mapping(address spv => mapping(uint256 assetId => uint256)) private _assetDiluted;

    /// @inheritdoc IServicingCourt
    function setDilutionTerms(address spv, bool repurchase, uint16 earlyAmortizationBps) external {
        IServicedDeal deal = IServicedDeal(spv);
        if (!deal.hasRole(ARRANGER_ROLE, msg.sender)) revert NotDealRole(spv, msg.sender, ARRANGER_ROLE);
        if (_terms[spv].set || deal.phase() != Phase.Offering) revert DilutionTermsFixed(spv);
        if (earlyAmortizationBps > 10_000) revert InvalidDilutionLimit(earlyAmortizationBps);
        SPVTerms memory terms = deal.terms();
        // Only a revolving deal's report takes its dilutions (a static deal's would never count them).
        if (terms.lastRevolvingPeriod == 0) revert NotRevolving(spv);
        _terms[spv] = DilutionTerms(true, repurchase, earlyAmortizationBps, terms.currency);
        emit DilutionTermsSet(spv, msg.sender, repurchase, earlyAmortizationBps);
    }

    /// @inheritdoc IServicingCourt
    function dilute(address spv, uint256 assetId, uint256 amount, bytes32 evidence) external {
        DilutionTerms memory t = _terms[spv];
        if (!t.set) revert NoDilutionTerms(spv);
        if (evidence == bytes32(0)) revert MissingEvidence();
        uint256 period = _admitDilution(spv, t.repurchase, assetId, amount);
        PeriodDilution storage d = _diluted[spv][period];
        if (t.repurchase) d.repurchased = (uint256(d.repurchased) + amount).toUint96();
        else d.loss = (uint256(d.loss) + amount).toUint96();
        emit ReceivableDiluted(spv, period, assetId, msg.sender, amount, evidence, t.repurchase);
        if (t.repurchase) IERC20(t.currency).safeTransferFrom(msg.sender, address(this), amount);
    }

    /// @dev The caller may dilute `assetId` of `spv`'s pool by `amount` now (with this period's earlier dilutions
    /// of it, at most its principal): returns the period, the receivable's dilution recorded.
    function _admitDilution(address spv, bool repurchase, uint256 assetId, uint256 amount) private returns (uint256 period) {
        IServicedDeal deal = IServicedDeal(spv);
        (IAssetRegistry registry, uint256 poolId, address originator) = deal.servicedPool();
        if (repurchase ? msg.sender != originator : !deal.hasRole(SERVICER_ROLE, msg.sender)) {
            revert NotDealRole(spv, msg.sender, repurchase ? ORIGINATOR : SERVICER_ROLE);
        }
        period = deal.periodsClosed() + 1;
        if (deal.phase() != Phase.Active || deal.pendingServicingPeriod() != 0) revert DilutionNotOpen(spv, period);
        IAssetRegistry.AssetInfo memory info = _infoOf(registry, assetId);
        if (
            info.poolId != poolId || info.status < IAssetRegistry.AssetStatus.Performing
                || info.status > IAssetRegistry.AssetStatus.Delinquent90
        ) revert NotDilutable(assetId);
        uint256 before = _assetDiluted[spv][assetId];
        uint256 total = (before >> 128 == period ? uint128(before) : 0) + amount;
        if (amount == 0 || total > info.principal) revert DilutionAboveBalance(assetId, total, info.principal);
        _assetDiluted[spv][assetId] = (period << 128) | total;
    }

    /// @dev The registry's record of `assetId` (an unregistered asset is not dilutable).
    function _infoOf(IAssetRegistry registry, uint256 assetId) private view returns (IAssetRegistry.AssetInfo memory) {
        try registry.assetInfo(assetId) returns (IAssetRegistry.AssetInfo memory found) {
            return found;
        } catch {
            revert NotDilutable(assetId);
        }
    }

    /// @inheritdoc IServicingCourt
    function takeDilution(uint256 period)
        external
        returns (uint256 loss, uint256 repurchased, uint256 cash, uint256 previous, uint256 limitBps)
    {
        DilutionTerms memory t = _terms[msg.sender];
        if (!t.set) return (0, 0, 0, 0, 0);
        PeriodDilution memory d = _diluted[msg.sender][period];
        PeriodDilution memory p = _diluted[msg.sender][period - 1];
        (loss, repurchased, previous, limitBps) =
            (d.loss, d.repurchased, uint256(p.loss) + p.repurchased, t.earlyAmortizationBps);
        cash = repurchased - d.taken;
        if (cash != 0) {
            _diluted[msg.sender][period].taken = d.repurchased;
            IERC20(t.currency).safeTransfer(msg.sender, cash);
        }
        emit DilutionTaken(msg.sender, period, loss, repurchased, cash);
    }

    /// @inheritdoc IServicingCourt
    function dilutionOf(address spv, uint256 period) external view returns (uint256 loss, uint256 repurchased) {
        PeriodDilution memory d = _diluted[spv][period];
        return (d.loss, d.repurchased);
    }

    /// @inheritdoc IServicingCourt
    function dilutionTerms(address spv) external view returns (bool set, bool repurchase, uint16 earlyAmortizationBps) {
        DilutionTerms memory t = _terms[spv];
        return (t.set, t.repurchase, t.earlyAmortizationBps);
    }

    /// @inheritdoc IServicingCourt
    function challengeSums(address spv, ServicingCommitment calldata c, LoanLeaf calldata leaf, ProofStep[] calldata path)
        external
    {
        uint256 period = _pending(spv, c);
        ServicingTree.Walk memory w = _walkLeaf(period, c, leaf, path);
        if (w.consistent) revert NothingWrong(ChallengeKind.SumMismatch);
        _dispute(spv, period, ChallengeKind.SumMismatch, leaf.assetId);
    }

    /// @inheritdoc IServicingCourt
    function challengeLeaf(address spv, ServicingCommitment calldata c, LoanLeaf calldata leaf, ProofStep[] calldata path)
        external
    {
        uint256 period = _pending(spv, c);
        _walkLeaf(period, c, leaf, path);
        // slither-disable-next-line unused-return -- the deal's originator is not needed to judge a leaf
        (IAssetRegistry registry, uint256 poolId,) = IServicedDeal(spv).servicedPool();
        ChallengeKind kind = ChallengeKind.StatusMismatch;
        bool wrong = false;
        try registry.assetInfo(leaf.assetId) returns (IAssetRegistry.AssetInfo memory info) {
            if (info.poolId != poolId) (wrong, kind) = (true, ChallengeKind.NotInPool);
            else if (uint8(info.status) != leaf.status) (wrong, kind) = (true, ChallengeKind.StatusMismatch);
            else if (
                leaf.status == uint8(IAssetRegistry.AssetStatus.Performing)
                    ? leaf.ending > info.principal
                    : leaf.ending != info.principal
            ) (wrong, kind) = (true, ChallengeKind.PrincipalMismatch);
        } catch {
            (wrong, kind) = (true, ChallengeKind.NotInPool); // not even registered
        }
        if (!wrong && !_identityHolds(leaf)) (wrong, kind) = (true, ChallengeKind.BrokenIdentity);
        if (!wrong) revert NothingWrong(ChallengeKind.StatusMismatch);
        _dispute(spv, period, kind, leaf.assetId);
    }

    /// @inheritdoc IServicingCourt
    function challengeContinuity(
        address spv,
        ServicingCommitment calldata c,
        LoanLeaf calldata leaf,
        ProofStep[] calldata path,
        ServicingCommitment calldata prev,
        LoanLeaf calldata previous,
        ProofStep[] calldata previousPath
    ) external {
        uint256 period = _pending(spv, c);
        if (period < 2 || IServicedDeal(spv).servicingCommitment(period - 1) != ServicingTree.commitmentHash(prev)) {
            revert ProofDoesNotMatch(period - 1);
        }
        _walkLeaf(period, c, leaf, path);
        _walkLeaf(period - 1, prev, previous, previousPath);
        if (previous.assetId != leaf.assetId || previous.ending == leaf.beginning) {
            revert NothingWrong(ChallengeKind.Discontinuity);
        }
        _dispute(spv, period, ChallengeKind.Discontinuity, leaf.assetId);
    }

    /// @inheritdoc IServicingCourt
    function challengeCutoff(
        address spv,
        ServicingCommitment calldata c,
        LoanLeaf calldata leaf,
        ProofStep[] calldata path,
        PurchaseProof calldata cutoff
    ) external {
        uint256 period = _pending(spv, c);
        if (period != 1) revert ProofDoesNotMatch(period);
        _walkLeaf(period, c, leaf, path);
        (IAssetRegistry registry, uint256 poolId, address originator) = IServicedDeal(spv).servicedPool();
        // A batch registered before any report (period 0): the registry's own record, never the sealed root.
        uint256 assetId = _bought(registry, poolId, originator, cutoff, 0);
        if (assetId != leaf.assetId || cutoff.record.principal == leaf.beginning) {
            revert NothingWrong(ChallengeKind.Discontinuity);
        }
        _dispute(spv, period, ChallengeKind.Discontinuity, leaf.assetId);
    }

    /// @inheritdoc IServicingCourt
    function challengePurchase(
        address spv,
        ServicingCommitment calldata c,
        LoanLeaf calldata leaf,
        ProofStep[] calldata path,
        PurchaseProof calldata purchase
    ) external {
        uint256 period = _pending(spv, c);
        if (period < 2) revert ProofDoesNotMatch(period - 1);
        _walkLeaf(period, c, leaf, path);
        (IAssetRegistry registry, uint256 poolId, address originator) = IServicedDeal(spv).servicedPool();
        // The batch bought while the previous period's report was pending: this tape is the receivable's first.
        uint256 assetId = _bought(registry, poolId, originator, purchase, period - 1);
        if (assetId != leaf.assetId || purchase.record.principal == leaf.beginning) {
            revert NothingWrong(ChallengeKind.Discontinuity);
        }
        _dispute(spv, period, ChallengeKind.Discontinuity, leaf.assetId);
    }

    /// @inheritdoc IServicingCourt
    function challengeMissing(
        address spv,
        ServicingCommitment calldata c,
        Registration calldata registration,
        Neighbours calldata n
    ) external {
        uint256 period = _pending(spv, c);
        (IAssetRegistry registry, uint256 poolId, address originator) = IServicedDeal(spv).servicedPool();
        // onboarded (period 0) or bought while an earlier report was pending (before this one was submitted)
        if (registration.period >= period) revert ProofDoesNotMatch(registration.period);
        uint256 assetId = _bought(registry, poolId, originator, registration.batch, registration.period);
        if (n.hasBelow) _walkLeaf(period, c, n.below, n.belowPath);
        if (n.hasAbove) _walkLeaf(period, c, n.above, n.abovePath);
        bool adjacent = n.hasBelow
            ? (n.hasAbove ? n.above.index == n.below.index + 1 : n.below.index + 1 == c.sums.count)
            : n.hasAbove && n.above.index == 0;
        if (
            !adjacent || (n.hasBelow && n.below.assetId >= assetId) || (n.hasAbove && n.above.assetId <= assetId)
                || registry.assetInfo(assetId).poolId != poolId
        ) revert NothingWrong(ChallengeKind.Gap);
        _dispute(spv, period, ChallengeKind.Gap, assetId);
    }

    /// @dev `p` is a receivable bought into `poolId` while `period`'s report was pending: its batch replays from
    /// `p.before` to the registry's checkpoint for that period, and `p.record` is the batch's leaf at
    /// `p.position`. Returns the record's asset id.
    function _bought(
        IAssetRegistry registry,
        uint256 poolId,
        address originator,
        PurchaseProof calldata p,
        uint256 period
    )
        private
        view
        returns (uint256)
    {
        bytes32 chainHash = p.before;
        bytes32[] calldata leaves = p.leaves;
        for (uint256 k = 0; k < leaves.length; ++k) {
            chainHash = keccak256(abi.encode(chainHash, leaves[k]));
        }
        if (
            p.position >= leaves.length
                || registry.purchaseCheckpoint(poolId, p.firstIndex)
                    != keccak256(abi.encode(p.before, chainHash, period))
                || leaves[p.position] != keccak256(bytes.concat(keccak256(abi.encode(originator, p.record))))
        ) revert ProofDoesNotMatch(period);
        return registry.assetIdOf(originator, p.record.loanId);
    }

    /// @inheritdoc IServicingCourt
    function challengeOrder(
        address spv,
        ServicingCommitment calldata c,
        LoanLeaf calldata a,
        ProofStep[] calldata pathA,
        LoanLeaf calldata b,
        ProofStep[] calldata pathB
    ) external {
        uint256 period = _pending(spv, c);
        _walkLeaf(period, c, a, pathA);
        _walkLeaf(period, c, b, pathB);
        if (b.index != a.index + 1 || a.assetId < b.assetId) revert NothingWrong(ChallengeKind.OutOfOrder);
        _dispute(spv, period, ChallengeKind.OutOfOrder, b.assetId);
    }

    /// @inheritdoc IServicingCourt
    function challengeGap(
        address spv,
        ServicingCommitment calldata c,
        uint256 index,
        bool empty,
        LoanLeaf calldata leaf,
        ProofStep[] calldata path
    ) external {
        uint256 period = _pending(spv, c);
        if (empty) {
            TapeSums memory none = TapeSums(0, 0, 0, 0, 0, 0, 0);
            _check(ServicingTree.walk(bytes32(0), none, index, path), c, path, period);
            if (index >= c.sums.count) revert NothingWrong(ChallengeKind.Gap);
            _dispute(spv, period, ChallengeKind.Gap, index);
        } else {
            _walkLeaf(period, c, leaf, path);
            if (leaf.index < c.sums.count) revert NothingWrong(ChallengeKind.Gap);
            _dispute(spv, period, ChallengeKind.Gap, leaf.assetId);
        }
    }

    /// @inheritdoc IServicingCourt
    function buyBack(address spv, LoanLeaf calldata leaf, ProofStep[] calldata path, ServicingCommitment calldata c)
        external
    {
        IServicedDeal deal = IServicedDeal(spv);
        uint256 closed = deal.periodsClosed();
        _notDilutedNow(spv, leaf.assetId, closed + 1);
        uint256 principal;
        if (closed == 0) {
            // slither-disable-next-line unused-return -- only the registry and the pool are needed here
            (IAssetRegistry registry, uint256 poolId,) = deal.servicedPool();
            IAssetRegistry.PoolInfo memory pool = registry.poolInfo(poolId);
            // The registry's principals only go down (updateAssets refuses an increase) and the pool's principal
            // goes down with them: with nothing bought in, the pool's principal plus its repurchases equals its
            // cut-off principal only while every loan still in it is at its sealed cut-off principal.
            if (
                pool.registered != pool.cutoffCount
                    || uint256(pool.principal) + registry.servicingFigures(poolId).flows.repurchased
                        != pool.cutoffPrincipal
            ) revert BalanceNotProven(leaf.assetId);
            principal = registry.assetInfo(leaf.assetId).principal;
        } else {
            if (deal.servicingCommitment(closed) != ServicingTree.commitmentHash(c)) revert ProofDoesNotMatch(closed);
            _walkLeaf(closed, c, leaf, path);
            if (!ServicingTree.isActive(leaf.status)) revert NothingWrong(ChallengeKind.StatusMismatch);
            principal = leaf.ending;
        }
        deal.buyBack(msg.sender, leaf.assetId, principal);
    }

    /// @inheritdoc IServicingCourt
    function buyBackBought(address spv, PurchaseProof calldata purchase) external {
        IServicedDeal deal = IServicedDeal(spv);
        (IAssetRegistry registry, uint256 poolId, address originator) = deal.servicedPool();
        uint256 closed = deal.periodsClosed();
        // bought while the last closed period's report was pending: its last proven balance is its purchase price
        uint256 assetId = _bought(registry, poolId, originator, purchase, closed);
        _notDilutedNow(spv, assetId, closed + 1);
        deal.buyBack(msg.sender, assetId, purchase.record.principal);
    }

    /// @inheritdoc IServicingCourt
    function assetDilution(address spv, uint256 assetId) external view returns (uint256 period, uint256 amount) {
        uint256 d = _assetDiluted[spv][assetId];
        return (d >> 128, uint128(d));
    }

    /// @inheritdoc IServicingCourt
    function challengeDilution(
        address spv,
        ServicingCommitment calldata c,
        LoanLeaf calldata leaf,
        ProofStep[] calldata path
    ) external {
        uint256 period = _pending(spv, c);
        _walkLeaf(period, c, leaf, path);
        uint256 d = _assetDiluted[spv][leaf.assetId];
        // A receivable is diluted only while no report is pending, so the pending report's period is the one the
        // court recorded its dilutions in.
        uint256 diluted = d >> 128 == period ? uint128(d) : 0;
        if (diluted <= (_terms[spv].repurchase ? leaf.prepaid : leaf.defaulted)) {
            revert NothingWrong(ChallengeKind.UnbookedDilution);
        }
        _dispute(spv, period, ChallengeKind.UnbookedDilution, leaf.assetId);
    }

    // ---------------------------------------------------------------------------------------- internals

    /// @dev The SPV's pending period, whose commitment must be `c`.
    function _pending(address spv, ServicingCommitment calldata c) private view returns (uint256 period) {
        period = IServicedDeal(spv).pendingServicingPeriod();
        if (period == 0 || IServicedDeal(spv).servicingCommitment(period) != ServicingTree.commitmentHash(c)) {
            revert ProofDoesNotMatch(period);
        }
    }

    function _walkLeaf(uint256 period, ServicingCommitment calldata c, LoanLeaf calldata leaf, ProofStep[] calldata path)
        private
        pure
        returns (ServicingTree.Walk memory w)
    {
        w = ServicingTree.walk(ServicingTree.leafHash(period, leaf), ServicingTree.leafSums(leaf), leaf.index, path);
        _check(w, c, path, period);
    }

    /// @dev The walk reached the committed root over a path of the tree's depth.
    function _check(ServicingTree.Walk memory w, ServicingCommitment calldata c, ProofStep[] calldata path, uint256 period)
        private
        pure
    {
        if (path.length != ServicingTree.depth(c.sums.count) || !w.reaches(c)) revert ProofDoesNotMatch(period);
    }

    function _dispute(address spv, uint256 period, ChallengeKind kind, uint256 assetId) private {
        IServicedDeal(spv).markDisputed(period, kind, assetId, msg.sender);
    }

    /// @dev A receivable diluted in the current `period` stays in the pool until that period's report counts the
    /// dilution on its leaf (bought back now, it would leave no true report possible).
    function _notDilutedNow(address spv, uint256 assetId, uint256 period) private view {
        if (_assetDiluted[spv][assetId] >> 128 == period) revert DilutedThisPeriod(assetId, period);
    }

    /// @dev The tape conventions (`interfaces/IServicing.sol`); a sum that would overflow breaks them.
    function _identityHolds(LoanLeaf calldata l) private pure returns (bool) {
        uint8 st = l.status;
        (bool ok, uint256 out) = _add3(l.scheduled, l.prepaid, l.defaulted);
        if (!ok) return false;
        if (ServicingTree.isActive(st)) {
            (bool fits, uint256 total) = _add3(out, l.ending, 0);
            return fits && total == l.beginning && l.recoveries == 0;
        }
        if (st == uint8(IAssetRegistry.AssetStatus.Prepaid) || st == uint8(IAssetRegistry.AssetStatus.Repaid)) {
            return l.ending == 0 && out == l.beginning && l.recoveries == 0;
        }
        if (l.defaulted != 0) {
            // Defaulted this period: what was outstanding left the pool; the claim is at most what defaulted.
            return out == l.beginning && l.ending <= l.defaulted;
        }
        // In recovery or closed after it: no scheduled or prepaid principal; the claim only goes down.
        bool closed = st == uint8(IAssetRegistry.AssetStatus.Disposed) || st == uint8(IAssetRegistry.AssetStatus.ChargedOff);
        return out == 0 && l.ending <= l.beginning && (!closed || l.ending == 0);
    }

    function _add3(uint256 a, uint256 b, uint256 c) private pure returns (bool, uint256) {
        unchecked {
            uint256 ab = a + b;
            uint256 abc = ab + c;
            return (ab >= a && abc >= ab, abc);
        }
    }
}
