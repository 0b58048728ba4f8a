// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title ITrancheMarket
/// @notice A trading venue for ChainABS tranche tokens against one currency: verified investors post buy orders
///         (bids) and sell orders (asks), others take them fully or partly, makers cancel. Every fill is an
///         atomic delivery versus payment: the units move from the seller's wallet to the buyer's and the cash
///         from the buyer's wallet to the seller's in the same transaction, or nothing moves.
///
///         One venue serves every listed tranche of every deal in its currency: the order book of a tranche is
///         keyed by the token, and the cash leg never depends on the deal, so one venue per currency gives
///         investors one place (one currency approval, one operator authorization per token) for all deals.
///
///         Custody: nothing is escrowed. A seller keeps the units in its wallet until the fill (the venue is an
///         ERC-1410 operator of the seller's partition); a buyer keeps its cash until the fill (ERC-20
///         allowance to the venue). So a seller's units keep earning the seller's distributions until they are
///         sold, and a distribution between a post and a fill changes nothing for the seller's claim.
///
///         Compliance: the units leg is the token's own `operatorTransferByPartition`, so every rule of the
///         token runs for the seller and the buyer (KYC, freeze, expiry, jurisdiction, lock-up partition,
///         minimum holding, maximum holders, pause, books closed at a record date) and a refused fill reverts
///         with the token's `TransferBlocked(from, to, code, reason)` (ERC-1066 code). Posting an order that a
///         rule would refuse fails early with the same error and code (see `postAsk`, `postBid`).
///
///         Quote convention: `price` is the price per 100 of current principal, as bond markets quote, in units
///         of 1/`PRICE_SCALE` (10,000ths) of the currency: 99.5 is 995,000. Quantities are token units (one unit is
///         one base unit of original face; the token has the currency's decimals). The cash of a fill is
///         `cash = price * quantity * factor / (100 * PRICE_SCALE * 1e18)`, rounded down, where `factor` is the
///         token's `factor()` (current principal per unit of original face, 1e18 fixed point) at the fill. The
///         rounding remainder (below one base unit per fill) stays with the buyer. The price is all-in: interest
///         is paid to the holders of record at each distribution, so there is no separate accrued interest.
///
///         Order ids carry the order's terms (token, side, partition, price, expiry, named counterparty flag and a
///         per-price-level sequence number), so an order is one storage word (maker and remaining quantity) and a
///         fill reads and writes a fixed number of slots whatever the depth of the book.
interface ITrancheMarket {
    /// @notice Decoded order (see `orderOf`).
    /// @param maker who posted it (zero: no such order)
    /// @param token the tranche token
    /// @param ask true for a sell order, false for a buy order
    /// @param partition the maker's partition the units come from (asks), "unrestricted" for bids
    /// @param price per 100 of current principal, in 1/PRICE_SCALE of the currency
    /// @param remaining quantity still to fill (0 once filled or cancelled)
    /// @param expiry unix time after which it can no longer be filled
    /// @param counterparty the only account that may take it (zero: anyone)
    /// @param open true while it can be taken (remaining quantity and not expired)
    struct Order {
        address maker;
        address token;
        bool ask;
        bytes32 partition;
        uint256 price;
        uint256 remaining;
        uint256 expiry;
        address counterparty;
        bool open;
    }

    /// @notice Emitted when a lister lists `token` (identity registry `registry`).
    event TokenListed(address indexed lister, address indexed token, address registry);
    /// @notice Emitted when a lister delists `token`: no post and no fill until it is listed again (cancels
    ///         still work).
    event TokenDelisted(address indexed lister, address indexed token);
    /// @notice Emitted for every order posted.
    event OrderPosted(
        uint256 indexed id,
        address indexed maker,
        address indexed token,
        bool ask,
        bytes32 partition,
        uint256 price,
        uint256 quantity,
        uint256 expiry,
        address counterparty
    );
    /// @notice Emitted when `by` (the maker, or anyone once the order expired) cancels the `quantity` left of
    ///         order `id`.
    event OrderCancelled(uint256 indexed id, address indexed maker, address indexed by, uint256 quantity);
    /// @notice Emitted for every fill: `quantity` units of `token` from `seller` to `buyer` against `cash` of the
    ///         currency, at `price` (per 100 of current principal) and the token's `factor`; `remaining` is what
    ///         is left of order `id`.
    event OrderFilled(
        address indexed token,
        address indexed buyer,
        address indexed seller,
        uint256 id,
        uint256 price,
        uint256 quantity,
        uint256 cash,
        uint256 factor,
        uint256 remaining
    );

    /// @notice A units-leg rule refuses the order or the fill: the token's own error (same selector as
    ///         `ITrancheToken.TransferBlocked`), with its ERC-1066 `code` and `reason`. At posting, `from` or `to`
    ///         is zero when the other side is not known yet.
    error TransferBlocked(address from, address to, bytes1 code, bytes32 reason);
    /// @notice The buyer's cash leg cannot be paid: ERC-1066 0x52 (balance) or 0x53 (allowance to the venue);
    ///         `needed` is the cash, `available` the balance or allowance.
    error CashUnavailable(address buyer, bytes1 code, uint256 needed, uint256 available);
    /// @notice The cash of the fill (`cash`) is above the taker's limit when buying or below it when selling.
    error CashOutsideLimit(uint256 cash, uint256 limit);
    /// @notice The fill would move units for no cash (`quantity` at the token's `factor` rounds to 0).
    error ZeroCash(uint256 quantity, uint256 factor);
    /// @notice A quantity of zero.
    error ZeroQuantity();
    /// @notice A price of zero.
    error ZeroPrice();
    /// @notice `field` ("price", "quantity", "expiry") is `value`, above `limit`.
    error ValueOutOfRange(bytes32 field, uint256 value, uint256 limit);
    /// @notice The order's expiry `expiry` is not after now (`nowTime`).
    error ExpiryNotInFuture(uint256 expiry, uint256 nowTime);
    /// @notice `token` is not listed on the venue.
    error TokenNotListed(address token);
    /// @notice `token` pays in `tokenCurrency`, not the venue's `currency`.
    error CurrencyMismatch(address token, address tokenCurrency, address currency);
    /// @notice An address argument `field` is the zero address.
    error ZeroAddressNotAllowed(bytes32 field);
    /// @notice No order `id` was ever posted.
    error OrderNotFound(uint256 id);
    /// @notice Order `id` was filled or cancelled.
    error OrderClosed(uint256 id);
    /// @notice Order `id` expired at `expiry`.
    error OrderExpired(uint256 id, uint256 expiry);
    /// @notice `quantity` is more than the `remaining` quantity of order `id`.
    error QuantityExceedsRemaining(uint256 id, uint256 quantity, uint256 remaining);
    /// @notice `account` is both sides of the trade (maker and taker, or maker and named counterparty).
    error SelfTrade(uint256 id, address account);
    /// @notice Order `id` is reserved for `counterparty`; `caller` may not take it.
    error NotCounterparty(uint256 id, address caller, address counterparty);
    /// @notice Only the maker may cancel order `id` before it expires (`caller` is not `maker`).
    error NotMaker(uint256 id, address caller, address maker);
    /// @notice The price level of `price` took every order its sequence numbers can name.
    error LevelExhausted(uint256 price);

    // ---- roles and configuration ----
    /// @notice Role of the accounts that list and delist tokens.
    function LISTER_ROLE() external view returns (bytes32);
    /// @notice Prices are in 1/PRICE_SCALE of the currency per 100 of current principal (10,000).
    function PRICE_SCALE() external view returns (uint256);
    /// @notice Highest price (2**24 - 1: 1,677.7215 per 100).
    function MAX_PRICE() external view returns (uint256);
    /// @notice The currency every listed token pays in and every fill is paid in.
    function currency() external view returns (address);

    // ---- listing (LISTER_ROLE) ----
    /// @notice List `token` (its currency must be the venue's); records its identity registry.
    function list(address token) external;
    /// @notice Delist `token`: posts and fills refused until it is listed again; cancels still work.
    function delist(address token) external;
    /// @notice Whether `token` is listed, and its identity registry (recorded at listing).
    function listing(address token) external view returns (bool listed, address registry);

    // ---- orders ----
    /// @notice Post a sell order of `quantity` units of `token` from the caller's `partition` ("unrestricted",
    ///         or "locked" once the lock-up is over) at `price` until `expiry`, optionally for `counterparty`
    ///         only. The venue must be the caller's operator for the partition (`authorizeOperator` or
    ///         `authorizeOperatorByPartition` on the token). Refused with the token's code when the token would
    ///         refuse the caller sending `quantity` now (halted, balance, lock-up, KYC of the caller, minimum
    ///         holding left; with a counterparty, also every receiver rule for it).
    /// @return id the order id
    function postAsk(address token, bytes32 partition, uint256 price, uint256 quantity, uint256 expiry, address counterparty)
        external
        returns (uint256 id);

    /// @notice Post a buy order of `quantity` units of `token` at `price` until `expiry`, optionally for
    ///         `counterparty` only. Refused with the token's code when the token would refuse the caller
    ///         receiving `quantity` now (halted, KYC of the caller, and of the counterparty as sender, minimum
    ///         holding), and with `CashUnavailable` when the caller's currency balance or allowance to the
    ///         venue does not cover the cash at today's factor.
    /// @return id the order id
    function postBid(address token, uint256 price, uint256 quantity, uint256 expiry, address counterparty)
        external
        returns (uint256 id);

    /// @notice Take `quantity` of order `id`: the caller buys from an ask or sells into a bid (from its
    ///         unrestricted partition; the venue must be its operator). `cashLimit` is the most cash the caller
    ///         pays when buying, the least it receives when selling (0: no limit when selling). Units and cash
    ///         move in this transaction or not at all.
    /// @return cash the cash paid by the buyer to the seller
    function take(uint256 id, uint256 quantity, uint256 cashLimit) external returns (uint256 cash);

    /// @notice Cancel what is left of order `id` (its maker; anyone once it expired).
    function cancel(uint256 id) external;

    /// @notice Drop from the book's price index the levels of `prices` that hold nothing (anyone; views skip
    ///         empty levels anyway, this keeps them fast).
    function prune(address token, bool ask, uint256[] calldata prices) external;

    // ---- views ----
    /// @notice The order `id` (all zero but the decoded terms when no such order exists).
    function orderOf(uint256 id) external view returns (Order memory);
    /// @notice The cash of `quantity` units of `token` at `price` at today's factor (rounded down).
    function cashFor(address token, uint256 price, uint256 quantity) external view returns (uint256);
    /// @notice Highest bid price and the quantity at it (0, 0 when there is none).
    function bestBid(address token) external view returns (uint256 price, uint256 quantity);
    /// @notice Lowest ask price and the quantity at it (0, 0 when there is none).
    function bestAsk(address token) external view returns (uint256 price, uint256 quantity);
    /// @notice Up to `maxLevels` price levels of one side of `token`'s book, best first: price and quantity.
    /// @dev A level's quantity counts every order posted there and neither filled nor cancelled; a level whose
    ///      orders have all expired is left out (orders can expire one by one: the level counts them until
    ///      someone cancels them).
    function depth(address token, bool ask, uint256 maxLevels)
        external
        view
        returns (uint256[] memory prices, uint256[] memory quantities);
    /// @notice One price level: quantity open, orders posted there so far, latest expiry of its orders.
    function level(address token, bool ask, uint256 price)
        external
        view
        returns (uint256 quantity, uint256 posted, uint256 maxExpiry);
}
