// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";

/// @title TestStablecoin
/// @notice A USDC-like test currency (6 decimals) for local chains and tests only. The owner mints and, like
/// USDC's blacklist, can block an address from sending or receiving.
contract TestStablecoin is ERC20, Ownable {
    uint8 private immutable _decimals;
    mapping(address account => bool) private _blocked;

    /// @notice Emitted when the owner mints test currency.
    event Minted(address indexed to, uint256 amount);
    /// @notice Emitted when the owner blocks or unblocks `account`.
    event Blocklisted(address indexed account, bool blocked);

    /// @notice `account` is blocked: it can neither send nor receive.
    error AccountBlocked(address account);

    constructor(string memory name_, string memory symbol_, uint8 decimals_)
        ERC20(name_, symbol_)
        Ownable(msg.sender)
    {
        _decimals = decimals_;
    }

    /// @inheritdoc ERC20
    function decimals() public view override returns (uint8) {
        return _decimals;
    }

    /// @notice Mint `amount` base units to `to`. Test currency only.
    function mint(address to, uint256 amount) external onlyOwner {
        _mint(to, amount);
        emit Minted(to, amount);
    }

    /// @notice Block (or unblock) `account` from sending and receiving. Test currency only.
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
