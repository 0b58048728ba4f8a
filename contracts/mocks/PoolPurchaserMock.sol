// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IAssetRegistry, IPoolPurchaser} from "../../interfaces/IAssetRegistry.sol";

/// @title PoolPurchaserMock
/// @notice Tests only: the owner of a revolving pool that accepts every purchase its pool's originator makes (an
/// SPV pays at par from its principal collections; this one only counts them), so that the registry's
/// purchase path (tests/unit/test_registry_obligors.py) is tested without a whole deal.
contract PoolPurchaserMock is IPoolPurchaser {
    /// @notice Purchases accepted, and their principal.
    uint256 public purchases;
    uint256 public principalBought;

    /// @inheritdoc IPoolPurchaser
    function onPoolPurchase(uint256, address, uint256, uint256 principal) external {
        purchases += 1;
        principalBought += principal;
    }

    /// @notice Give asset `assetId` of a pool this contract owns back to its originator (as the pool's owner).
    function repurchase(IAssetRegistry registry, uint256 assetId) external {
        registry.repurchase(assetId, keccak256("repurchase"));
    }
}
