// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {IERC1271} from "@openzeppelin/contracts/interfaces/IERC1271.sol";
import {IAssetRegistry} from "../../interfaces/IAssetRegistry.sol";
import {IInvoiceLedger} from "../../interfaces/IInvoiceLedger.sol";

/// @title InvoiceLedger
/// @notice Debtor confirmations (EIP-712) and the network-wide record of financed invoices (see {IInvoiceLedger}).
contract InvoiceLedger is IInvoiceLedger, AccessControl, EIP712 {
    /// @notice May register debtors' signing keys.
    bytes32 public constant DEBTOR_REGISTRAR_ROLE = keccak256("DEBTOR_REGISTRAR_ROLE");
    /// @notice Asset registries admitted to record the invoices they pool.
    bytes32 public constant REGISTRY_ROLE = keccak256("REGISTRY_ROLE");
    /// @notice EIP-712 type hash of {Confirmation}.
    bytes32 public constant CONFIRMATION_TYPEHASH =
        keccak256("Confirmation(bytes32 invoiceHash,bytes32 debtor,uint96 amount,uint40 dueDate,address creditor)");

    uint8 private constant _TRADE_RECEIVABLE = 1; // IAssetRegistry.AssetRecord.assetType
    uint256 private constant _U96 = (1 << 96) - 1;
    uint256 private constant _U40 = (1 << 40) - 1;

    mapping(bytes32 debtor => address) private _debtorKeys;
    /// @dev Per invoice, keyed by {_invoiceKey} (its debtor and its hash): zero while never confirmed; the full
    /// EIP-712 struct hash of the terms its debtor confirmed while not financed; once financed, the financing
    /// registry's address (bits 0..159, bits 160..255 zero). A terms hash with its top 96 bits zero (odds 2^-96 per
    /// terms, a preimage search, not a collision) would read as financed: it only blocks its own invoice.
    mapping(bytes32 invoiceKey => uint256) private _invoices;

    constructor(address admin) EIP712("ChainABS InvoiceLedger", "1") {
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
    }

    /// @inheritdoc IInvoiceLedger
    function setDebtorKey(bytes32 debtor, address key) external onlyRole(DEBTOR_REGISTRAR_ROLE) {
        if (debtor == bytes32(0)) revert InvalidInvoice(0, bytes32(0), debtor);
        address previous = _debtorKeys[debtor];
        _debtorKeys[debtor] = key;
        emit DebtorKeySet(debtor, key, previous);
    }

    /// @inheritdoc IInvoiceLedger
    function confirm(Confirmation[] calldata items, bytes[] calldata signatures) external {
        uint256 n = items.length;
        if (n != signatures.length) revert ConfirmationCountMismatch(n, signatures.length);
        for (uint256 i = 0; i < n; ++i) {
            Confirmation calldata c = items[i];
            bytes32 invoiceHash = c.invoiceHash;
            if (invoiceHash == bytes32(0) || c.debtor == bytes32(0)) revert InvalidInvoice(i, invoiceHash, c.debtor);
            bytes32 key = _invoiceKey(c.debtor, invoiceHash);
            uint256 state = _invoices[key];
            address financedBy = _financedBy(state);
            if (financedBy != address(0)) revert InvoiceAlreadyFinanced(i, invoiceHash, financedBy);
            uint256 terms = uint256(_structHash(invoiceHash, c.debtor, c.amount, c.dueDate, c.creditor));
            if (state == terms) continue; // confirmed already with these terms
            if (state != 0) revert InvoiceConfirmedOtherwise(i, invoiceHash);
            address signer = _debtorKeys[c.debtor];
            if (signer == address(0)) revert UnknownDebtor(i, c.debtor);
            if (!_signedBy(signer, _hashTypedDataV4(bytes32(terms)), signatures[i])) {
                revert InvalidDebtorSignature(i, invoiceHash, c.debtor);
            }
            _invoices[key] = terms;
            emit InvoiceConfirmed(invoiceHash, c.debtor, c.creditor, c.amount, c.dueDate);
        }
    }

    /// @inheritdoc IInvoiceLedger
    function recordReceivables(address creditor, uint256 poolId, IAssetRegistry.PackedRecord[] calldata records)
        external
        onlyRole(REGISTRY_ROLE)
    {
        uint256 n = records.length;
        for (uint256 i = 0; i < n; ++i) {
            IAssetRegistry.PackedRecord calldata r = records[i];
            if (uint8(r.terms >> 224) == _TRADE_RECEIVABLE) _finance(i, creditor, poolId, r);
        }
    }

    /// @dev Mark record `i`'s invoice financed by the calling registry, after checking its confirmed terms.
    function _finance(uint256 i, address creditor, uint256 poolId, IAssetRegistry.PackedRecord calldata r) private {
        bytes32 invoiceHash = r.contractHash;
        bytes32 key = _invoiceKey(r.obligor, invoiceHash);
        uint256 state = _invoices[key];
        address financedBy = _financedBy(state);
        if (financedBy != address(0)) revert InvoiceAlreadyFinanced(i, invoiceHash, financedBy);
        uint256 terms = uint256(_structHash(invoiceHash, r.obligor, r.terms & _U96, (r.dates >> 40) & _U40, creditor));
        if (state != terms) revert InvoiceNotConfirmed(i, invoiceHash, creditor);
        _invoices[key] = uint256(uint160(msg.sender));
        emit InvoiceFinanced(invoiceHash, msg.sender, creditor, poolId, r.obligor);
    }

    /// @inheritdoc IInvoiceLedger
    function confirmationDigest(Confirmation calldata item) external view returns (bytes32) {
        return _hashTypedDataV4(_structHash(item.invoiceHash, item.debtor, item.amount, item.dueDate, item.creditor));
    }

    /// @inheritdoc IInvoiceLedger
    function debtorKey(bytes32 debtor) external view returns (address) {
        return _debtorKeys[debtor];
    }

    /// @inheritdoc IInvoiceLedger
    function invoiceState(bytes32 debtor, bytes32 invoiceHash) external view returns (InvoiceState memory s) {
        uint256 state = _invoices[_invoiceKey(debtor, invoiceHash)];
        s.confirmed = state != 0;
        s.registry = _financedBy(state);
    }

    /// @inheritdoc IInvoiceLedger
    function statusOf(Confirmation[] calldata items) external view returns (ConfirmationStatus[] memory out) {
        out = new ConfirmationStatus[](items.length);
        for (uint256 i = 0; i < items.length; ++i) {
            out[i] = _status(items[i]);
        }
    }

    /// @inheritdoc IInvoiceLedger
    function isConfirmed(Confirmation calldata item) external view returns (bool) {
        return _status(item) == ConfirmationStatus.Confirmed;
    }

    function _status(Confirmation calldata item) private view returns (ConfirmationStatus) {
        uint256 state = _invoices[_invoiceKey(item.debtor, item.invoiceHash)];
        if (state == 0) return ConfirmationStatus.Unconfirmed;
        if (_financedBy(state) != address(0)) return ConfirmationStatus.Financed;
        bytes32 structHash = _structHash(item.invoiceHash, item.debtor, item.amount, item.dueDate, item.creditor);
        return state == uint256(structHash) ? ConfirmationStatus.Confirmed : ConfirmationStatus.OtherTerms;
    }

    /// @dev Whether `signature` over `digest` is `key`'s: an ECDSA signature of an account without code, or an
    /// ERC-1271 contract wallet's approval. (OpenZeppelin's SignatureChecker 5.4 needs the Cancun `mcopy`; the deal
    /// contracts target paris.)
    function _signedBy(address key, bytes32 digest, bytes calldata signature) private view returns (bool) {
        if (key.code.length == 0) {
            // slither-disable-next-line unused-return -- the third value only details an error already told by `err`
            (address signer, ECDSA.RecoverError err,) = ECDSA.tryRecover(digest, signature);
            return err == ECDSA.RecoverError.NoError && signer == key;
        }
        (bool ok, bytes memory answer) =
            key.staticcall(abi.encodeCall(IERC1271.isValidSignature, (digest, signature)));
        return ok && answer.length >= 32 && abi.decode(answer, (bytes32)) == bytes32(IERC1271.isValidSignature.selector);
    }

    function _structHash(bytes32 invoiceHash, bytes32 debtor, uint256 amount, uint256 dueDate, address creditor)
        private
        pure
        returns (bytes32)
    {
        return keccak256(abi.encode(CONFIRMATION_TYPEHASH, invoiceHash, debtor, amount, dueDate, creditor));
    }

    /// @dev The storage key of `debtor`'s invoice `invoiceHash`: an invoice is its debtor's, so one debtor's
    /// confirmation can never occupy (or finance) another debtor's invoice of the same hash.
    function _invoiceKey(bytes32 debtor, bytes32 invoiceHash) private pure returns (bytes32) {
        return keccak256(abi.encode(debtor, invoiceHash));
    }

    /// @dev The registry that financed an invoice in state `state` (zero: not financed; see `_invoices`).
    function _financedBy(uint256 state) private pure returns (address) {
        return state >> 160 == 0 ? address(uint160(state)) : address(0);
    }
}
