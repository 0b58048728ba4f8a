// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IAssetRegistry} from "./IAssetRegistry.sol";

/// @title IInvoiceLedger
/// @notice The shared uniqueness record of trade receivables (one per network): a debtor confirms on chain what it
/// owes, and an invoice is financed at most once across every asset registry the ledger admits, whoever the
/// originator.
///
/// - **Debtors** are identified by the same salted hash as a pool record's `obligor`; a registrar
///   (DEBTOR_REGISTRAR_ROLE, e.g. the core enterprise's KYC agent) registers each debtor's signing key.
/// - **An invoice is identified by its debtor and its hash** (the pool record's `obligor` and `contractHash`):
///   a debtor's confirmation is its own acknowledgement of what it owes, so no debtor can take, block or
///   finance another debtor's invoice, even one with the same hash. Financing twice under two debtor ids needs
///   both debtors' signatures: each then owes its confirmed amount.
/// - **Confirmation**: the debtor signs the EIP-712 typed data {Confirmation} (invoice hash, debtor, amount, due
///   date, creditor) with its registered key (an EOA, or a contract wallet answering ERC-1271). Anyone submits
///   the signatures, in batches ({confirm}); each is checked there and the full hash of the invoice's terms is
///   kept. A confirmation is final: the same terms again are skipped (a batch may overlap one already sent),
///   other terms for the same debtor's invoice are refused ({InvoiceConfirmedOtherwise}), so an old signature
///   can never be replayed over a newer one. A corrected invoice is a new document, with a new hash.
/// - **Financing**: an admitted registry (REGISTRY_ROLE, granted by the admin) records every trade receivable
///   (asset type 1) it pools, in the same transaction as its registration ({recordReceivables}): the record's
///   `contractHash` is the invoice hash, `obligor` the debtor, `originalPrincipal` the invoice amount,
///   `maturityDate` the due date and the pool's originator the creditor. A receivable whose terms the debtor
///   did not confirm to that creditor, or a (debtor, invoice) already financed in any admitted registry, reverts
///   the whole registration. A financed invoice stays financed (repaid, repurchased or not): it is never pledged
///   again.
///
/// Storage: one slot per (debtor, invoice), written by its confirmation (the terms' full EIP-712 struct hash)
/// and overwritten by its financing (the registry's address).
interface IInvoiceLedger {
    /// @notice What a debtor confirms (EIP-712 primary type
    /// `Confirmation(bytes32 invoiceHash,bytes32 debtor,uint96 amount,uint40 dueDate,address creditor)`,
    /// domain name "ChainABS InvoiceLedger", version "1", this chain and this ledger's address).
    struct Confirmation {
        bytes32 invoiceHash; // hash of the invoice document (the pool record's contractHash)
        bytes32 debtor; // salted hash of the debtor's identity (the pool record's obligor)
        uint96 amount; // face amount, in the currency's base units (the record's originalPrincipal)
        uint40 dueDate; // unix seconds (the record's maturityDate)
        address creditor; // the supplier the debtor owes (the pool's originator)
    }

    /// @notice Where a confirmation stands ({statusOf}): its invoice never confirmed, confirmed with other terms
    /// (amount, due date, debtor or creditor), confirmed with exactly these terms and not financed, or financed.
    enum ConfirmationStatus {
        Unconfirmed,
        OtherTerms,
        Confirmed,
        Financed
    }

    /// @notice What is known of an invoice.
    struct InvoiceState {
        bool confirmed; // the debtor confirmed terms (the full hash of the terms is kept until financed)
        address registry; // the admitted registry that financed it; zero while not financed
    }

    /// @notice The registrar set `debtor`'s signing key to `key` (zero: the debtor can no longer confirm).
    event DebtorKeySet(bytes32 indexed debtor, address indexed key, address previous);
    /// @notice The debtor's key confirmed `invoiceHash` for `amount` due at `dueDate` to `creditor`.
    event InvoiceConfirmed(
        bytes32 indexed invoiceHash, bytes32 indexed debtor, address indexed creditor, uint256 amount, uint256 dueDate
    );
    /// @notice `registry` pooled `debtor`'s invoice `invoiceHash` (confirmed to `creditor`) in pool `poolId`: it
    /// can never be financed again.
    event InvoiceFinanced(
        bytes32 indexed invoiceHash, address indexed registry, address indexed creditor, uint256 poolId, bytes32 debtor
    );

    /// @notice `items` and `signatures` differ in length.
    error ConfirmationCountMismatch(uint256 items, uint256 signatures);
    /// @notice No key is registered for `debtor` (item `index` of a batch).
    error UnknownDebtor(uint256 index, bytes32 debtor);
    /// @notice Item `index`'s signature is not the debtor's registered key's over its terms.
    error InvalidDebtorSignature(uint256 index, bytes32 invoiceHash, bytes32 debtor);
    /// @notice `invoiceHash` (item `index`) was already confirmed by the item's debtor with other terms.
    error InvoiceConfirmedOtherwise(uint256 index, bytes32 invoiceHash);
    /// @notice The item's debtor's invoice `invoiceHash` (item or record `index`) was already financed, by
    /// `registry`.
    error InvoiceAlreadyFinanced(uint256 index, bytes32 invoiceHash, address registry);
    /// @notice Record `index` of a registration: its debtor did not confirm `invoiceHash` with these terms to
    /// `creditor` (never confirmed, other amount or due date, or confirmed to another creditor).
    error InvoiceNotConfirmed(uint256 index, bytes32 invoiceHash, address creditor);
    /// @notice A zero debtor id or invoice hash.
    error InvalidInvoice(uint256 index, bytes32 invoiceHash, bytes32 debtor);

    /// @notice Register (or replace, or with zero clear) `debtor`'s signing key. DEBTOR_REGISTRAR_ROLE only.
    function setDebtorKey(bytes32 debtor, address key) external;

    /// @notice Record the debtors' confirmations `items`, `signatures[i]` by the registered key of
    /// `items[i].debtor` over its EIP-712 digest ({confirmationDigest}). Anyone may submit; reverts whole on any
    /// bad item. A debtor's invoices already financed, or confirmed by it with other terms, are refused; the same
    /// terms already confirmed are skipped (no event). Another debtor's confirmation of the same invoice hash
    /// never stands in the way (an invoice is its debtor's).
    function confirm(Confirmation[] calldata items, bytes[] calldata signatures) external;

    /// @notice Called by an admitted registry (REGISTRY_ROLE) in the transaction that pools `records` into
    /// `poolId` for `creditor`: every trade receivable among them (asset type 1) must carry terms its debtor
    /// confirmed to `creditor`, and its (debtor, invoice) must never have been financed; it is then marked
    /// financed by the caller.
    /// Records of other asset types are left alone.
    function recordReceivables(address creditor, uint256 poolId, IAssetRegistry.PackedRecord[] calldata records)
        external;

    /// @notice The EIP-712 digest a debtor signs to confirm `item`.
    function confirmationDigest(Confirmation calldata item) external view returns (bytes32);

    /// @notice The registered signing key of `debtor` (zero: none).
    function debtorKey(bytes32 debtor) external view returns (address);

    /// @notice Whether `debtor` confirmed its invoice `invoiceHash` and which registry financed it.
    function invoiceState(bytes32 debtor, bytes32 invoiceHash) external view returns (InvoiceState memory);

    /// @notice Where each of `items` stands (an onboarding checks a whole tape before sending anything).
    function statusOf(Confirmation[] calldata items) external view returns (ConfirmationStatus[] memory);

    /// @notice Whether `item`'s exact terms are the ones its debtor confirmed for its invoice, not yet financed.
    function isConfirmed(Confirmation calldata item) external view returns (bool);
}
