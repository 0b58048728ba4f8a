// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title DateLib
/// @notice Calendar arithmetic on unix times (UTC, proleptic Gregorian calendar, dates from 1970): adding
/// calendar months the way payment schedules do, with the day clamped to the last day of a shorter month
/// (Jan 31 + 1 month = Feb 28 or 29). Mirrored by `chainabs` (`add_months`), held equal by a test.
/// @dev Day counts use the civil-from-days / days-from-civil conversion over 400-year eras of 146,097 days
/// (March-based years, so that the leap day is the last day of the year).
library DateLib {
    uint256 internal constant SECONDS_PER_DAY = 86_400;
    /// @dev Days from 0000-03-01 to 1970-01-01.
    uint256 private constant EPOCH_SHIFT = 719_468;
    uint256 private constant DAYS_PER_ERA = 146_097;

    /// @notice `timestamp` moved `months` calendar months later, same time of day, day clamped to the month.
    function addMonths(uint256 timestamp, uint256 months) internal pure returns (uint256) {
        if (months == 0) return timestamp;
        uint256 secondsOfDay = timestamp % SECONDS_PER_DAY;
        (uint256 year, uint256 month, uint256 day) = civilFromDays(timestamp / SECONDS_PER_DAY);
        uint256 total = year * 12 + (month - 1) + months;
        uint256 toYear = total / 12;
        uint256 toMonth = total % 12 + 1;
        uint256 last = daysInMonth(toYear, toMonth);
        return daysFromCivil(toYear, toMonth, day > last ? last : day) * SECONDS_PER_DAY + secondsOfDay;
    }

    /// @notice Year, month (1..12) and day (1..31) of day number `z` (days since 1970-01-01).
    // slither-disable-next-line divide-before-multiply -- calendar arithmetic: each quotient is a whole count (eras, years, months) on purpose
    function civilFromDays(uint256 z) internal pure returns (uint256 y, uint256 m, uint256 d) {
        z += EPOCH_SHIFT;
        uint256 era = z / DAYS_PER_ERA;
        uint256 doe = z - era * DAYS_PER_ERA; // day of era, 0..146096
        uint256 yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // year of era, 0..399
        uint256 doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // day of the March-based year, 0..365
        uint256 mp = (5 * doy + 2) / 153; // March-based month, 0..11
        d = doy - (153 * mp + 2) / 5 + 1;
        m = mp < 10 ? mp + 3 : mp - 9;
        y = yoe + era * 400 + (m <= 2 ? 1 : 0);
    }

    /// @notice Day number (days since 1970-01-01) of year `y`, month `m` (1..12), day `d`; `y` >= 1970.
    // slither-disable-next-line divide-before-multiply -- calendar arithmetic: each quotient is a whole count (eras, years, months) on purpose
    function daysFromCivil(uint256 y, uint256 m, uint256 d) internal pure returns (uint256) {
        if (m <= 2) y -= 1;
        uint256 era = y / 400;
        uint256 yoe = y - era * 400;
        uint256 doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
        uint256 doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        return era * DAYS_PER_ERA + doe - EPOCH_SHIFT;
    }

    /// @notice Number of days of month `m` of year `y`.
    function daysInMonth(uint256 y, uint256 m) internal pure returns (uint256) {
        if (m == 2) return (y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)) ? 29 : 28;
        return (m == 4 || m == 6 || m == 9 || m == 11) ? 30 : 31;
    }
}
