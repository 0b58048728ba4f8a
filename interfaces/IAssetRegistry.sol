// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title IPoolOwner
/// @notice What the asset registry asks the owner of a pool (when the owner is a contract, e.g. an SPV) before
/// servicing updates: whether they must wait (a period report on the pool is pending and its figures, checked
/// against the registry, must not move until its close).
interface IPoolOwner {
    function servicingLocked(uint256 poolId) external view returns (bool);
}

/// @title IPoolPurchaser
/// @notice The owner of a revolving pool (an SPV in its revolving period): pays for receivables its pool's
/// originator sells into the pool, or reverts to refuse them (the registration is then undone).
interface IPoolPurchaser {
    /// @notice `seller` (the pool's originator) registered `count` receivables of `principal` into `poolId`;
    /// called by the registry only, after the registration and its concentration checks.
    function onPoolPurchase(uint256 poolId, address seller, uint256 count, uint256 principal) external;
}

/// @title IServicingCalendar
/// @notice What the registry reads of a pool's owner when receivables are sold into the pool (an SPV answers
/// it): the period whose report is pending, i.e. the purchase joins the next period's servicing tape. An owner
/// without this view (or whose call fails) is recorded as period 0.
interface IServicingCalendar {
    function pendingServicingPeriod() external view returns (uint256);
}

/// @title IAssetRegistry
/// @notice Tamper-evident certificates (ERC-721 tokens) for the underlying assets of an ABS deal, grouped in
/// pools with on-chain eligibility criteria, concentration limits, a Merkle commitment of the cut-off tape and
/// pool-level ownership so that a whole pool changes hands (true sale) in one transaction whatever its size.
///
/// Storage per asset is ONE slot (status, pool, outstanding principal, rate, maturity, region, industry); the
/// full record travels in calldata and is committed as its OpenZeppelin StandardMerkleTree leaf
/// `keccak256(bytes.concat(keccak256(abi.encode(originator, record...))))`, emitted in {AssetsRegistered}.
/// The record's ABI types are defined once in Python (`chainabs.merkle.LEAF_TYPES`) and mirrored by
/// `(address originator, AssetRecord)`; a test holds them equal.
///
/// ERC-721 event semantics (a documented departure from ERC-721): registration mints a batch's certificates
/// with ONE {AssetsRegistered} event carrying their ids and leaves, and no per-asset `Transfer(0, originator,
/// id)` (it saves ~1,600 gas per asset); indexers read the mints from it. A pool changes owner with ONE
/// {PoolTransferred} event and no per-asset `Transfer` (that is
/// what makes the true sale O(1) whatever the pool's size); indexers must apply it to every asset of the pool,
/// and `ownerOf`/`balanceOf` always answer from current state. Pooled assets cannot be approved one by one
/// (they move only with their pool, through `approvePool`), so no stale approval survives a sale or a
/// repurchase. A repurchase emits `Transfer(poolOwner, originator, id)`; released assets then move like any
/// ERC-721 token.
///
/// Between its seal and its first sale a pool is frozen: no status or principal update, no repurchase
/// ({PoolAwaitingSale}), so that the buyer pays for exactly the sealed cut-off tape.
interface IAssetRegistry {
    /// @notice Lifecycle status of an asset. `None` means not registered.
    enum AssetStatus {
        None,
        Performing,
        Delinquent30,
        Delinquent60,
        Delinquent90,
        Defaulted,
        Prepaid,
        Repaid,
        Repurchased,
        InRecovery,
        Repossessed,
        Disposed,
        ChargedOff
    }

    /// @notice Eligibility rules checked per asset when it is pooled (named in {IneligibleAsset}).
    enum Rule {
        AssetType,
        ZeroPrincipal,
        PrincipalAboveOriginal,
        PrincipalCap,
        RateRange,
        Term,
        OriginationAfterCutoff,
        MaturedAtCutoff,
        MaturityAfterLegalFinal,
        RemainingTerm,
        Delinquency,
        ObligorOrder,
        Encoding
    }

    /// @notice Concentration buckets (named in {ConcentrationBreached}).
    enum Bucket {
        Region,
        Industry,
        Obligor
    }

    /// @notice What makes pool criteria invalid (named in {InvalidCriteria}).
    enum CriteriaRule {
        AssetTypes,
        RateRange,
        Dates,
        PrincipalCap,
        ConcentrationBps
    }

    /// @notice One asset of a loan tape, as sent in calldata (the originator is the pool's originator).
    /// Amounts in the deal currency's base units, rates in basis points, dates in unix seconds (UTC).
    struct AssetRecord {
        bytes32 loanId; // originator's loan number, ASCII left-aligned (<= 31 chars)
        uint8 assetType; // 0 consumer loan, 1 trade receivable, 2 lease, 3 mortgage, 4 rent, 5 auto loan
        uint96 originalPrincipal;
        uint96 principal; // outstanding principal at the cut-off date
        uint16 rateBps; // annual interest rate
        uint16 termMonths; // original term
        uint40 originationDate;
        uint40 maturityDate;
        uint16 daysDelinquent; // at the cut-off date
        uint8 region; // bucket code, e.g. GB/T 2260 province code (11 Beijing ... 65 Xinjiang)
        uint8 industry; // bucket code, e.g. GB/T 4754 division (01..97)
        bytes32 obligor; // salted hash of the obligor's identity, never personal data
        bytes32 contractHash; // hash of the loan contract document
        bytes32 scheduleHash; // hash of the repayment schedule
    }

    /// @notice The same record packed for onboarding calldata (6 words instead of 14: about 1,000 gas less per
    /// asset). `terms` = originalPrincipal | principal << 96 | rateBps << 192 | termMonths << 208 |
    /// assetType << 224; `dates` = originationDate | maturityDate << 40 | daysDelinquent << 80 | region << 96 |
    /// industry << 104; unused high bits must be zero. The leaf is computed from the unpacked fields, exactly
    /// as for {AssetRecord}.
    struct PackedRecord {
        bytes32 loanId;
        uint256 terms;
        uint256 dates;
        bytes32 obligor;
        bytes32 contractHash;
        bytes32 scheduleHash;
    }

    /// @notice Eligibility criteria of a pool, fixed when the pool is created.
    struct PoolCriteria {
        uint40 cutoffDate; // assets must be originated before it, not matured at it
        uint40 legalFinalDate; // assets must mature no later than it
        uint16 allowedAssetTypes; // bit i set: asset type i allowed
        uint16 minRateBps;
        uint16 maxRateBps;
        uint32 maxRemainingTermDays; // maturity - cut-off
        uint16 maxDaysDelinquent; // at the cut-off date
        uint96 maxPrincipalPerAsset;
        uint16 maxRegionBps; // share of pool principal per region at seal
        uint16 maxIndustryBps; // share of pool principal per industry at seal
        uint16 maxObligorBps; // share of pool principal per obligor at seal
    }

    /// @notice A servicer's (or disposal agent's) update of one asset.
    struct StatusUpdate {
        uint256 assetId;
        AssetStatus status;
        uint96 principal; // new outstanding principal (never above the current one); of a defaulted asset: the claim
        bytes32 evidence; // hash of the evidence (servicing report, court filing, bank statement, sale deed ...)
        uint96 recovered; // cash recovered on a defaulted asset with this update (sale proceeds, payments); else 0
    }

    /// @notice A pool's cumulative flows recorded loan by loan since its registration (what a period report's
    /// status-based figures are checked against, period by period).
    struct PoolFlows {
        uint128 defaulted; // principal of the assets at the moment they defaulted
        uint128 prepaidInFull; // principal of the assets at the moment they were prepaid in full
        uint128 repaid; // principal of the assets at the moment they were paid off at maturity
        uint128 recoveries; // cash recovered on defaulted assets
        uint128 repurchased; // principal of the assets bought back out of the pool
    }

    /// @notice What a pool's servicing figures are on chain now: its size, the principal per delinquency bucket,
    /// the claims of its defaulted assets still in recovery, its cumulative flows and its servicing parties.
    struct ServicingFigures {
        uint64 count;
        uint128 principal;
        uint128 delinquent30;
        uint128 delinquent60;
        uint128 delinquent90;
        uint128 defaultedClaims; // principal (claim) of Defaulted, InRecovery and Repossessed assets
        PoolFlows flows;
        address servicer;
        address disposalAgent;
    }

    /// @notice A pool's state and aggregates. Weighted averages are by current outstanding principal,
    /// rounded down; `waRemainingTermDays` is measured from the block timestamp of the call.
    struct PoolInfo {
        address originator;
        address owner;
        address approved;
        bool isSealed;
        uint64 registered; // assets ever registered in the pool (the onboarding cursor)
        uint64 count; // assets currently in the pool (registered minus repurchased)
        uint128 principal; // current outstanding principal
        uint128 cutoffPrincipal; // principal when sealed
        uint64 cutoffCount; // count when sealed
        uint16 waRateBps;
        uint40 waMaturityDate;
        uint32 waRemainingTermDays;
        bytes32 root; // Merkle root of the cut-off tape (StandardMerkleTree)
        bytes32 leafChain; // running hash of the registered leaves, in registration order
        bytes32 maxObligor; // obligor with the largest cut-off exposure ...
        uint128 maxObligorPrincipal; // ... and that exposure
        bool sold; // has left its originator once since its seal (servicing and repurchases are open from then)
    }

    /// @notice One asset's on-chain state.
    struct AssetInfo {
        AssetStatus status;
        uint256 poolId; // 0 once repurchased
        uint96 principal;
        uint16 rateBps;
        uint40 maturityDate;
        uint8 region;
        uint8 industry;
        address owner;
    }

    /// @notice A pool was created by `originator` with `criteria`; the originator owns it.
    event PoolCreated(uint256 indexed poolId, address indexed originator, PoolCriteria criteria);
    /// @notice `seller` (the pool's originator) sold `count` receivables of `principal` into sold pool `poolId`
    /// owned by `owner` (a revolving purchase, paid by the owner in the same transaction).
    event ReceivablesSold(
        uint256 indexed poolId, address indexed seller, address indexed owner, uint256 count, uint256 principal
    );

    /// @notice `leaves.length` assets (registration indices `firstIndex`..) were registered into `poolId`: the
    /// j-th has certificate (token) id `assetIds[j]`, minted to the pool's originator (or, bought into a sold
    /// pool, held by the pool's owner), and `leaves[j]` is the StandardMerkleTree leaf of its full record;
    /// `leafChain` is the pool's running hash after it. This event is the certificates' mint: no per-asset
    /// `Transfer(0, originator, id)` (one event per batch costs ~520 gas per asset against ~1,875 for a
    /// `Transfer` per asset); the records themselves are in the transaction's calldata.
    event AssetsRegistered(
        uint256 indexed poolId,
        uint256 firstIndex,
        uint256 principal,
        bytes32 leafChain,
        bytes32[] leaves,
        uint256[] assetIds
    );
    /// @notice `poolId` keeps each obligor's live exposure (sum of its assets' outstanding principal), so that
    /// its obligor limit holds for the live pool after every purchase ({sellIntoPool}).
    event ObligorsTracked(uint256 indexed poolId);
    /// @notice `poolId` was sealed with the Merkle `root` of its cut-off tape.
    event PoolSealed(uint256 indexed poolId, bytes32 root, bytes32 leafChain, uint256 count, uint256 principal);
    /// @notice The whole of `poolId` (`assetCount` assets) changed owner from `from` to `to`.
    event PoolTransferred(uint256 indexed poolId, address indexed from, address indexed to, uint256 assetCount);
    /// @notice `owner` approved `operator` to transfer `poolId` (zero: approval cleared).
    event PoolApproved(uint256 indexed poolId, address indexed owner, address indexed operator);
    /// @notice The servicer changed an asset's status and/or outstanding principal.
    event AssetStatusChanged(
        uint256 indexed assetId,
        uint256 indexed poolId,
        AssetStatus from,
        AssetStatus to,
        uint256 principal,
        bytes32 evidence
    );
    /// @notice `amount` of cash was recovered on defaulted `assetId` (evidence: sale deed, bank statement ...).
    event RecoveryRecorded(uint256 indexed assetId, uint256 indexed poolId, uint256 amount, bytes32 evidence);
    /// @notice The owner of `poolId` named its servicer (loan-level updates) and its disposal agent (recovery steps).
    event PoolServicersSet(uint256 indexed poolId, address servicer, address disposalAgent);
    /// @notice The originator bought `assetId` back out of `poolId` (breach of representations).
    event AssetRepurchased(
        uint256 indexed assetId, uint256 indexed poolId, address indexed originator, uint256 principal, bytes32 evidence
    );

    /// @notice The admin attached the shared invoice ledger (see IInvoiceLedger): from now on every trade
    /// receivable pooled here must be confirmed by its debtor and is recorded there as financed.
    event InvoiceLedgerSet(address indexed ledger);

    error UnknownPool(uint256 poolId);
    /// @notice The invoice ledger is attached once and for all (`ledger` is attached).
    error InvoiceLedgerAlreadySet(address ledger);
    error NotPoolOriginator(uint256 poolId, address caller);
    error NotPoolOperator(uint256 poolId, address caller);
    error PoolAlreadySealed(uint256 poolId);
    error PoolNotSealed(uint256 poolId);
    /// @notice The pool is sealed but not yet sold: it cannot change before its sale.
    error PoolAwaitingSale(uint256 poolId);
    error EmptyBatch(uint256 poolId);
    error EmptyPool(uint256 poolId);
    error InvalidCriteria(CriteriaRule rule);
    error IneligibleAsset(uint256 index, Rule rule);
    error AssetAlreadyRegistered(uint256 index, uint256 assetId);
    error LeafChainMismatch(uint256 poolId, bytes32 expected, bytes32 actual);
    error InvalidRoot(uint256 poolId);
    error ConcentrationBreached(
        uint256 poolId, Bucket kind, bytes32 bucket, uint256 bucketPrincipal, uint256 poolPrincipal, uint16 limitBps
    );
    error InvalidPoolReceiver(uint256 poolId, address to);
    error UnknownAsset(uint256 assetId);
    error AssetNotPooled(uint256 assetId);
    error AssetInPool(uint256 assetId, uint256 poolId);
    error IllegalTransition(uint256 assetId, AssetStatus from, AssetStatus to);
    error PrincipalIncrease(uint256 assetId, uint256 current, uint256 proposed);
    error PrincipalNotZero(uint256 assetId, AssetStatus to, uint256 principal);
    /// @notice `caller` is not the servicer of `poolId` (nor its disposal agent for a recovery step).
    error NotPoolServicer(uint256 poolId, address caller);
    /// @notice `poolId`'s servicing is locked while a period report on it is pending.
    error PoolServicingLocked(uint256 poolId);
    /// @notice Cash can be recovered only on a defaulted asset (Defaulted, InRecovery, Repossessed).
    error RecoveryNotAllowed(uint256 assetId, AssetStatus status);
    /// @notice Obligor tracking must start before the pool's first registration.
    error PoolNotEmpty(uint256 poolId);
    /// @notice The pool has an obligor limit and does not track its obligors: it cannot take purchases
    /// (its obligors' live exposures are unknown), or it has no obligor sums to read.
    error ObligorsNotTracked(uint256 poolId);
    /// @notice Record `index`, of obligor `obligor`, would bring a pool that tracks obligors above 65,536 of them.
    error TooManyObligors(uint256 index, bytes32 obligor);

    /// @notice Attach the network's shared invoice ledger (DEFAULT_ADMIN_ROLE; once): every later registration of
    /// a trade receivable (asset type 1) is checked and recorded there in the same transaction.
    function setInvoiceLedger(address ledger) external;

    /// @notice The attached invoice ledger (zero: none).
    function invoiceLedger() external view returns (address);

    /// @notice Create a pool owned by the caller (ORIGINATOR_ROLE) with fixed eligibility `criteria`.
    function createPool(PoolCriteria calldata criteria) external returns (uint256 poolId);

    /// @notice Keep the live exposure of every obligor of `poolId` (the pool's originator, before its first
    /// registration; emits {ObligorsTracked}): onboarding then writes one index and one half-slot sum per new
    /// obligor and every principal reduction (servicing update, repurchase) updates its obligor's sum. Needed
    /// for purchases into a pool with an obligor limit ({sellIntoPool}); static pools need not pay for it.
    function trackObligors(uint256 poolId) external;

    /// @notice Live exposure of `obligor` in `poolId` (the outstanding principal of its pooled assets); reverts
    /// {ObligorsNotTracked} for a pool that does not track its obligors.
    function obligorExposure(uint256 poolId, bytes32 obligor) external view returns (uint256);

    /// @notice Register `records` as certificates and add them to open pool `poolId` (its originator only).
    /// Each record is checked against the pool's criteria; records must come in non-decreasing obligor order
    /// across the pool so that per-obligor exposure is summed in O(1). Reverts whole on any failure. Each batch
    /// leaves a checkpoint for fraud proofs ({purchaseCheckpoint}, period 0).
    function registerAndPool(uint256 poolId, PackedRecord[] calldata records) external;

    /// @notice Sell new receivables into sold pool `poolId` (a revolving purchase; the pool's originator only):
    /// `records` are registered as `registerAndPool` does, eligible on the pool's criteria with the current time
    /// in place of the cut-off date, sorted by obligor within the batch. The live pool must then hold within its
    /// concentration limits: every region and industry on the pool's running sums, and every obligor of the
    /// batch on its live exposure (its receivables already in the pool plus the batch's; a pool with an obligor
    /// limit below 100% must track its obligors, see {trackObligors}, else `ObligorsNotTracked`), else
    /// `ConcentrationBreached` naming the obligor, its exposure, the live total and the limit. Then the pool's owner is called (`IPoolPurchaser.onPoolPurchase`), which pays
    /// the originator at par or reverts (a pool owned by an account without code cannot be sold into).
    /// Each batch leaves a checkpoint for fraud proofs ({purchaseCheckpoint}). Emits {ReceivablesSold} and the
    /// registration's events.
    function sellIntoPool(uint256 poolId, PackedRecord[] calldata records) external;

    /// @notice Seal `poolId` with the Merkle `root` of its cut-off tape. `leafChain` must equal the on-chain
    /// running hash of the registered leaves. The root is the originator's claim, not checked here: anyone checks
    /// it off chain against the leaves of the {AssetsRegistered} events (`chainabs status` does), and no fraud
    /// proof relies on it (they replay the leaf chain, {purchaseCheckpoint}). Concentration limits are checked
    /// here.
    function seal(uint256 poolId, bytes32 root, bytes32 leafChain) external;

    /// @notice Transfer the whole pool (true sale, clean-up call) to `to`: pool owner, its approved operator or
    /// an ERC-721 operator of the owner only; sealed pools only.
    function transferPool(uint256 poolId, address to) external;

    /// @notice Approve `operator` to transfer `poolId` (cleared on transfer). Pool owner only.
    function approvePool(uint256 poolId, address operator) external;

    /// @notice Loan-level status, principal and recovery updates of pooled assets of sold pools: by the pool's
    /// servicer, or by its disposal agent for the steps of a defaulted asset's recovery. Each update carries its
    /// evidence hash. A sealed pool awaiting its sale is frozen, and a pool whose owner (the SPV) answers
    /// `IPoolOwner.servicingLocked` true (a period report on it is pending) waits for that report's close.
    function updateAssets(StatusUpdate[] calldata updates) external;

    /// @notice Name the servicer and the disposal agent of `poolId` (the pool owner: the originator before the
    /// sale, the SPV after it).
    function setPoolServicers(uint256 poolId, address servicer, address disposalAgent) external;

    /// @notice The servicing figures of `poolId` a period report is checked against.
    function servicingFigures(uint256 poolId) external view returns (ServicingFigures memory);

    /// @notice Release `assetId` from its pool to the pool's originator (buy-back for a breach of
    /// representations): pool owner or its approved operator only (the originator before the true sale, the
    /// SPV after it). The only way an asset ever leaves a pool; not before the pool's sale (frozen).
    function repurchase(uint256 assetId, bytes32 evidence) external;

    /// @notice Owner of pool `poolId`.
    function poolOwner(uint256 poolId) external view returns (address);

    /// @notice Address approved to transfer pool `poolId`.
    function poolApproved(uint256 poolId) external view returns (address);

    /// @notice The checkpoint every registration batch of `poolId` left, keyed by the batch's `firstIndex` (its
    /// {AssetsRegistered} event): keccak256(abi.encode(before, after, period)) where `before` and `after` are the
    /// pool's `leafChain` before and after the batch and `period` is 0 for an onboarding batch
    /// ({registerAndPool}) and, for a revolving purchase ({sellIntoPool}), the owner's pending servicing period
    /// at the purchase ({IServicingCalendar}; 0 if it has none). The batch's assets' first servicing tape is
    /// `period + 1`. Zero for an index that starts no batch. With the batch's leaves (its event) anyone proves on
    /// chain that a record was registered at its principal in that batch, against what the registry computed
    /// itself rather than the root its originator sealed the pool with (`ServicingCourt.challengeCutoff`,
    /// `challengePurchase`, `challengeMissing`).
    function purchaseCheckpoint(uint256 poolId, uint256 firstIndex) external view returns (bytes32);

    /// @notice State and aggregates of pool `poolId`.
    function poolInfo(uint256 poolId) external view returns (PoolInfo memory);

    /// @notice Eligibility criteria of pool `poolId`.
    function poolCriteria(uint256 poolId) external view returns (PoolCriteria memory);

    /// @notice Number of pools created (ids are 1..poolCount).
    function poolCount() external view returns (uint256);

    /// @notice Current outstanding principal of `poolId` per bucket code of `kind` (Region or Industry), for
    /// the codes present in the pool, in ascending code order.
    function concentration(uint256 poolId, Bucket kind)
        external
        view
        returns (uint8[] memory codes, uint256[] memory principals);

    /// @notice Number of assets and outstanding principal of `poolId` in `status`.
    function statusTally(uint256 poolId, AssetStatus status) external view returns (uint64 count, uint128 principal);

    /// @notice On-chain state of `assetId`.
    function assetInfo(uint256 assetId) external view returns (AssetInfo memory);

    /// @notice How many of `assetIds` are registered (resume checks).
    function countRegistered(uint256[] calldata assetIds) external view returns (uint256);




    /// @notice Token id of the asset `loanId` of `originator`: uint256(keccak256(abi.encode(originator, loanId))).
    function assetIdOf(address originator, bytes32 loanId) external pure returns (uint256);

    /// @notice True when `proof` shows the record whose hash is `recordHash` =
    /// keccak256(abi.encode(originator, record)) is in the sealed cut-off tape of `poolId` (the leaf is
    /// keccak256(bytes.concat(recordHash)), computed here, so an internal node can never pass for a leaf).
    function verifyRecordHash(uint256 poolId, bytes32 recordHash, bytes32[] calldata proof) external view returns (bool);

    /// @notice True when `proof` shows `record` (of the pool's originator) is in the cut-off tape of `poolId` as
    /// committed by its sealed root (an investor's check, valid only once the root is checked against the
    /// registered leaves; the court never relies on it).
    function verifyRecord(uint256 poolId, AssetRecord calldata record, bytes32[] calldata proof)
        external
        view
        returns (bool);
}
