// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {LibBit} from "solady/utils/LibBit.sol";
import {ITrancheMarket} from "../../interfaces/ITrancheMarket.sol";
import {ITrancheToken} from "../../interfaces/ITrancheToken.sol";
import {IIdentityRegistry} from "../../interfaces/IIdentityRegistry.sol";
import {ComplianceCodes as C} from "../compliance/ComplianceCodes.sol";

/// @title TrancheMarket
/// @notice Order book and delivery-versus-payment settlement for ChainABS tranche tokens in one currency (see
///         `ITrancheMarket` for the quote convention, custody and compliance).
/// @dev Storage, all of it fixed-size per order and per price level, so that no operation walks the book:
///      - an order is one word keyed by its id: maker (bits 0..159) | remaining quantity (160..255); a filled or
///        cancelled order keeps its maker (remaining 0), so an id is never reused;
///      - the id itself holds the terms: sequence number at its price level (bits 0..28) | price (29..52) |
///        expiry (53..92) | named-counterparty flag (93) | locked partition (94) | ask (95) | token (96..255);
///      - a price level of a book (token and side) is one word: open quantity (bits 0..127) | orders posted
///        there (128..159) | latest expiry of those orders (160..199). It is never zeroed again once used;
///      - the book's price index is a two-level bitmap: bit `p % 256` of word `p / 256` is set when price `p`
///        has been posted at (and not pruned since), bit `w % 256` of summary word `w / 256` when word `w` is
///        non-zero. Posts set bits; fills and cancels never clear them (so they cost the same whatever the
///        book holds): views skip empty levels and anyone may `prune` them.
contract TrancheMarket is ITrancheMarket, AccessControl {
    using SafeERC20 for IERC20;

    /// @inheritdoc ITrancheMarket
    bytes32 public constant LISTER_ROLE = keccak256("LISTER_ROLE");
    /// @inheritdoc ITrancheMarket
    uint256 public constant PRICE_SCALE = 10_000;
    /// @inheritdoc ITrancheMarket
    uint256 public constant MAX_PRICE = (1 << 24) - 1;

    /// @dev cash = price * quantity * factor / (100 * PRICE_SCALE * 1e18)
    uint256 private constant CASH_DIVISOR = 100 * PRICE_SCALE * 1e18;
    uint256 private constant MAX_QUANTITY = type(uint96).max;
    uint256 private constant MAX_EXPIRY = type(uint40).max;
    uint256 private constant MAX_SEQUENCE = (1 << 29) - 1;

    uint256 private constant PRICE_SHIFT = 29;
    uint256 private constant EXPIRY_SHIFT = 53;
    uint256 private constant NAMED = 1 << 93;
    uint256 private constant LOCKED_PARTITION = 1 << 94;
    uint256 private constant ASK = 1 << 95;
    uint256 private constant TOKEN_SHIFT = 96;

    uint256 private constant MASK24 = (1 << 24) - 1;
    uint256 private constant MASK32 = (1 << 32) - 1;
    uint256 private constant MASK40 = (1 << 40) - 1;
    uint256 private constant MASK128 = (1 << 128) - 1;

    bytes32 private constant UNRESTRICTED = "unrestricted";
    bytes32 private constant LOCKED = "locked";

    IERC20 private immutable _currency;

    /// @dev token => identity registry (bits 0..159) | listed (bit 160)
    mapping(address token => uint256) private _listings;
    /// @dev order id => maker (bits 0..159) | remaining quantity (160..255)
    mapping(uint256 id => uint256) private _orders;
    /// @dev order id => the only account that may take it (orders with the NAMED flag)
    mapping(uint256 id => address) private _counterparties;
    /// @dev book (token << 1 | ask) => price => quantity | posted << 128 | maxExpiry << 160
    mapping(uint256 book => mapping(uint256 price => uint256)) private _levels;
    /// @dev book => word index (price >> 8) => bitmap of prices posted at
    mapping(uint256 book => mapping(uint256 index => uint256)) private _words;
    /// @dev book => summary index (price >> 16) => bitmap of non-zero words
    mapping(uint256 book => mapping(uint256 index => uint256)) private _summaries;

    /// @param currency_ The currency of every listed token and of every fill (an ERC-20).
    /// @param admin Receives DEFAULT_ADMIN_ROLE (grants LISTER_ROLE).
    constructor(address currency_, address admin) {
        if (currency_ == address(0)) revert ZeroAddressNotAllowed("currency");
        if (admin == address(0)) revert ZeroAddressNotAllowed("admin");
        _currency = IERC20(currency_);
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
    }

    // =====================================================================================================
    // Listing
    // =====================================================================================================

    /// @inheritdoc ITrancheMarket
    function list(address token) external onlyRole(LISTER_ROLE) {
        if (token == address(0)) revert ZeroAddressNotAllowed("token");
        address tokenCurrency = ITrancheToken(token).currency();
        if (tokenCurrency != address(_currency)) revert CurrencyMismatch(token, tokenCurrency, address(_currency));
        address registry = address(ITrancheToken(token).identityRegistry());
        if (registry == address(0)) revert ZeroAddressNotAllowed("registry");
        _listings[token] = uint256(uint160(registry)) | (1 << 160);
        emit TokenListed(msg.sender, token, registry);
    }

    /// @inheritdoc ITrancheMarket
    function delist(address token) external onlyRole(LISTER_ROLE) {
        uint256 entry = _listings[token];
        if (entry >> 160 == 0) revert TokenNotListed(token);
        _listings[token] = uint160(entry);
        emit TokenDelisted(msg.sender, token);
    }

    /// @inheritdoc ITrancheMarket
    function listing(address token) external view returns (bool listed, address registry) {
        uint256 entry = _listings[token];
        return (entry >> 160 != 0, address(uint160(entry)));
    }

    /// @inheritdoc ITrancheMarket
    function currency() external view returns (address) {
        return address(_currency);
    }

    // =====================================================================================================
    // Orders
    // =====================================================================================================

    /// @inheritdoc ITrancheMarket
    function postAsk(address token, bytes32 partition, uint256 price, uint256 quantity, uint256 expiry, address counterparty)
        external
        returns (uint256)
    {
        _checkTerms(token, price, quantity, expiry, counterparty);
        ITrancheToken tok = ITrancheToken(token);
        // The token's own rules for the caller sending `quantity` from `partition` through the venue (operator
        // authorization, pause, closed books, balance, lock-up, KYC; with a named counterparty every receiver
        // rule too). From the caller to itself the token skips the holding rules: the minimum the caller would
        // keep is checked here, as the token checks it.
        address to = counterparty == address(0) ? msg.sender : counterparty;
        // slither-disable-next-line unused-return -- the third value is the partition checked: `partition` itself
        (bytes1 code, bytes32 reason,) = tok.canTransferByPartition(msg.sender, to, partition, quantity, "");
        if (code == C.TRANSFER_SUCCESS && counterparty == address(0)) {
            uint256 left = tok.balanceOf(msg.sender) - quantity;
            if (left != 0 && left < tok.minimumHolding()) (code, reason) = (C.TRANSFER_FAILURE, C.MIN_HOLDING_SENDER);
        }
        if (code != C.TRANSFER_SUCCESS) revert TransferBlocked(msg.sender, counterparty, code, reason);
        _cash(tok, price, quantity);
        return _post(token, ASK | (partition == LOCKED ? LOCKED_PARTITION : 0), price, quantity, expiry, counterparty);
    }

    /// @inheritdoc ITrancheMarket
    function postBid(address token, uint256 price, uint256 quantity, uint256 expiry, address counterparty)
        external
        returns (uint256)
    {
        address registry = _checkTerms(token, price, quantity, expiry, counterparty);
        ITrancheToken tok = ITrancheToken(token);
        // The token's rules for the caller receiving `quantity`, in the token's order: halted, identities (the
        // named counterparty as sender), minimum holding reached.
        bytes1 code = C.TRANSFER_SUCCESS;
        bytes32 reason = C.OK;
        if (tok.paused()) {
            (code, reason) = (C.TRANSFERS_HALTED, C.PAUSED);
        } else if (tok.booksClosed()) {
            (code, reason) = (C.TRANSFERS_HALTED, C.BOOKS_CLOSED);
        } else {
            (code, reason) = IIdentityRegistry(registry).checkTransfer(counterparty, msg.sender);
            if (code == C.TRANSFER_SUCCESS && tok.balanceOf(msg.sender) + quantity < tok.minimumHolding()) {
                (code, reason) = (C.TRANSFER_FAILURE, C.MIN_HOLDING_RECEIVER);
            }
        }
        if (code != C.TRANSFER_SUCCESS) revert TransferBlocked(counterparty, msg.sender, code, reason);
        _checkCash(msg.sender, _cash(tok, price, quantity));
        return _post(token, 0, price, quantity, expiry, counterparty);
    }

    /// @inheritdoc ITrancheMarket
    function take(uint256 id, uint256 quantity, uint256 cashLimit) external returns (uint256 cash) {
        (address maker, uint256 remaining) = _takeable(id, quantity);
        address token = address(uint160(id >> TOKEN_SHIFT));
        if (_listings[token] >> 160 == 0) revert TokenNotListed(token);
        uint256 factor = ITrancheToken(token).factor();
        cash = ((id >> PRICE_SHIFT) & MASK24) * quantity * factor / CASH_DIVISOR;
        if (cash == 0) revert ZeroCash(quantity, factor);
        bool ask = id & ASK != 0;
        if (ask ? cash > cashLimit : cash < cashLimit) revert CashOutsideLimit(cash, cashLimit);

        // Effects first: the order and its level can never fill past what was posted.
        unchecked {
            remaining -= quantity;
        }
        _orders[id] = uint256(uint160(maker)) | (remaining << 160);
        // The level's quantity (low bits) includes this order's remaining quantity: no borrow from the fields above.
        _levels[_book(token, ask)][(id >> PRICE_SHIFT) & MASK24] -= quantity;

        // Delivery versus payment: the token's own rules for both sides, then the cash; any refusal reverts both.
        (address buyer, address seller) = ask ? (msg.sender, maker) : (maker, msg.sender);
        // slither-disable-next-line unused-return -- the partition the units land in (the token's rule); a refusal reverts
        ITrancheToken(token).operatorTransferByPartition(
            id & LOCKED_PARTITION != 0 ? LOCKED : UNRESTRICTED, seller, buyer, quantity, "", ""
        );
        _payCash(buyer, seller, cash);
        _filled(id, buyer, seller, quantity, cash, factor, remaining);
    }

    /// @inheritdoc ITrancheMarket
    function cancel(uint256 id) external {
        uint256 entry = _orders[id];
        address maker = address(uint160(entry));
        uint256 remaining = entry >> 160;
        if (maker == address(0)) revert OrderNotFound(id);
        if (remaining == 0) revert OrderClosed(id);
        if (msg.sender != maker && block.timestamp <= (id >> EXPIRY_SHIFT) & MASK40) {
            revert NotMaker(id, msg.sender, maker);
        }
        _orders[id] = uint160(maker);
        _levels[_book(address(uint160(id >> TOKEN_SHIFT)), id & ASK != 0)][(id >> PRICE_SHIFT) & MASK24] -= remaining;
        emit OrderCancelled(id, maker, msg.sender, remaining);
    }

    /// @inheritdoc ITrancheMarket
    function prune(address token, bool ask, uint256[] calldata prices) external {
        uint256 book = _book(token, ask);
        for (uint256 i; i < prices.length; ++i) {
            uint256 price = prices[i];
            if (price > MAX_PRICE || _live(_levels[book][price]) != 0) continue;
            uint256 index = price >> 8;
            uint256 word = _words[book][index];
            uint256 bit = 1 << (price & 255);
            if (word & bit == 0) continue;
            word &= ~bit;
            _words[book][index] = word;
            if (word == 0) _summaries[book][index >> 8] &= ~(1 << (index & 255));
        }
    }

    // =====================================================================================================
    // Views
    // =====================================================================================================

    /// @inheritdoc ITrancheMarket
    function orderOf(uint256 id) external view returns (Order memory order) {
        uint256 entry = _orders[id];
        order.maker = address(uint160(entry));
        order.token = address(uint160(id >> TOKEN_SHIFT));
        order.ask = id & ASK != 0;
        order.partition = id & LOCKED_PARTITION != 0 ? LOCKED : UNRESTRICTED;
        order.price = (id >> PRICE_SHIFT) & MASK24;
        order.remaining = entry >> 160;
        order.expiry = (id >> EXPIRY_SHIFT) & MASK40;
        order.counterparty = id & NAMED != 0 ? _counterparties[id] : address(0);
        order.open = order.remaining != 0 && block.timestamp <= order.expiry;
    }

    /// @inheritdoc ITrancheMarket
    function cashFor(address token, uint256 price, uint256 quantity) external view returns (uint256) {
        return price * quantity * ITrancheToken(token).factor() / CASH_DIVISOR;
    }

    /// @inheritdoc ITrancheMarket
    function bestBid(address token) external view returns (uint256, uint256) {
        return _best(token, false);
    }

    /// @inheritdoc ITrancheMarket
    function bestAsk(address token) external view returns (uint256, uint256) {
        return _best(token, true);
    }

    /// @inheritdoc ITrancheMarket
    function depth(address token, bool ask, uint256 maxLevels)
        public
        view
        returns (uint256[] memory prices, uint256[] memory quantities)
    {
        prices = new uint256[](maxLevels);
        quantities = new uint256[](maxLevels);
        uint256 found = 0;
        uint256 book = _book(token, ask);
        // Summary words from the best end (asks: lowest prices first; bids: highest first).
        for (uint256 s; s < 256 && found < maxLevels; ++s) {
            uint256 summaryIndex = ask ? s : 255 - s;
            uint256 summary = _summaries[book][summaryIndex];
            while (summary != 0 && found < maxLevels) {
                uint256 sbit = ask ? LibBit.ffs(summary) : LibBit.fls(summary);
                summary &= ~(1 << sbit);
                uint256 index = (summaryIndex << 8) | sbit;
                uint256 word = _words[book][index];
                while (word != 0 && found < maxLevels) {
                    uint256 bit = ask ? LibBit.ffs(word) : LibBit.fls(word);
                    word &= ~(1 << bit);
                    uint256 price = (index << 8) | bit;
                    uint256 quantity = _live(_levels[book][price]);
                    if (quantity != 0) {
                        prices[found] = price;
                        quantities[found] = quantity;
                        ++found;
                    }
                }
            }
        }
        assembly ("memory-safe") {
            mstore(prices, found)
            mstore(quantities, found)
        }
    }

    /// @inheritdoc ITrancheMarket
    function level(address token, bool ask, uint256 price)
        external
        view
        returns (uint256 quantity, uint256 posted, uint256 maxExpiry)
    {
        uint256 word = _levels[_book(token, ask)][price];
        return (word & MASK128, (word >> 128) & MASK32, word >> 160);
    }

    // =====================================================================================================
    // Internals
    // =====================================================================================================

    /// @dev Order `id` exists, is open and not expired, holds `quantity`, and the caller may take it.
    function _takeable(uint256 id, uint256 quantity) private view returns (address maker, uint256 remaining) {
        uint256 entry = _orders[id];
        maker = address(uint160(entry));
        remaining = entry >> 160;
        if (maker == address(0)) revert OrderNotFound(id);
        if (remaining == 0) revert OrderClosed(id);
        uint256 expiry = (id >> EXPIRY_SHIFT) & MASK40;
        if (block.timestamp > expiry) revert OrderExpired(id, expiry);
        if (quantity == 0) revert ZeroQuantity();
        if (quantity > remaining) revert QuantityExceedsRemaining(id, quantity, remaining);
        if (maker == msg.sender) revert SelfTrade(id, msg.sender);
        if (id & NAMED != 0) {
            address counterparty = _counterparties[id];
            if (counterparty != msg.sender) revert NotCounterparty(id, msg.sender, counterparty);
        }
    }

    function _filled(
        uint256 id,
        address buyer,
        address seller,
        uint256 quantity,
        uint256 cash,
        uint256 factor,
        uint256 remaining
    ) private {
        emit OrderFilled(
            address(uint160(id >> TOKEN_SHIFT)),
            buyer,
            seller,
            id,
            (id >> PRICE_SHIFT) & MASK24,
            quantity,
            cash,
            factor,
            remaining
        );
    }

    /// @dev Rules every order obeys; returns the token's identity registry.
    function _checkTerms(address token, uint256 price, uint256 quantity, uint256 expiry, address counterparty)
        private
        view
        returns (address registry)
    {
        uint256 entry = _listings[token];
        if (entry >> 160 == 0) revert TokenNotListed(token);
        if (price == 0) revert ZeroPrice();
        if (price > MAX_PRICE) revert ValueOutOfRange("price", price, MAX_PRICE);
        if (quantity == 0) revert ZeroQuantity();
        if (quantity > MAX_QUANTITY) revert ValueOutOfRange("quantity", quantity, MAX_QUANTITY);
        if (expiry <= block.timestamp) revert ExpiryNotInFuture(expiry, block.timestamp);
        if (expiry > MAX_EXPIRY) revert ValueOutOfRange("expiry", expiry, MAX_EXPIRY);
        if (counterparty == msg.sender) revert SelfTrade(0, msg.sender);
        return address(uint160(entry));
    }

    /// @dev The cash of `quantity` at `price` at the token's factor now; refuses a trade for no cash.
    function _cash(ITrancheToken tok, uint256 price, uint256 quantity) private view returns (uint256 cash) {
        uint256 factor = tok.factor();
        cash = price * quantity * factor / CASH_DIVISOR;
        if (cash == 0) revert ZeroCash(quantity, factor);
    }

    /// @dev The buyer's balance and allowance cover `cash` (ERC-1066 0x52 / 0x53 otherwise).
    function _checkCash(address buyer, uint256 cash) private view {
        uint256 balance = _currency.balanceOf(buyer);
        if (balance < cash) revert CashUnavailable(buyer, C.INSUFFICIENT_BALANCE, cash, balance);
        uint256 allowed = _currency.allowance(buyer, address(this));
        if (allowed < cash) revert CashUnavailable(buyer, C.INSUFFICIENT_ALLOWANCE, cash, allowed);
    }

    /// @dev Pay `cash` from `buyer` to `seller`. The transfer is tried first (the common case pays no balance or
    ///      allowance reads); on a refusal the buyer's balance and allowance name the cause (0x52 / 0x53), and
    ///      otherwise the transfer is made again so that the currency's own revert reaches the caller unchanged.
    function _payCash(address buyer, address seller, uint256 cash) private {
        if (_currency.trySafeTransferFrom(buyer, seller, cash)) return;
        _checkCash(buyer, cash);
        _currency.safeTransferFrom(buyer, seller, cash);
    }

    /// @dev Record a new order (flags: ASK, LOCKED_PARTITION) at its level and in the price index.
    function _post(address token, uint256 flags, uint256 price, uint256 quantity, uint256 expiry, address counterparty)
        private
        returns (uint256 id)
    {
        uint256 book = _book(token, flags & ASK != 0);
        uint256 word = _levels[book][price];
        uint256 sequence = ((word >> 128) & MASK32) + 1;
        if (sequence > MAX_SEQUENCE) revert LevelExhausted(price);
        uint256 maxExpiry = word >> 160;
        if (expiry > maxExpiry) maxExpiry = expiry;
        // At most 2**29 orders of at most 2**96 units each: the quantity field (128 bits) cannot overflow.
        _levels[book][price] = ((word & MASK128) + quantity) | (sequence << 128) | (maxExpiry << 160);
        id = sequence | (price << PRICE_SHIFT) | (expiry << EXPIRY_SHIFT) | flags
            | (uint256(uint160(token)) << TOKEN_SHIFT);
        if (counterparty != address(0)) {
            id |= NAMED;
            _counterparties[id] = counterparty;
        }
        _orders[id] = uint256(uint160(msg.sender)) | (quantity << 160);
        _index(book, price);
        _posted(id, quantity, counterparty);
    }

    /// @dev Set the bit of `price` in the book's price index (and its word's bit in the summary).
    function _index(uint256 book, uint256 price) private {
        uint256 index = price >> 8;
        uint256 bits = _words[book][index];
        uint256 bit = 1 << (price & 255);
        if (bits & bit == 0) {
            _words[book][index] = bits | bit;
            if (bits == 0) _summaries[book][index >> 8] |= 1 << (index & 255);
        }
    }

    function _posted(uint256 id, uint256 quantity, address counterparty) private {
        emit OrderPosted(
            id,
            msg.sender,
            address(uint160(id >> TOKEN_SHIFT)),
            id & ASK != 0,
            id & LOCKED_PARTITION != 0 ? LOCKED : UNRESTRICTED,
            (id >> PRICE_SHIFT) & MASK24,
            quantity,
            (id >> EXPIRY_SHIFT) & MASK40,
            counterparty
        );
    }

    /// @dev The best level of one side of `token`'s book.
    function _best(address token, bool ask) private view returns (uint256, uint256) {
        (uint256[] memory prices, uint256[] memory quantities) = depth(token, ask, 1);
        return prices.length == 0 ? (0, 0) : (prices[0], quantities[0]);
    }

    /// @dev The open quantity of a level word, 0 when every order posted there has expired.
    function _live(uint256 word) private view returns (uint256) {
        return block.timestamp > word >> 160 ? 0 : word & MASK128;
    }

    function _book(address token, bool ask) private pure returns (uint256) {
        return (uint256(uint160(token)) << 1) | (ask ? 1 : 0);
    }
}
