// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {ISPVRegistry} from "../../interfaces/ISPVDependencies.sol";

/// @title PoolRegistryMock
/// @notice Tests only: the pool-ownership part of the AssetRegistry, so SPV unit tests run without
/// onboarding a tape. Pool owners approve one operator; the owner or the operator moves the pool.
contract PoolRegistryMock is ISPVRegistry {
    mapping(uint256 => address) private _owner;
    mapping(uint256 => address) private _approved;

    event PoolTransferred(uint256 indexed poolId, address indexed from, address indexed to);

    error NotPoolOwnerOrApproved(uint256 poolId, address caller);

    function setPool(uint256 poolId, address owner) external {
        _owner[poolId] = owner;
    }

    function approvePool(uint256 poolId, address operator) external {
        if (msg.sender != _owner[poolId]) revert NotPoolOwnerOrApproved(poolId, msg.sender);
        _approved[poolId] = operator;
    }

    function transferPool(uint256 poolId, address to) external {
        address owner = _owner[poolId];
        if (msg.sender != owner && msg.sender != _approved[poolId]) revert NotPoolOwnerOrApproved(poolId, msg.sender);
        _owner[poolId] = to;
        _approved[poolId] = address(0);
        emit PoolTransferred(poolId, owner, to);
    }

    function poolOwner(uint256 poolId) external view returns (address) {
        return _owner[poolId];
    }
}
