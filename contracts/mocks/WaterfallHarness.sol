// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {DealParams, DealState, PeriodReport, PeriodResult} from "../../interfaces/IWaterfall.sol";
import {Waterfall} from "../spv/Waterfall.sol";

/// @title WaterfallHarness
/// @notice Tests only: exposes the pure `Waterfall` library so the Python model can be compared with it.
contract WaterfallHarness {
    /// @notice `Waterfall.closePeriod`.
    function closePeriod(DealParams memory p, DealState memory s, PeriodReport memory r)
        external
        pure
        returns (PeriodResult memory res, DealState memory next)
    {
        return Waterfall.closePeriod(p, s, r);
    }

    /// @notice Gas spent inside `Waterfall.closePeriod` alone (measured with `gasleft()` around the call, so
    /// without the transaction's base cost, the calldata, the ABI decoding of the arguments and the encoding
    /// of the results): the benchmark's `waterfall_close_only_gas`.
    function closePeriodGas(DealParams memory p, DealState memory s, PeriodReport memory r)
        external
        view
        returns (uint256 gasUsed)
    {
        gasUsed = gasleft();
        Waterfall.closePeriod(p, s, r);
        gasUsed -= gasleft();
    }

    /// @notice `Waterfall.validateParams`.
    function validateParams(DealParams memory p) external pure {
        Waterfall.validateParams(p);
    }

    /// @notice `Waterfall.allocatePrincipal`.
    function allocatePrincipal(uint256 amount, uint256[] memory balances, bool sequential)
        external
        pure
        returns (uint256[] memory paid, uint256 left)
    {
        return Waterfall.allocatePrincipal(amount, balances, sequential);
    }

    /// @notice `Waterfall.accrue`.
    function accrue(uint256 amount, uint256 bpsPerAnnum, uint256 months) external pure returns (uint256) {
        return Waterfall.accrue(amount, bpsPerAnnum, months);
    }

    /// @notice `Waterfall.reserveTarget`.
    function reserveTarget(DealParams memory p, uint256 poolEndingBalance, uint256 debtBalance, bool stepUp)
        external
        pure
        returns (uint256)
    {
        return Waterfall.reserveTarget(p, poolEndingBalance, debtBalance, stepUp);
    }
}
