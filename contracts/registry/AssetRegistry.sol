// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {ERC721} from "@openzeppelin/contracts/token/ERC721/ERC721.sol";
import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {LibBit} from "solady/utils/LibBit.sol";
import {IAssetRegistry, IPoolOwner, IPoolPurchaser, IServicingCalendar} from "../../interfaces/IAssetRegistry.sol";
import {IInvoiceLedger} from "../../interfaces/IInvoiceLedger.sol";
import {AssetLib} from "./AssetLib.sol";

/// @title AssetRegistry
/// @notice One ERC-721 certificate per underlying asset, one storage slot per asset, pools with on-chain
/// eligibility and concentration limits, a StandardMerkleTree commitment of the cut-off tape and pool-level
/// ownership (see {IAssetRegistry} for the event semantics).
contract AssetRegistry is IAssetRegistry, ERC721, AccessControl {
    using AssetLib for uint256;
    using SafeCast for uint256;

    /// @notice May create pools and register assets into them.
    bytes32 public constant ORIGINATOR_ROLE = keccak256("ORIGINATOR_ROLE");

    uint256 private constant _BPS = 10_000;
    uint256 private constant _SECONDS_PER_DAY = 86_400;
    uint256 private constant _ACTIVE_STATUSES = 4; // Performing .. Delinquent90: possible initial statuses
    uint256 private constant _STATUSES = 13; // AssetStatus values

    // A batch writes the slot of principal, registered and count, not the owner's or originator's slot.
    struct Pool {
        address originator;
        bool isSealed;
        bool sold; // has left its originator once (true sale): servicing and repurchases are possible from then

        uint16 regionBuckets; // distinct region codes in the pool (dense indices 0 .. regionBuckets - 1)
        uint16 industryBuckets;
        bool tracksObligors; // keeps each obligor's live sum (see {trackObligors})
        uint32 obligors; // distinct obligors of a pool that tracks them (dense indices 0 .. obligors - 1)
        address owner;
        uint64 cutoffCount;
        address approved;
        uint128 principal;
        uint64 registered;
        uint64 count;
        uint128 cutoffPrincipal;
        uint256 rateWeighted; // sum of principal * rateBps
        uint256 maturityWeighted; // sum of principal * maturityDate
        bytes32 leafChain;
        bytes32 root;
        bytes32 lastObligor;
        bytes32 maxObligor;
        uint128 lastObligorPrincipal;
        uint128 maxObligorPrincipal;
        PoolCriteria criteria;
        address servicer;
        address disposalAgent;
        PoolFlows flows;
    }

    /// @dev Concentration buckets of one kind of a pool, packed by order of first appearance: the bucket that
    /// appeared j-th (dense index j) has its code in byte j % 32 of `order[j / 32]` and its principal in
    /// `sums[j / 2]`, bits 128 * (j % 2) .. (a bucket's sum never exceeds the uint128 pool principal, so halves
    /// never carry into each other). Each asset's word holds its buckets' dense indices.
    struct Buckets {
        bytes32[8] order;
        uint256[128] sums;
    }

    struct Tally {
        uint64 count;
        uint128 principal;
    }

    uint256 private _poolCount;
    mapping(uint256 poolId => Pool) private _pools;
    mapping(uint256 assetId => uint256 packed) private _assets;
    mapping(uint256 assetId => address) private _looseOwner; // owner of released (repurchased) assets
    mapping(address owner => uint256) private _holdings;
    // slither-disable-next-line uninitialized-state -- written through storage pointers (_reduce) and by AssetLib.flushBuckets at its slot
    mapping(uint256 poolId => Buckets[2]) private _buckets; // by Bucket kind: Region, Industry
    // slither-disable-next-line uninitialized-state -- written through the storage pointers of _flush and _moveTally
    mapping(uint256 poolId => Tally[_STATUSES]) private _tallies; // by status; Performing derived, not stored
    address private _invoiceLedger; // shared uniqueness record of trade receivables (zero: none)
    // Pools that track obligors: obligor => dense index + 1, and the live sums by dense index, two per slot
    // (index j at bits 128 * (j % 2) of slot j / 2, as bucket sums; AssetLib.MAX_OBLIGORS / 2 slots).
    // slither-disable-next-line uninitialized-state -- written by AssetLib.registerBatch at its slot
    mapping(uint256 poolId => mapping(bytes32 obligor => uint256)) private _obligorIndex;
    mapping(uint256 poolId => uint256[32_768]) private _obligorSums;
    // Every registration batch (onboarding and revolving purchases): per pool and batch (its first registration
    // index), keccak256(abi.encode(leaf chain before, leaf chain after, period)); see {purchaseCheckpoint}.
    mapping(uint256 poolId => mapping(uint256 firstIndex => bytes32)) private _checkpoints;

    constructor(address admin) ERC721("ChainABS Asset Certificate", "ABSA") {
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
    }

    // ------------------------------------------------------------------ pools and onboarding

    /// @inheritdoc IAssetRegistry
    function createPool(PoolCriteria calldata criteria) external onlyRole(ORIGINATOR_ROLE) returns (uint256 poolId) {
        _checkCriteria(criteria);
        poolId = ++_poolCount;
        if (poolId > type(uint32).max) revert UnknownPool(poolId);
        Pool storage p = _pools[poolId];
        p.originator = msg.sender;
        p.owner = msg.sender;
        p.criteria = criteria;
        emit PoolCreated(poolId, msg.sender, criteria);
    }

    /// @inheritdoc IAssetRegistry
    function trackObligors(uint256 poolId) external onlyRole(ORIGINATOR_ROLE) {
        Pool storage p = _openPool(poolId);
        if (p.registered != 0) revert PoolNotEmpty(poolId);
        p.tracksObligors = true;
        emit ObligorsTracked(poolId);
    }

    /// @inheritdoc IAssetRegistry
    function obligorExposure(uint256 poolId, bytes32 obligor) external view returns (uint256) {
        if (!_pool(poolId).tracksObligors) revert ObligorsNotTracked(poolId);
        uint256 j = _obligorIndex[poolId][obligor]; // dense index + 1
        if (j == 0) return 0;
        --j;
        return uint128(_obligorSums[poolId][j >> 1] >> ((j & 1) << 7));
    }

    /// @inheritdoc IAssetRegistry
    function registerAndPool(uint256 poolId, PackedRecord[] calldata records) external onlyRole(ORIGINATOR_ROLE) {
        Pool storage p = _openPool(poolId);
        _register(p, poolId, records, false);
    }

    /// @inheritdoc IAssetRegistry
    function sellIntoPool(uint256 poolId, PackedRecord[] calldata records) external onlyRole(ORIGINATOR_ROLE) {
        Pool storage p = _soldPool(poolId);
        if (p.originator != msg.sender) revert NotPoolOriginator(poolId, msg.sender);
        (uint256 n, uint256 principal) = _register(p, poolId, records, true);
        PoolCriteria storage c = p.criteria;
        // The live pool after the batch: region and industry on their running sums, the batch's obligors on
        // their live sums (a pool with an obligor limit must track them; an obligor not in the batch only sees
        // its share fall).
        uint16 obligorBps = c.maxObligorBps;
        if (obligorBps < _BPS && !p.tracksObligors) revert ObligorsNotTracked(poolId);
        uint256 total = p.principal;
        _checkBuckets(poolId, Bucket.Region, c.maxRegionBps, total);
        _checkBuckets(poolId, Bucket.Industry, c.maxIndustryBps, total);
        uint256 top = AssetLib.get(AssetLib.M_MAX_EXPOSURE);
        if (top * _BPS > total * obligorBps) {
            revert ConcentrationBreached(
                poolId, Bucket.Obligor, bytes32(AssetLib.get(AssetLib.M_MAX_OBLIGOR)), top, total, obligorBps
            );
        }
        address owner = p.owner;
        emit ReceivablesSold(poolId, msg.sender, owner, n, principal);
        IPoolPurchaser(owner).onPoolPurchase(poolId, msg.sender, n, principal);
    }

    /// @dev The checkpoint of the batch registered into `p` from index `first`, whose leaf chain ends at
    /// `chainHash` (see {purchaseCheckpoint}; called before `p.leafChain` moves there): period 0 for an onboarding
    /// batch (its first servicing tape is period 1); for a purchase, the owner's pending period read with a plain
    /// static call (0 if it has no such view or its answer is not one word).
    function _checkpoint(Pool storage p, uint256 poolId, bytes32 chainHash, uint256 first, bool purchase) private {
        uint256 period;
        if (purchase) {
            address owner = p.owner;
            bytes4 selector = IServicingCalendar.pendingServicingPeriod.selector;
            assembly ("memory-safe") {
                mstore(0x00, selector)
                let ok := staticcall(gas(), owner, 0x00, 0x04, 0x00, 0x20) // (Yul evaluates arguments right to left)
                if and(ok, eq(returndatasize(), 0x20)) { period := mload(0x00) }
            }
        }
        _checkpoints[poolId][first] = keccak256(abi.encode(p.leafChain, chainHash, period));
    }

    /// @inheritdoc IAssetRegistry
    function purchaseCheckpoint(uint256 poolId, uint256 firstIndex) external view returns (bytes32) {
        return _checkpoints[poolId][firstIndex];
    }

    /// @dev Register `records` into pool `p` (a purchase: into a sold pool, eligible with the current time in
    /// place of the cut-off date, i.e. originated before now and not matured, its obligor run restarted and its
    /// certificates held by the pool's owner); returns the count and their principal.
    function _register(Pool storage p, uint256 poolId, PackedRecord[] calldata records, bool purchase)
        private
        returns (uint256 n, uint256 principal)
    {
        n = records.length;
        if (n == 0) revert EmptyBatch(poolId);
        bytes32[] memory leaves = _begin(p, poolId, n); // first allocation
        PoolCriteria memory c = p.criteria;
        if (purchase) c.cutoffDate = uint40(block.timestamp);
        AssetLib.loadLimits(c);
        _loadPoolSums(p, poolId, purchase);
        (uint256 outcome, uint256 index, uint256 detail) = AssetLib.registerBatch(records);
        if (outcome == AssetLib.INELIGIBLE) revert IneligibleAsset(index, Rule(detail));
        if (outcome == AssetLib.DUPLICATE) revert AssetAlreadyRegistered(index, detail);
        if (outcome == AssetLib.TOO_MANY_OBLIGORS) revert TooManyObligors(index, bytes32(detail));
        principal = _flush(p, poolId, n, leaves, purchase);
        _holdings[purchase ? p.owner : p.originator] += n; // an open pool is its originator's
        address ledger = _invoiceLedger;
        if (ledger != address(0)) IInvoiceLedger(ledger).recordReceivables(p.originator, poolId, records);
    }

    /// @dev {AssetLib-begin} for pool `p`'s originator and this registry's asset mapping.
    function _begin(Pool storage p, uint256 poolId, uint256 n) private view returns (bytes32[] memory) {
        uint256 assetsSlot;
        assembly ("memory-safe") {
            assetsSlot := _assets.slot
        }
        return AssetLib.begin(poolId, p.originator, assetsSlot, n);
    }

    /// @inheritdoc IAssetRegistry
    function setInvoiceLedger(address ledger) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (_invoiceLedger != address(0)) revert InvoiceLedgerAlreadySet(_invoiceLedger);
        _invoiceLedger = ledger;
        emit InvoiceLedgerSet(ledger);
    }

    /// @inheritdoc IAssetRegistry
    function invoiceLedger() external view returns (address) {
        return _invoiceLedger;
    }

    /// @inheritdoc IAssetRegistry
    function seal(uint256 poolId, bytes32 root, bytes32 leafChain) external onlyRole(ORIGINATOR_ROLE) {
        Pool storage p = _openPool(poolId);
        uint256 count = p.count;
        if (count == 0) revert EmptyPool(poolId);
        if (root == bytes32(0)) revert InvalidRoot(poolId);
        if (leafChain != p.leafChain) revert LeafChainMismatch(poolId, p.leafChain, leafChain);
        uint256 total = p.principal;
        PoolCriteria storage c = p.criteria;
        _checkBuckets(poolId, Bucket.Region, c.maxRegionBps, total);
        _checkBuckets(poolId, Bucket.Industry, c.maxIndustryBps, total);
        uint256 top = p.maxObligorPrincipal;
        if (top * _BPS > total * c.maxObligorBps) {
            revert ConcentrationBreached(poolId, Bucket.Obligor, p.maxObligor, top, total, c.maxObligorBps);
        }
        p.isSealed = true;
        p.root = root;
        p.cutoffPrincipal = uint128(total);
        p.cutoffCount = uint64(count);
        emit PoolSealed(poolId, root, leafChain, count, total);
    }

    // ------------------------------------------------------------------ pool ownership

    /// @inheritdoc IAssetRegistry
    function transferPool(uint256 poolId, address to) external {
        Pool storage p = _sealedPool(poolId);
        address from = p.owner;
        _checkPoolOperator(p, poolId, from);
        if (to == address(0)) revert InvalidPoolReceiver(poolId, to);
        p.owner = to;
        p.approved = address(0);
        if (!p.sold && to != p.originator) p.sold = true;
        uint256 count = p.count;
        _holdings[from] -= count;
        _holdings[to] += count;
        emit PoolTransferred(poolId, from, to, count);
    }

    /// @inheritdoc IAssetRegistry
    function approvePool(uint256 poolId, address operator) external {
        Pool storage p = _pool(poolId);
        address owner = p.owner;
        if (msg.sender != owner) revert NotPoolOperator(poolId, msg.sender);
        p.approved = operator;
        emit PoolApproved(poolId, owner, operator);
    }

    // ------------------------------------------------------------------ servicing and repurchase

    /// @inheritdoc IAssetRegistry
    function updateAssets(StatusUpdate[] calldata updates) external {
        uint256 cachedPool = 0;
        bool asServicer = false;
        for (uint256 i = 0; i < updates.length; ++i) {
            StatusUpdate calldata u = updates[i];
            uint256 id = u.assetId;
            uint256 s = _assets[id];
            if (s == 0) revert UnknownAsset(id);
            AssetStatus from = s.statusOf();
            if (from == AssetStatus.Repurchased) revert AssetNotPooled(id);
            uint256 poolId = s.poolOf();
            Pool storage p = _soldPool(poolId);
            if (poolId != cachedPool) {
                if (_locked(p.owner, poolId)) revert PoolServicingLocked(poolId);
                asServicer = msg.sender == p.servicer;
                if (!asServicer && msg.sender != p.disposalAgent) revert NotPoolServicer(poolId, msg.sender);
                cachedPool = poolId;
            }
            AssetStatus to = u.status;
            if (!AssetLib.isLegalTransition(from, to)) revert IllegalTransition(id, from, to);
            // The disposal agent takes only the steps of a defaulted asset's recovery.
            if (!asServicer && !AssetLib.isRecovering(from)) revert NotPoolServicer(poolId, msg.sender);
            uint256 oldPrincipal = s.principalOf();
            uint256 newPrincipal = u.principal;
            if (newPrincipal > oldPrincipal) revert PrincipalIncrease(id, oldPrincipal, newPrincipal);
            if (AssetLib.isClosed(to) && newPrincipal != 0) revert PrincipalNotZero(id, to, newPrincipal);
            _assets[id] = s.withState(to, newPrincipal);
            _reduce(p, poolId, s, oldPrincipal - newPrincipal);
            _moveTally(poolId, from, oldPrincipal, to, newPrincipal);
            _recordFlows(p, id, poolId, from, to, oldPrincipal, u);
            emit AssetStatusChanged(id, poolId, from, to, newPrincipal, u.evidence);
        }
    }

    /// @dev The pool's cumulative flows for an update (principal at default, prepaid in full, repaid) and the
    /// cash it recovered (only on an asset already in default).
    function _recordFlows(
        Pool storage p,
        uint256 id,
        uint256 poolId,
        AssetStatus from,
        AssetStatus to,
        uint256 oldPrincipal,
        StatusUpdate calldata u
    ) private {
        if (from != to && AssetLib.isActive(from)) {
            if (to == AssetStatus.Defaulted) p.flows.defaulted = (uint256(p.flows.defaulted) + oldPrincipal).toUint128();
            else if (to == AssetStatus.Prepaid) p.flows.prepaidInFull = (uint256(p.flows.prepaidInFull) + oldPrincipal).toUint128();
            else if (to == AssetStatus.Repaid) p.flows.repaid = (uint256(p.flows.repaid) + oldPrincipal).toUint128();
        }
        uint256 recovered = u.recovered;
        if (recovered != 0) {
            if (!AssetLib.isRecovering(from)) revert RecoveryNotAllowed(id, from);
            p.flows.recoveries = (uint256(p.flows.recoveries) + recovered).toUint128();
            emit RecoveryRecorded(id, poolId, recovered, u.evidence);
        }
    }

    /// @inheritdoc IAssetRegistry
    function setPoolServicers(uint256 poolId, address servicer, address disposalAgent) external {
        Pool storage p = _pool(poolId);
        if (msg.sender != p.owner) revert NotPoolOperator(poolId, msg.sender);
        p.servicer = servicer;
        p.disposalAgent = disposalAgent;
        emit PoolServicersSet(poolId, servicer, disposalAgent);
    }

    /// @dev Whether `owner` (a contract such as an SPV) holds `poolId`'s servicing until a pending report closes.
    /// An account without code, or one that does not answer, never locks.
    function _locked(address owner, uint256 poolId) private view returns (bool) {
        if (owner.code.length == 0) return false;
        (bool ok, bytes memory answer) = owner.staticcall(abi.encodeCall(IPoolOwner.servicingLocked, (poolId)));
        return ok && answer.length == 32 && abi.decode(answer, (bool));
    }

    /// @inheritdoc IAssetRegistry
    function servicingFigures(uint256 poolId) external view returns (ServicingFigures memory f) {
        Pool storage p = _pool(poolId);
        Tally[_STATUSES] storage tallies = _tallies[poolId];
        f.count = p.count;
        f.principal = p.principal;
        f.delinquent30 = tallies[uint256(AssetStatus.Delinquent30)].principal;
        f.delinquent60 = tallies[uint256(AssetStatus.Delinquent60)].principal;
        f.delinquent90 = tallies[uint256(AssetStatus.Delinquent90)].principal;
        f.defaultedClaims = tallies[uint256(AssetStatus.Defaulted)].principal
            + tallies[uint256(AssetStatus.InRecovery)].principal + tallies[uint256(AssetStatus.Repossessed)].principal;
        f.flows = p.flows;
        f.servicer = p.servicer;
        f.disposalAgent = p.disposalAgent;
    }

    /// @inheritdoc IAssetRegistry
    function repurchase(uint256 assetId, bytes32 evidence) external {
        uint256 s = _assets[assetId];
        if (s == 0) revert UnknownAsset(assetId);
        AssetStatus from = s.statusOf();
        if (from == AssetStatus.Repurchased) revert AssetNotPooled(assetId);
        uint256 poolId = s.poolOf();
        Pool storage p = _soldPool(poolId);
        address owner = p.owner;
        _checkPoolOperator(p, poolId, owner);
        if (!AssetLib.isActive(from) && !AssetLib.isRecovering(from)) {
            revert IllegalTransition(assetId, from, AssetStatus.Repurchased);
        }
        uint256 principal = s.principalOf();
        p.flows.repurchased = (uint256(p.flows.repurchased) + principal).toUint128();
        address originator = p.originator;
        _assets[assetId] = s.released();
        _looseOwner[assetId] = originator;
        _reduce(p, poolId, s, principal);
        _moveTally(poolId, from, principal, AssetStatus.None, 0);
        p.count -= 1;
        _holdings[owner] -= 1;
        _holdings[originator] += 1;
        emit Transfer(owner, originator, assetId);
        emit AssetRepurchased(assetId, poolId, originator, principal, evidence);
    }

    // ------------------------------------------------------------------ views

    /// @inheritdoc IAssetRegistry
    function poolOwner(uint256 poolId) external view returns (address) {
        return _pool(poolId).owner;
    }

    /// @inheritdoc IAssetRegistry
    function poolApproved(uint256 poolId) external view returns (address) {
        return _pool(poolId).approved;
    }

    /// @inheritdoc IAssetRegistry
    function poolCount() external view returns (uint256) {
        return _poolCount;
    }

    /// @inheritdoc IAssetRegistry
    function poolInfo(uint256 poolId) external view returns (PoolInfo memory info) {
        Pool storage p = _pool(poolId);
        info.originator = p.originator;
        info.owner = p.owner;
        info.approved = p.approved;
        info.isSealed = p.isSealed;
        info.registered = p.registered;
        info.count = p.count;
        uint256 principal = p.principal;
        info.principal = uint128(principal);
        info.cutoffPrincipal = p.cutoffPrincipal;
        info.cutoffCount = p.cutoffCount;
        if (principal != 0) {
            info.waRateBps = uint16(p.rateWeighted / principal);
            uint256 waMaturity = p.maturityWeighted / principal;
            info.waMaturityDate = uint40(waMaturity);
            if (waMaturity > block.timestamp) {
                info.waRemainingTermDays = uint32((waMaturity - block.timestamp) / _SECONDS_PER_DAY);
            }
        }
        info.root = p.root;
        info.leafChain = p.leafChain;
        info.maxObligor = p.maxObligor;
        info.maxObligorPrincipal = p.maxObligorPrincipal;
        info.sold = p.sold;
    }

    /// @inheritdoc IAssetRegistry
    function poolCriteria(uint256 poolId) external view returns (PoolCriteria memory) {
        return _pool(poolId).criteria;
    }

    /// @inheritdoc IAssetRegistry
    function concentration(uint256 poolId, Bucket kind)
        external
        view
        returns (uint8[] memory codes, uint256[] memory principals)
    {
        _pool(poolId);
        if (kind == Bucket.Obligor) return (codes, principals);
        (uint256 mask, uint256[256] memory byCode) = _bucketSums(poolId, kind);
        uint256 n = LibBit.popCount(mask);
        codes = new uint8[](n);
        principals = new uint256[](n);
        uint256 j = 0;
        for (uint256 m = mask; m != 0; m &= m - 1) {
            uint256 code = LibBit.ffs(m);
            codes[j] = uint8(code);
            principals[j] = byCode[code];
            ++j;
        }
    }

    /// @inheritdoc IAssetRegistry
    function statusTally(uint256 poolId, AssetStatus status) external view returns (uint64 count, uint128 principal) {
        Pool storage p = _pool(poolId);
        Tally[_STATUSES] storage tallies = _tallies[poolId];
        if (status != AssetStatus.Performing) return (tallies[uint256(status)].count, tallies[uint256(status)].principal);
        // Performing is what the other statuses leave of the pool (every pooled asset is in exactly one).
        count = p.count;
        principal = p.principal;
        for (uint256 k = uint256(AssetStatus.Delinquent30); k < _STATUSES; ++k) {
            if (k == uint256(AssetStatus.Repurchased)) continue; // repurchased assets are out of the pool
            count -= tallies[k].count;
            principal -= tallies[k].principal;
        }
    }

    /// @inheritdoc IAssetRegistry
    function assetInfo(uint256 assetId) external view returns (AssetInfo memory info) {
        uint256 s = _assets[assetId];
        if (s == 0) revert UnknownAsset(assetId);
        info.status = s.statusOf();
        info.poolId = s.poolOf();
        info.principal = uint96(s.principalOf());
        info.rateBps = uint16(s.rateOf());
        info.maturityDate = uint40(s.maturityOf());
        info.region = s.regionOf();
        info.industry = s.industryOf();
        info.owner = _ownerOf(assetId);
    }

    /// @inheritdoc IAssetRegistry
    function countRegistered(uint256[] calldata assetIds) external view returns (uint256 n) {
        for (uint256 i; i < assetIds.length; ++i) {
            if (_assets[assetIds[i]] != 0) ++n;
        }
    }

    /// @inheritdoc IAssetRegistry
    function assetIdOf(address originator, bytes32 loanId) external pure returns (uint256) {
        return uint256(keccak256(abi.encode(originator, loanId)));
    }

    /// @inheritdoc IAssetRegistry
    function verifyRecordHash(uint256 poolId, bytes32 recordHash, bytes32[] calldata proof) public view returns (bool) {
        Pool storage p = _pool(poolId);
        // The leaf is hashed here from the record hash: an internal node of the tree (a hash of 64 bytes) can
        // never pass for a leaf (a hash of a 32-byte record hash), whatever proof comes with it.
        return p.isSealed && MerkleProof.verifyCalldata(proof, p.root, keccak256(bytes.concat(recordHash)));
    }

    /// @inheritdoc IAssetRegistry
    function verifyRecord(uint256 poolId, AssetRecord calldata record, bytes32[] calldata proof)
        external
        view
        returns (bool)
    {
        // abi.encode(originator, record): the record is 14 static words in calldata, hashed as sent (a record
        // whose words are not in canonical ABI form hashes to no leaf, and is not verified).
        address originator = _pool(poolId).originator;
        bytes32 recordHash;
        assembly ("memory-safe") {
            let m := mload(0x40)
            mstore(m, originator)
            calldatacopy(add(m, 0x20), record, 0x1c0)
            recordHash := keccak256(m, 0x1e0)
        }
        return verifyRecordHash(poolId, recordHash, proof);
    }

    // ------------------------------------------------------------------ ERC-721 / ERC-165

    /// @notice No per-certificate metadata URI (OpenZeppelin's default without a base URI, without its code):
    /// the record is committed by its leaf ({AssetsRegistered}).
    function tokenURI(uint256 tokenId) public view override returns (string memory) {
        _requireOwned(tokenId);
        return "";
    }

    function name() public pure override returns (string memory) {
        return "ChainABS Asset Certificate";
    }

    function symbol() public pure override returns (string memory) {
        return "ABSA";
    }

    /// @notice Number of certificates `owner` holds, pooled ones included.
    function balanceOf(address owner) public view override returns (uint256) {
        if (owner == address(0)) revert ERC721InvalidOwner(address(0));
        return _holdings[owner];
    }

    /// @inheritdoc AccessControl
    function supportsInterface(bytes4 interfaceId) public view override(ERC721, AccessControl) returns (bool) {
        return interfaceId == type(IAssetRegistry).interfaceId || super.supportsInterface(interfaceId);
    }

    /// @dev Pooled assets move only with their pool (`approvePool`), so they cannot be approved one by one: an
    /// approval granted while an asset is pooled would otherwise survive a pool transfer or a repurchase.
    function _approve(address to, uint256 tokenId, address auth, bool emitEvent) internal override {
        if (to != address(0)) {
            uint256 s = _assets[tokenId];
            if (s != 0 && s.statusOf() != AssetStatus.Repurchased) revert AssetInPool(tokenId, s.poolOf());
        }
        super._approve(to, tokenId, auth, emitEvent);
    }

    /// @dev Pooled assets resolve to their pool's owner; released ones to their own owner.
    function _ownerOf(uint256 tokenId) internal view override returns (address) {
        uint256 s = _assets[tokenId];
        if (s == 0) return address(0);
        if (s.statusOf() == AssetStatus.Repurchased) return _looseOwner[tokenId];
        return _pools[s.poolOf()].owner;
    }

    /// @dev Only released assets move one by one (pooled ones move with their pool); no burning, no minting
    /// through this path.
    function _update(address to, uint256 tokenId, address auth) internal override returns (address from) {
        uint256 s = _assets[tokenId];
        if (s == 0) revert ERC721NonexistentToken(tokenId);
        if (s.statusOf() != AssetStatus.Repurchased) revert AssetInPool(tokenId, s.poolOf());
        from = _looseOwner[tokenId];
        if (auth != address(0)) _checkAuthorized(from, auth, tokenId);
        _approve(address(0), tokenId, address(0), false);
        _holdings[from] -= 1;
        _holdings[to] += 1;
        _looseOwner[tokenId] = to;
        emit Transfer(from, to, tokenId);
    }

    // ------------------------------------------------------------------ internals

    /// @dev Continue the pool's buckets, leaf chain and obligor running sums in batch memory.
    /// A purchase starts a fresh obligor run (its batch sorted by obligor; the pool's cut-off run is kept).
    function _loadPoolSums(Pool storage p, uint256 poolId, bool purchase) private view {
        Buckets[2] storage b = _buckets[poolId];
        AssetLib.loadBuckets(p.regionBuckets, _slotOf(b[0].order), AssetLib.M_REGION_ORDER, AssetLib.M_REGION_TABLE,
            AssetLib.REGION_INDEX_SHIFT);
        AssetLib.loadBuckets(p.industryBuckets, _slotOf(b[1].order), AssetLib.M_INDUSTRY_ORDER,
            AssetLib.M_INDUSTRY_TABLE, AssetLib.INDUSTRY_INDEX_SHIFT);
        AssetLib.put(AssetLib.M_CHAIN, uint256(p.leafChain));
        if (p.tracksObligors) {
            uint256 sums;
            uint256 index;
            uint256[32_768] storage s = _obligorSums[poolId];
            mapping(bytes32 => uint256) storage m = _obligorIndex[poolId];
            assembly ("memory-safe") {
                sums := s.slot
                index := m.slot
            }
            AssetLib.loadObligors(sums, index, p.obligors);
        }
        if (purchase) return;
        bytes32 last = p.lastObligor;
        uint256 exposure = p.lastObligorPrincipal;
        bytes32 top = p.maxObligor;
        uint256 topExposure = p.maxObligorPrincipal;
        AssetLib.put(AssetLib.M_LAST_OBLIGOR, uint256(last));
        AssetLib.put(AssetLib.M_EXPOSURE, exposure);
        AssetLib.put(AssetLib.M_MAX_OBLIGOR, uint256(top));
        AssetLib.put(AssetLib.M_MAX_EXPOSURE, topExposure);
    }

    /// @dev Storage slot of a storage array (for the batch code).
    function _slotOf(bytes32[8] storage a) private pure returns (uint256 slot) {
        assembly ("memory-safe") {
            slot := a.slot
        }
    }

    function _slotOf(uint256[128] storage a) private pure returns (uint256 slot) {
        assembly ("memory-safe") {
            slot := a.slot
        }
    }

    /// @dev Write a batch's sums to the pool: one storage update per aggregate and per status touched (bucket
    /// sums are written by {AssetLib-flushBuckets}); the batch principal is the sum of its status tallies.
    function _flush(Pool storage p, uint256 poolId, uint256 n, bytes32[] memory leaves, bool purchase)
        private
        returns (uint256 principal)
    {
        uint256 first = p.registered;
        bytes32 chainHash = bytes32(AssetLib.get(AssetLib.M_CHAIN));
        Tally[_STATUSES] storage tallies = _tallies[poolId];
        principal = uint128(AssetLib.get(AssetLib.M_TALLY + 32)); // Performing: derived, see {statusTally}
        for (uint256 k = 2; k <= _ACTIVE_STATUSES; ++k) {
            uint256 word = AssetLib.get(AssetLib.M_TALLY + 32 * k);
            uint256 count = word >> 128;
            if (count != 0) {
                Tally storage t = tallies[k];
                t.count += uint64(count);
                t.principal = (uint256(t.principal) + uint128(word)).toUint128();
                principal += uint128(word);
            }
        }
        Buckets[2] storage b = _buckets[poolId];
        p.regionBuckets = uint16(
            AssetLib.flushBuckets(p.regionBuckets, _slotOf(b[0].order), _slotOf(b[0].sums), AssetLib.M_REGION_ORDER,
                AssetLib.M_REGION_TABLE)
        );
        p.industryBuckets = uint16(
            AssetLib.flushBuckets(p.industryBuckets, _slotOf(b[1].order), _slotOf(b[1].sums),
                AssetLib.M_INDUSTRY_ORDER, AssetLib.M_INDUSTRY_TABLE)
        );
        p.registered = uint64(first + n);
        p.count += uint64(n);
        p.principal = (uint256(p.principal) + principal).toUint128();
        p.rateWeighted += AssetLib.get(AssetLib.M_RATE_WEIGHTED);
        p.maturityWeighted += AssetLib.get(AssetLib.M_MATURITY_WEIGHTED);
        _checkpoint(p, poolId, chainHash, first, purchase);
        p.leafChain = chainHash;
        if (p.tracksObligors) p.obligors = uint32(AssetLib.flushObligors());
        if (!purchase) _flushObligors(p);
        // emit AssetsRegistered(poolId, first, principal, chainHash, leaves, assetIds), its data encoded in place
        bytes32 topic = AssetsRegistered.selector;
        assembly ("memory-safe") {
            let data := sub(leaves, 0xa0) // AssetLib.M_EVENT
            mstore(data, first)
            mstore(add(data, 0x20), principal)
            mstore(add(data, 0x40), chainHash)
            mstore(add(data, 0x60), 0xa0)
            mstore(add(data, 0x80), add(0xc0, shl(5, n)))
            log2(data, add(0xe0, shl(6, n)), topic, poolId)
        }
    }

    /// @dev The pool's obligor run after an onboarding batch (a purchase keeps the cut-off run).
    function _flushObligors(Pool storage p) private {
        p.lastObligor = bytes32(AssetLib.get(AssetLib.M_LAST_OBLIGOR));
        p.lastObligorPrincipal = AssetLib.get(AssetLib.M_EXPOSURE).toUint128();
        p.maxObligor = bytes32(AssetLib.get(AssetLib.M_MAX_OBLIGOR));
        p.maxObligorPrincipal = AssetLib.get(AssetLib.M_MAX_EXPOSURE).toUint128();
    }

    /// @dev The pool's buckets of one kind: a mask of the codes present and each code's principal.
    function _bucketSums(uint256 poolId, Bucket kind) private view returns (uint256 mask, uint256[256] memory byCode) {
        Pool storage p = _pools[poolId];
        uint256 count = kind == Bucket.Region ? p.regionBuckets : p.industryBuckets;
        Buckets storage b = _buckets[poolId][uint256(kind)];
        for (uint256 j; j < count; ++j) {
            uint256 code = uint8(b.order[j >> 5][j & 31]);
            mask |= 1 << code;
            byCode[code] = uint128(b.sums[j >> 1] >> ((j & 1) << 7));
        }
    }

    function _checkBuckets(uint256 poolId, Bucket kind, uint16 limitBps, uint256 total) private view {
        (uint256 mask, uint256[256] memory byCode) = _bucketSums(poolId, kind);
        for (uint256 m = mask; m != 0; m &= m - 1) {
            uint256 code = LibBit.ffs(m);
            uint256 sum = byCode[code];
            if (sum * _BPS > total * limitBps) {
                revert ConcentrationBreached(poolId, kind, bytes32(code), sum, total, limitBps);
            }
        }
    }

    /// @dev Remove `drop` of asset `s`'s principal from its pool's aggregates.
    function _reduce(Pool storage p, uint256 poolId, uint256 s, uint256 drop) private {
        if (drop == 0) return;
        p.principal -= uint128(drop);
        p.rateWeighted -= drop * s.rateOf();
        p.maturityWeighted -= drop * s.maturityOf();
        Buckets[2] storage b = _buckets[poolId];
        uint256 j = s.regionIndexOf();
        b[0].sums[j >> 1] -= drop << ((j & 1) << 7);
        j = s.industryIndexOf();
        b[1].sums[j >> 1] -= drop << ((j & 1) << 7);
        if (p.tracksObligors) {
            j = s.obligorIndexOf();
            _obligorSums[poolId][j >> 1] -= drop << ((j & 1) << 7);
        }
    }

    function _moveTally(uint256 poolId, AssetStatus from, uint256 oldPrincipal, AssetStatus to, uint256 newPrincipal)
        private
    {
        // The Performing tally is not stored (see {statusTally}).
        Tally[_STATUSES] storage tallies = _tallies[poolId];
        if (from != AssetStatus.Performing) {
            Tally storage t = tallies[uint256(from)];
            t.count -= 1;
            t.principal -= uint128(oldPrincipal);
        }
        if (to != AssetStatus.None && to != AssetStatus.Performing) {
            Tally storage t = tallies[uint256(to)];
            t.count += 1;
            t.principal += uint128(newPrincipal);
        }
    }

    function _checkCriteria(PoolCriteria calldata c) private pure {
        if (c.allowedAssetTypes == 0) revert InvalidCriteria(CriteriaRule.AssetTypes);
        if (c.minRateBps > c.maxRateBps) revert InvalidCriteria(CriteriaRule.RateRange);
        if (c.cutoffDate == 0 || c.legalFinalDate <= c.cutoffDate) revert InvalidCriteria(CriteriaRule.Dates);
        if (c.maxPrincipalPerAsset == 0) revert InvalidCriteria(CriteriaRule.PrincipalCap);
        if (
            c.maxRegionBps == 0 || c.maxRegionBps > _BPS || c.maxIndustryBps == 0 || c.maxIndustryBps > _BPS
                || c.maxObligorBps == 0 || c.maxObligorBps > _BPS
        ) revert InvalidCriteria(CriteriaRule.ConcentrationBps);
    }

    function _checkPoolOperator(Pool storage p, uint256 poolId, address owner) private view {
        if (msg.sender != owner && msg.sender != p.approved && !isApprovedForAll(owner, msg.sender)) {
            revert NotPoolOperator(poolId, msg.sender);
        }
    }

    function _pool(uint256 poolId) private view returns (Pool storage p) {
        p = _pools[poolId];
        if (p.originator == address(0)) revert UnknownPool(poolId);
    }

    function _openPool(uint256 poolId) private view returns (Pool storage p) {
        p = _pool(poolId);
        if (p.originator != msg.sender) revert NotPoolOriginator(poolId, msg.sender);
        if (p.isSealed) revert PoolAlreadySealed(poolId);
    }

    function _sealedPool(uint256 poolId) private view returns (Pool storage p) {
        p = _pool(poolId);
        if (!p.isSealed) revert PoolNotSealed(poolId);
    }

    /// @dev A sealed pool that has been sold: between its seal and its sale a pool is frozen (nothing leaves it,
    /// no status or principal moves), so that its buyer pays for exactly the cut-off tape.
    function _soldPool(uint256 poolId) private view returns (Pool storage p) {
        p = _sealedPool(poolId);
        if (!p.sold) revert PoolAwaitingSale(poolId);
    }
}
