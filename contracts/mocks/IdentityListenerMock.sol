// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IIdentityRegistry} from "../../interfaces/IIdentityRegistry.sol";

/// @title IdentityListenerMock
/// @notice An identity listener that is not a tranche token: it accepts `resetIdentityCache` and `clearIdentity`
///         while `mode` is 0,
///         reverts in mode 1, burns every unit of gas it is given in mode 2, and in mode 3 moves `amount` of
///         `token` from `victim` to `receiver` (with the allowance `victim` gave it) from inside the registry's
///         listener loop, recording whether the move went through and what the registry answered about it at that
///         moment. In mode 4 it measures the gas it is given (`entryGas`, the gas left when its update starts) and
///         refuses unless that is at least `need`: a listener whose update needs its whole allowance. Tests only.
contract IdentityListenerMock {
    uint8 public mode;
    uint256 public calls;
    address public token;
    address public victim;
    address public receiver;
    uint256 public amount;
    /// @notice Mode 3: whether the move inside the loop succeeded, and the registry's `checkTransfer` code then.
    bool public moved;
    bytes1 public registryCode;
    bytes32 public registryReason;
    /// @notice Mode 4: the gas left when the last update started, and the least it accepts.
    uint256 public entryGas;
    uint256 public need;

    function setMode(uint8 mode_) external {
        mode = mode_;
    }

    function meter(uint256 need_) external {
        (need, mode) = (need_, 4);
    }

    function arm(address token_, address victim_, address receiver_, uint256 amount_) external {
        (token, victim, receiver, amount) = (token_, victim_, receiver_, amount_);
        mode = 3;
    }

    function resetIdentityCache(bool) external {
        _react();
    }

    function clearIdentity(address) external {
        _react();
    }

    /// @notice Always on (the registry checks it when the mock is added), at generation `calls`.
    function identityCache() external view returns (bool, uint256) {
        return (true, calls);
    }

    function _react() private {
        uint256 entry = gasleft();
        if (mode == 4) {
            if (entry < need) revert("listener short of its allowance");
            entryGas = entry;
        }
        ++calls;
        if (mode == 1) revert("listener refuses");
        if (mode == 2) {
            while (gasleft() > 0) {}
        }
        if (mode == 3) {
            mode = 0;
            (registryCode, registryReason) = IIdentityRegistry(msg.sender).checkTransfer(victim, receiver);
            try IERC20(token).transferFrom(victim, receiver, amount) returns (bool ok) {
                moved = ok;
            } catch {
                moved = false;
            }
        }
    }
}
