// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {DateLib} from "../spv/DateLib.sol";

/// @title DateLibHarness
/// @notice Tests only: exposes the internal `DateLib` so the Python calendar can be held equal to it.
contract DateLibHarness {
    function addMonths(uint256 timestamp, uint256 months) external pure returns (uint256) {
        return DateLib.addMonths(timestamp, months);
    }

    function civilFromDays(uint256 z) external pure returns (uint256 y, uint256 m, uint256 d) {
        return DateLib.civilFromDays(z);
    }
}
