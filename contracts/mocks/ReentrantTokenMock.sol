// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

interface IClaimable {
    function claimFor(address holder) external returns (uint256, uint256);
}

/// @title ReentrantTokenMock
/// @notice Hostile currency: when it pays `victim`, it calls back into the tranche token's `claimFor`
///         (once) to try to withdraw the same funds twice. Tests only.
contract ReentrantTokenMock is ERC20 {
    address public target;
    address public victim;
    bool private _entered;
    uint256 public reentryInterest;
    uint256 public reentryPrincipal;

    constructor() ERC20("Reentrant USD", "rUSD") {}

    function decimals() public pure override returns (uint8) {
        return 6;
    }

    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    function arm(address target_, address victim_) external {
        target = target_;
        victim = victim_;
    }

    function _update(address from, address to, uint256 value) internal override {
        super._update(from, to, value);
        if (from == target && to == victim && target != address(0) && !_entered) {
            _entered = true;
            (reentryInterest, reentryPrincipal) = IClaimable(target).claimFor(victim);
        }
    }
}
