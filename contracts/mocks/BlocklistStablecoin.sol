// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {TestStablecoin} from "./TestStablecoin.sol";

/// @title BlocklistStablecoin
/// @notice Tests only: the test stablecoin with a USDC-like blocklist (the owner can block an address from
/// sending or receiving). Kept apart from `TestStablecoin` so that the benchmarks' currency transfers do not
/// pay for the blocklist lookups.
contract BlocklistStablecoin is TestStablecoin {
    mapping(address account => bool) private _blocked;

    /// @notice Emitted when the owner blocks or unblocks `account`.
    event Blocklisted(address indexed account, bool blocked);

    /// @notice `account` is blocked: it can neither send nor receive.
    error AccountBlocked(address account);

    constructor(string memory name_, string memory symbol_, uint8 decimals_)
        TestStablecoin(name_, symbol_, decimals_)
    {}

    /// @notice Block (or unblock) `account` from sending and receiving.
    function setBlocked(address account, bool blocked) external onlyOwner {
        _blocked[account] = blocked;
        emit Blocklisted(account, blocked);
    }

    /// @notice Whether `account` is blocked.
    function isBlocked(address account) external view returns (bool) {
        return _blocked[account];
    }

    function _update(address from, address to, uint256 value) internal override {
        if (_blocked[from]) revert AccountBlocked(from);
        if (_blocked[to]) revert AccountBlocked(to);
        super._update(from, to, value);
    }
}
