// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {DistributionMath} from "../token/DistributionMath.sol";

/// @title DistributionMathMock
/// @notice Exposes the DistributionMath library for unit tests only.
contract DistributionMathMock {
    function perTokenIncrement(uint256 amount, uint256 supply) external pure returns (uint256) {
        return DistributionMath.perTokenIncrement(amount, supply);
    }

    function accrued(uint256 balance, uint256 accFrom, uint256 accTo) external pure returns (uint256) {
        return DistributionMath.accrued(balance, accFrom, accTo);
    }

    function toUnits(uint256 credit) external pure returns (uint256) {
        return DistributionMath.toUnits(credit);
    }

    function covering(uint256 credit, uint256 paid) external pure returns (uint256) {
        return DistributionMath.covering(credit, paid);
    }

    function subUnitRemainder(uint256 credit) external pure returns (uint256) {
        return DistributionMath.subUnitRemainder(credit);
    }

    function retained(uint256 amount, uint256 remaining, uint256 supply) external pure returns (uint256) {
        return DistributionMath.retained(amount, remaining, supply);
    }

    function incrementRemainder(uint256 amount, uint256 supply) external pure returns (uint256) {
        return DistributionMath.incrementRemainder(amount, supply);
    }

    function remainderCredit(uint256 remainders) external pure returns (uint256) {
        return DistributionMath.remainderCredit(remainders);
    }

    function wholeUnits(uint256 credit) external pure returns (uint256) {
        return DistributionMath.wholeUnits(credit);
    }
}
