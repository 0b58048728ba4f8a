"""Look-through servicing on chain: a period report's figures are the registry's and its tape's, and anyone
holding the tape proves a false leaf or sum at the deal's court; a proven report neither closes nor prices a
clean-up call until the trustee cancels it. The originator buys a loan back through the court at its last
proven balance. Each report figure the SPV checks is refused by name when it disagrees."""

from __future__ import annotations

from dataclasses import replace

import pytest

from chainabs.chain import court as courtlib
from chainabs.chain import spv as spvlib
from chainabs.chain.sender import transact
from chainabs.dev.sandbox import books, roll_rate_reports, serve_tape
from chainabs.model import servicing as sv
from chainabs.model.assets import STATUS_CODE, asset_id
from chainabs.model.deal import DealModelError
from chainabs.model.servicing_tree import SumTree, TapeSums, with_sums
from plugins.spvtests import assert_reconciled, close, fund, sleep_to_payment_date, submit
from plugins.token import assert_error

KIND = {name: i for i, name in enumerate(sv.CHALLENGE_KINDS)}
FIGURE = {name: i for i, name in enumerate(spvlib.REPORT_FIGURES)}


def _lie(d, tape, report=None):
    """A dishonest servicer: commits ``tape`` and submits ``report`` (default: the tape's own) without telling
    the registry anything. The SPV accepts it when its figures agree with the chain."""
    committed = sv.commit_tape(tape, d.roles["originator"].address, int(tape["period"].iloc[0]))
    report = report or committed.report
    fund(d, d.roles["servicer"], report.cash_in)
    spvlib.submit_report(d.spv, d.roles["servicer"], report, committed.commitment, "ipfs://a-false-tape")
    d.model.submit(report)
    return committed, report


def _performing(tape, n):
    return list(tape.index[tape["status"] == "Performing"][:n])


def test_a_balance_moved_between_loans_is_proven_and_the_report_stops(deal, stranger, trustee):
    d = deal
    court = courtlib.court_of(d.spv)
    tape = sv.quiet_period(books(d).last, 1)
    a, b, c = _performing(tape, 3)
    tape.loc[a, ["beginning_principal", "ending_principal"]] += 1_000  # the pool total is unchanged
    tape.loc[b, ["beginning_principal", "ending_principal"]] -= 1_000
    committed, report = _lie(d, tape)
    la, lb, lc = (str(tape.at[i, "loan_id"]) for i in (a, b, c))
    faults = courtlib.audit(d.spv, committed)
    assert {(f.kind, f.loan_id) for f in faults} == {("PrincipalMismatch", la), ("Discontinuity", la),
                                                     ("Discontinuity", lb)}
    # An honest leaf proves nothing; a leaf or path that is not the committed one proves nothing either.
    leaf_c, path_c = committed.leaf(lc).as_abi(), committed.tree.path_abi(committed.index[lc])
    assert_error(court.challengeLeaf, d.spv, committed.commitment, leaf_c, path_c, sender=stranger,
                 error="NothingWrong(uint8)", values=(KIND["StatusMismatch"],))
    forged = replace(committed.leaf(la), ending=committed.leaf(la).ending - 1_000)
    assert_error(court.challengeLeaf, d.spv, committed.commitment, forged.as_abi(),
                 committed.tree.path_abi(committed.index[la]), sender=stranger, error="ProofDoesNotMatch(uint256)",
                 values=(1,))
    assert_error(court.challengeLeaf, d.spv, committed.commitment, committed.leaf(la).as_abi(), path_c,
                 sender=stranger, error="ProofDoesNotMatch(uint256)", values=(1,))
    assert_error(d.spv.markDisputed, 1, 0, 0, stranger, sender=stranger, error="NotCourt(address)",
                 values=(stranger.address,))
    # Anyone proves the false leaf: the report is disputed.
    fault = next(f for f in faults if f.kind == "PrincipalMismatch")
    tx = courtlib.prove(d.spv, committed, fault, stranger)
    ev = tx.event("ChallengeProven")
    assert (ev["period"], ev["kind"], ev["assetId"], ev["challenger"]) == (
        1, KIND["PrincipalMismatch"], committed.leaf(la).asset_id, stranger.address)
    d.model.dispute()
    tx = courtlib.prove(d.spv, committed, next(f for f in faults if f.loan_id == lb), stranger)
    assert tx.event("ChallengeProven")["kind"] == KIND["Discontinuity"]
    sleep_to_payment_date(d, 1)
    assert_error(d.spv.closePeriod, report.as_abi(), sender=stranger, error="ReportDisputed(uint256)", values=(1,))
    with pytest.raises(DealModelError, match="ReportDisputed"):
        d.model.close_period()
    # The trustee cancels it; the servicer reports the true tape, which closes.
    spvlib.cancel_report(d.spv, trustee)
    d.model.cancel_report()
    served = serve_tape(d, sv.quiet_period(books(d).last, 1))
    assert courtlib.audit(d.spv, served.committed) == []
    d.model.submit(served.report)
    close(d, stranger)
    assert_reconciled(d.spv, d.model, "after the disputed report was replaced")


def test_a_hidden_delinquency_and_a_broken_balance_chain_are_proven(deal, stranger):
    d = deal
    submit(d, roll_rate_reports(d, months=1)[0])
    close(d, stranger)
    previous = sv.commit_tape(books(d).last, d.roles["originator"].address, 1)
    tape = sv.quiet_period(books(d).last, 2)
    x, y, z = _performing(tape, 3)
    lx, ly, lz = (str(tape.at[i, "loan_id"]) for i in (x, y, z))
    # The registry learns that loan x is 30 days late, but the servicer's tape shows it current.
    aid = asset_id(d.roles["originator"].address, lx)
    transact(d.registry.updateAssets, [(aid, STATUS_CODE["Delinquent30"], int(tape.at[x, "ending_principal"]),
                                        b"\x01" * 32, 0)], sender=d.roles["servicer"])
    tape.loc[y, ["beginning_principal", "ending_principal"]] += 700
    tape.loc[z, ["beginning_principal", "ending_principal"]] -= 700
    report = sv.period_report(tape)
    committed, submitted = _lie(d, tape, replace(report, delinquent_30=report.delinquent_30 + int(tape.at[x, "ending_principal"])))
    faults = courtlib.audit(d.spv, committed, previous=previous)
    found = {(f.kind, f.loan_id) for f in faults}
    expected = {("StatusMismatch", lx), ("Discontinuity", ly), ("Discontinuity", lz)}
    # y's balance may also exceed the registry's (performing balances lag there by what y repaid in period 1)
    assert expected <= found and found - expected <= {("PrincipalMismatch", ly)}
    court = courtlib.court_of(d.spv)
    honest = previous.leaf(lx)
    assert_error(court.challengeContinuity, d.spv, committed.commitment, committed.leaf(lx).as_abi(),
                 committed.tree.path_abi(committed.index[lx]), previous.commitment, honest.as_abi(),
                 previous.tree.path_abi(previous.index[lx]), sender=stranger, error="NothingWrong(uint8)",
                 values=(KIND["Discontinuity"],))
    kinds = [courtlib.prove(d.spv, committed, f, stranger, previous=previous).event("ChallengeProven")["kind"]
             for f in faults]
    assert sorted(kinds) == sorted(KIND[f.kind] for f in faults)
    assert_error(d.spv.exerciseCleanUpCall, submitted.as_abi(), sender=d.roles["originator"],
                 error="ReportDisputed(uint256)", values=(2,))


def test_a_tree_whose_nodes_claim_false_sums_or_order_is_proven(deal, stranger):
    d = deal
    honest = sv.commit_tape(sv.quiet_period(books(d).last, 1), d.roles["originator"].address, 1)
    leaves = honest.tree.leaves
    # Two sibling nodes shift 5 units of pool balance between them: the root's sums are the true totals.
    moved = SumTree(1, leaves, {(0, 0): with_sums(honest.tree.levels[1][0][1], ending=honest.tree.levels[1][0][1].ending + 5),
                                (0, 1): with_sums(honest.tree.levels[1][1][1], ending=honest.tree.levels[1][1][1].ending - 5)})
    assert moved.sums == honest.tree.sums and moved.root != honest.tree.root
    fund(d, d.roles["servicer"], honest.report.cash_in)
    spvlib.submit_report(d.spv, d.roles["servicer"], honest.report, moved.commitment, "")
    court = courtlib.court_of(d.spv)
    far = len(leaves) - 1  # its path does not pass the altered nodes
    assert_error(court.challengeSums, d.spv, moved.commitment, leaves[far].as_abi(), moved.path_abi(far),
                 sender=stranger, error="NothingWrong(uint8)", values=(KIND["SumMismatch"],))
    tx = transact(court.challengeSums, d.spv, moved.commitment, leaves[0].as_abi(), moved.path_abi(0), sender=stranger)
    assert tx.event("ChallengeProven")["kind"] == KIND["SumMismatch"]
    spvlib.cancel_report(d.spv, d.roles["trustee"])
    fund(d, d.roles["servicer"], honest.report.cash_in)
    # Leaves out of asset-id order (they could hide a loan counted twice).
    swapped = [replace(leaves[1], index=0), replace(leaves[0], index=1), *leaves[2:]]
    bad = SumTree(1, swapped)
    spvlib.submit_report(d.spv, d.roles["servicer"], honest.report, bad.commitment, "")
    tx = transact(court.challengeOrder, d.spv, bad.commitment, swapped[0].as_abi(), bad.path_abi(0),
                  swapped[1].as_abi(), bad.path_abi(1), sender=stranger)
    assert tx.event("ChallengeProven")["kind"] == KIND["OutOfOrder"]
    assert_error(court.challengeOrder, d.spv, bad.commitment, swapped[1].as_abi(), bad.path_abi(1),
                 swapped[2].as_abi(), bad.path_abi(2), sender=stranger, error="NothingWrong(uint8)",
                 values=(KIND["OutOfOrder"],))


def test_the_originator_buys_a_loan_back_at_its_last_proven_balance(deal, stranger):
    d = deal
    originator = d.roles["originator"]
    court = courtlib.court_of(d.spv)
    tape = books(d).last
    first, second = (str(tape.at[i, "loan_id"]) for i in _performing(tape, 2))
    aid = asset_id(originator.address, first)
    principal = int(d.registry.assetInfo(aid)["principal"])
    none = (0, aid, 0, 0, 0, 0, 0, 0, 0, 0)
    assert_error(court.buyBack, d.spv, none, [], spvlib.EMPTY_COMMITMENT, sender=stranger,
                 error="AccessControlUnauthorizedAccount(address,bytes32)")
    assert_error(d.spv.buyBack, stranger, aid, 1, sender=stranger, error="NotCourt(address)",
                 values=(stranger.address,))
    tx = courtlib.buy_back(d.spv, originator, first)
    ev = tx.event("LoanBoughtBack")
    assert (ev["assetId"], ev["buyer"], ev["principal"]) == (aid, originator.address, principal)
    d.model.buy_back(principal, int(ev["interest"]))
    assert int(d.registry.assetInfo(aid)["poolId"]) == 0
    # a buy-back leaves the other loans' cut-off balances proven (its principal is counted as repurchased)
    assert courtlib.cutoff_balances_proven(d.registry, d.pool_id)
    assert_error(court.buyBack, d.spv, none, [], spvlib.EMPTY_COMMITMENT, sender=originator,
                 error="BuyBackNotAllowed(uint256)", values=(aid,))
    books(d).remove(first)
    submit(d, roll_rate_reports(d, months=1)[0])
    # the report's registry updates moved the pool: before the first close no balance can be proven any more
    aid2 = asset_id(originator.address, second)
    assert_error(court.buyBack, d.spv, (0, aid2, *[0] * 8), [], spvlib.EMPTY_COMMITMENT, sender=originator,
                 error="BalanceNotProven(uint256)", values=(aid2,))
    close(d, stranger)
    assert_reconciled(d.spv, d.model, "after a buy-back joined the period")
    # After a close: at the loan's ending balance in the last closed period's committed tape.
    last = sv.commit_tape(books(d).last, originator.address, 1)
    if last.leaf(second).status != STATUS_CODE["Performing"]:
        second = next(lid for lid in last.loan_ids if last.leaf(lid).status == STATUS_CODE["Performing"])
    tx = courtlib.buy_back(d.spv, originator, second, last)
    ev = tx.event("LoanBoughtBack")
    assert ev["principal"] == last.leaf(second).ending
    d.model.buy_back(int(ev["principal"]), int(ev["interest"]))
    books(d).remove(second)
    submit(d, roll_rate_reports(d, months=1)[0])
    close(d, stranger)
    assert_reconciled(d.spv, d.model, "after a buy-back at a proven balance")


def test_a_loan_written_down_before_the_first_close_is_not_bought_back_below_its_cutoff_balance(deal):
    """Audit 3, M3: before period 1 closes a loan's only proven balance is its sealed cut-off principal, and the
    registry's principal is it only while nothing has lowered the pool since the seal. The servicer writes the
    largest performing loan down to 1 unit with no evidence checked (the registry refuses only increases): the
    originator can no longer buy it (or any loan) back at the registry's principal (`BalanceNotProven`) and
    waits for the first close, which prices it at its leaf in the closed tape."""
    d = deal
    originator, servicer = d.roles["originator"], d.roles["servicer"]
    court = courtlib.court_of(d.spv)
    tape = sv.quiet_period(books(d).last, 1)
    i = tape.loc[tape["status"] == "Performing", "beginning_principal"].idxmax()
    lid, other = str(tape.at[i, "loan_id"]), str(tape.at[_performing(tape, 1)[0], "loan_id"])
    aid = asset_id(originator.address, lid)
    assert int(d.registry.assetInfo(aid)["principal"]) == int(tape.at[i, "beginning_principal"]) > 1
    assert courtlib.cutoff_balances_proven(d.registry, d.pool_id)
    transact(d.registry.updateAssets, [(aid, STATUS_CODE["Performing"], 1, bytes([0xB1]) * 32, 0)], sender=servicer)
    fund(d, originator, 10**6)
    for loan in (lid, other):
        assert_error(court.buyBack, d.spv, (0, asset_id(originator.address, loan), *[0] * 8), [],
                     spvlib.EMPTY_COMMITMENT, sender=originator, error="BalanceNotProven(uint256)",
                     values=(asset_id(originator.address, loan),))
    assert not courtlib.cutoff_balances_proven(d.registry, d.pool_id)
    with pytest.raises(sv.ServicingError, match=f"loan {lid}: before the first close"):
        courtlib.buy_back(d.spv, originator, lid)  # refused before sending, in words


#: Report figure -> (PeriodReport field, TapeSums field) checked against the tape's committed totals.
TAPE_TOTALS = {"PoolBalance": ("pool_ending_balance", "ending"), "ScheduledPrincipal": ("scheduled_principal", "scheduled"),
               "Prepayments": ("prepayments", "prepaid"), "Defaults": ("defaults", "defaulted"),
               "InterestCollections": ("interest_collections", "interest"), "Recoveries": ("recoveries", "recoveries")}


@pytest.mark.parametrize("figure", spvlib.REPORT_FIGURES)
def test_each_report_figure_that_disagrees_with_the_chain_is_named(deal, figure):
    d = deal
    servicer = d.roles["servicer"]
    originator = d.roles["originator"].address
    tape = sv.quiet_period(books(d).last, 1)
    i, j = _performing(tape, 2)
    late = int(tape.at[i, "ending_principal"])
    # One prepayment in full and one loan paid off this period, sent to the registry honestly.
    k = _performing(tape, 4)[2:]
    tape.loc[k[0], ["status", "prepaid_principal", "ending_principal"]] = ["Prepaid", tape.at[k[0], "beginning_principal"], 0]
    tape.loc[k[1], ["status", "scheduled_principal", "ending_principal"]] = ["Repaid", tape.at[k[1], "beginning_principal"], 0]
    committed = sv.commit_tape(tape, originator, 1)
    updates = sv.registry_updates(books(d).registry, committed)
    transact(d.registry.updateAssets, [u.as_abi() for u in updates], sender=servicer)
    report = committed.report
    root, sums = committed.commitment
    s = TapeSums(*sums)
    if figure == "LoanCount":  # the tape's leaves against the registry's pool count
        lie = with_sums(s, count=s.count + 1)
        args, values = (report, (root, lie.as_abi())), (s.count + 1, s.count)
    elif figure in TAPE_TOTALS:  # the report against its tape's committed totals
        name, total = TAPE_TOTALS[figure]
        lie = with_sums(s, **{total: getattr(s, total) + 1})
        args, values = (report, (root, lie.as_abi())), (getattr(report, name), getattr(s, total) + 1)
    elif figure in ("Delinquent30", "Delinquent60", "Delinquent90Plus"):
        name = {"Delinquent30": "delinquent_30", "Delinquent60": "delinquent_60",
                "Delinquent90Plus": "delinquent_90_plus"}[figure]
        lie_report = replace(report, **{name: getattr(report, name) + late})
        args, values = (lie_report, committed.commitment), (getattr(report, name) + late, getattr(report, name))
    elif figure in ("DefaultsOnChain", "RecoveriesOnChain"):
        # The tape says a loan defaulted (or recovered) but the registry was never told.
        t2 = tape.copy()
        if figure == "DefaultsOnChain":
            t2.loc[j, ["status", "defaulted_principal", "ending_principal"]] = ["Defaulted", t2.at[j, "beginning_principal"], 0]
        c2 = sv.commit_tape(t2, originator, 1)
        r2 = c2.report
        if figure == "RecoveriesOnChain":
            r2 = replace(r2, recoveries=5)
            c2_sums = with_sums(TapeSums(*c2.commitment[1]), recoveries=5)
            args = (r2, (c2.commitment[0], c2_sums.as_abi()))
        else:
            args = (r2, c2.commitment)
        values = (r2.defaults, 0) if figure == "DefaultsOnChain" else (5, 0)
    else:  # PrepaidInFull / PaidOff: the registry's loans closed this period exceed the reported principal
        name, col = ("prepayments", "prepaid") if figure == "PrepaidInFull" else ("scheduled_principal", "scheduled")
        less = getattr(report, name) - 1
        moved = {"prepayments": "scheduled_principal", "scheduled_principal": "prepayments"}[name]
        lie_report = replace(report, **{name: less, moved: getattr(report, moved) + 1})
        other = "scheduled" if col == "prepaid" else "prepaid"
        lie = with_sums(s, **{col: less, other: getattr(s, other) + 1})
        args, values = (lie_report, (root, lie.as_abi())), (less, less + 1)
    fund(d, servicer, args[0].cash_in)
    transact(d.currency.approve, d.spv, args[0].cash_in, sender=servicer)
    assert_error(d.spv.submitReport, args[0].as_abi(), args[1], "", sender=servicer,
                 error="ReportDisagrees(uint8,uint256,uint256)", values=(FIGURE[figure], *values))


def test_the_trustee_replaces_the_pools_servicers_and_no_one_else_can(deal, stranger):
    """After the sale the SPV owns the pool: its trustee (only) names a new servicer and disposal agent in the
    registry; the old servicer is refused from then on, the new one serves the period."""
    from plugins.token import access_denied

    d = deal
    trustee, old = d.roles["trustee"], d.roles["servicer"]
    access_denied(d.spv.setPoolServicers, stranger, stranger, sender=stranger, role="TRUSTEE_ROLE")
    assert_error(d.registry.setPoolServicers, d.pool_id, stranger, stranger, sender=old,
                 error="NotPoolOperator(uint256,address)", values=(d.pool_id, old.address))
    tx = transact(d.spv.setPoolServicers, stranger, stranger, sender=trustee)
    ev = tx.event("PoolServicersSet")
    assert (ev["poolId"], ev["servicer"], ev["disposalAgent"]) == (d.pool_id, stranger.address, stranger.address)
    tape = sv.quiet_period(books(d).last, 1)
    i = _performing(tape, 1)[0]
    aid = asset_id(d.roles["originator"].address, str(tape.at[i, "loan_id"]))
    update = [(aid, STATUS_CODE["Delinquent30"], int(tape.at[i, "ending_principal"]), b"\x01" * 32, 0)]
    assert_error(d.registry.updateAssets, update, sender=old, error="NotPoolServicer(uint256,address)",
                 values=(d.pool_id, old.address))
    transact(d.registry.updateAssets, update, sender=stranger)
    assert int(d.registry.assetInfo(aid)["status"]) == STATUS_CODE["Delinquent30"]


def test_status_checks_the_pool_commitment(deal, capsys):
    """``chainabs status`` checks the sealed root against the registered leaves (one line; a JSON field)."""
    import json

    from brownie import web3

    from chainabs.apps import cli

    url = web3.provider.endpoint_uri
    assert cli.main(["status", "--rpc", url, "--spv", deal.spv.address]) == 0
    out = capsys.readouterr().out
    assert "pool commitment: verified\n" in out
    symbols = ", ".join(str(t.symbol()) for t in deal.tokens)
    assert f"identity cache: on for {symbols}; no other listener\n" in out
    assert cli.main(["status", "--rpc", url, "--spv", deal.spv.address, "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["result"]
    assert result["pool"]["commitment_verified"] is True
    assert [c["cache"] and c["listener"] for c in result["identity_cache"]["classes"]] == [True] * len(deal.tokens)


def test_status_shows_every_amount_whole_and_what_each_fee_earned(deal, capsys, stranger, monkeypatch):
    """Usability review (session 29): on an 80-column console the tranche table cut amounts to an ellipsis
    (``9,146,248.…``), and the fee line called what a fee earned "paid" although nothing had been withdrawn."""
    from brownie import web3

    from chainabs.apps import cli
    from chainabs.model.numbers import format_units
    from plugins.spvtests import run_period

    d = deal
    run_period(d, roll_rate_reports(d, months=1)[0], stranger)
    monkeypatch.setenv("COLUMNS", "80")
    assert cli.main(["status", "--rpc", web3.provider.endpoint_uri, "--spv", d.spv.address]) == 0
    out = capsys.readouterr().out
    decimals, symbol = int(d.currency.decimals()), str(d.currency.symbol())
    assert "…" not in out, out
    for t in d.tokens:
        assert format_units(int(t.originalFace()), decimals) in out and format_units(int(t.currentPrincipal()), decimals) in out
    flat = " ".join(out.split())
    for k, recipient in enumerate(d.spv.feeRecipients()):
        earned, owed = int(d.spv.feePaidTotal(k)), int(d.spv.feeOwed(k))
        assert earned > 0
        u = lambda amount: format_units(amount, decimals, symbol)  # noqa: E731
        assert (f"fee {k} (to {recipient}) earned {u(earned)}, withdrawn {u(earned - owed)}, owed {u(owed)}"
                in flat), flat


def test_refusals_of_the_deal_are_in_words_with_amounts_in_its_currency(deal, capsys):
    """Usability review (session 29): the operation commands showed the SPV's raw errors (``ReportPending(1)``,
    ``CleanUpCallNotAvailable(8282624357215, 1143281083000)``) in base units. Now: words, amounts in the deal's
    currency, the error's name after them; the clean-up call is refused before its approval is sent."""
    from brownie import web3

    from chainabs.apps import cli
    from chainabs.model.numbers import format_units

    d = deal
    report = submit(d, roll_rate_reports(d, months=1)[0])
    url, spv = web3.provider.endpoint_uri, d.spv.address
    originator = d.roles["originator"]
    nonce = originator.nonce
    assert cli.main(["clean-up-call", "--rpc", url, "--spv", spv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    decimals, symbol = int(d.currency.decimals()), str(d.currency.symbol())
    params = spvlib.read_params(d.spv)
    level = int(params[1]) * int(params[-1]) // 10_000
    assert err == [f"chainabs clean-up-call: error: clean-up-call: the clean-up call is not available: the pool is "
                   f"{format_units(report.pool_ending_balance, decimals, symbol)}, the call level "
                   f"{format_units(level, decimals, symbol)} (or a call is already pending) (CleanUpCallNotAvailable); "
                   "nothing sent"], err
    assert originator.nonce == nonce
    assert cli.main(["end", "--rpc", url, "--spv", spv]) == 2  # the trustee, at a pending report
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].endswith(
        "period 1's report is pending: it must be closed (chainabs close-period) or cancelled by the trustee first "
        "(ReportPending)"), err


def test_status_names_a_class_without_cache_and_a_foreign_listener(deal, capsys, IdentityListenerMock):
    """A class whose token left the registry's listeners asks the registry on every transfer; a listener that is not
    one of the deal's tokens runs code on every restrictive KYC change: ``chainabs status`` names both."""
    from brownie import web3

    from chainabs.apps import cli

    admin = deal.roles["arranger"]
    stranger_listener = IdentityListenerMock.deploy({"from": admin})
    transact(deal.identity.addIdentityListener, stranger_listener, sender=admin)
    transact(deal.identity.removeIdentityListener, deal.tokens[-1], sender=admin)
    assert cli.main(["status", "--rpc", web3.provider.endpoint_uri, "--spv", deal.spv.address]) == 0
    out = capsys.readouterr().out
    symbols = [str(t.symbol()) for t in deal.tokens]
    assert (f"identity cache: on for {', '.join(symbols[:-1])}; off for {symbols[-1]} (they ask the registry on every "
            f"transfer); OTHER LISTENERS of the identity registry (not this deal's tokens): {stranger_listener.address}"
            in out.replace("\n", " ").replace("  ", " ")), out


def _forged_root_pool(originator, admin, servicer, *, loans: int = 300):
    """The sample consumer pool (a book of ``loans``) onboarded as ``onboarded_pool`` does, but sealed by its
    originator with a root holding one more leaf than the registered ones: its largest loan's record at one unit
    less (``seal`` binds the leaf chain; the root is the originator's claim). Returns (spec sized to the pool,
    registry, pool id, cut-off tape, the forged record, its Merkle proof against the root, its tape row)."""
    from decimal import Decimal

    import pandas as pd

    from chainabs.chain import orchestration
    from chainabs.chain import registry as registrylib
    from chainabs.model import tape as tp
    from chainabs.model import terms
    from chainabs.model.spec import load_deal
    from chainabs.model.synthetic import generate_tape
    from chainabs.model.tape import select_eligible

    base = load_deal("consumer_loan")  # without its obligor limit (0.5%), which a small pool cannot meet
    conc = base.eligibility.concentration.model_copy(update={"max_obligor_bps": 10_000})
    base = base.model_copy(update={"eligibility": base.eligibility.model_copy(update={"concentration": conc})})
    book = generate_tape(loans, kind=base.eligibility.asset_types[0], seed=11, cutoff=base.dates.cut_off,
                         decimals=base.currency.decimals)
    criteria = terms.criteria_from_spec(base)
    tape = select_eligible(book, criteria, today=base.dates.cut_off)
    registry, pool_id = orchestration.open_pool(admin, originator, servicer, criteria)
    registrylib.onboard(registry, pool_id, tape, originator, today=base.dates.cut_off, seal=False, progress=False)
    ordered = registrylib.prepare_tape(tape, criteria, today=base.dates.cut_off)
    forged = ordered.loc[[ordered["principal"].idxmax()]].copy()
    forged["principal"] -= 1
    both = pd.concat([ordered, forged], ignore_index=True)
    tree = tp.tape_tree(both, originator.address)
    transact(registry.seal, pool_id, tree.root, tp.leaf_chain(tp.leaf_hashes(ordered, originator.address)),
             sender=originator)
    principal = int(registrylib.pool_info(registry, pool_id)["cutoffPrincipal"])
    spec = base.sized_to(Decimal(principal).scaleb(-base.currency.decimals))
    return spec, registry, pool_id, tape, tp.to_records(forged)[0], tree.get_proof(len(both) - 1), forged


@pytest.fixture(scope="module")
def forged_offering(accounts, currency, originator, admin, servicer, tmp_path_factory):
    """The consumer deal over a pool its originator sealed with a forged root (see :func:`_forged_root_pool`), in
    its offering. ``(deal, (record, proof, row))`` of the forged leaf."""
    from brownie import project

    from chainabs.dev.sandbox import sandbox_deal

    spec, registry, pool_id, tape, record, proof, row = _forged_root_pool(originator, admin, servicer)
    d = sandbox_deal(spec, accounts, currency, registry, pool_id, project.get_loaded_projects()[0],
                     tmp_path_factory.mktemp("forged-root"), tape)
    return d, (record, proof, row)


@pytest.fixture(scope="module")
def forged_root(forged_offering, admin, investors):
    """:func:`forged_offering`, subscribed and closed: the originator has the pool's price."""
    from chainabs.chain.orchestration import close as close_deal
    from chainabs.dev.sandbox import subscribe_all

    d, forged = forged_offering
    subscribe_all(d, investors, admin)
    close_deal(d, admin)
    return d, forged


def test_an_investor_is_not_sold_notes_over_a_pool_whose_root_is_forged(forged_offering, admin, kyc_agent,
                                                                        monkeypatch, capsys):
    """`chainabs subscribe` checks the pool's sealed root against its registered loans before anything is sent:
    over a forged root (loan proofs against it prove nothing) it refuses in one line; `--accept-unverified-pool`
    subscribes anyway."""
    from brownie import chain, web3
    from eth_account import Account

    from chainabs.apps import cli
    from chainabs.chain.orchestration import DEFAULT_INVESTOR_TYPE, DEFAULT_JURISDICTION
    from chainabs.chain.sender import transfer

    d, _ = forged_offering
    assert int(d.spv.phase()) == 0, "the deal must still be in its offering"
    key = Account.create()
    transfer(admin, key.address, 10**18)
    d.currency.mint(key.address, 10**6, {"from": admin})
    transact(d.identity.registerInvestor, key.address, DEFAULT_JURISDICTION, DEFAULT_INVESTOR_TYPE,
             chain.time() + 365 * 86_400, sender=kyc_agent)
    monkeypatch.setenv("FORGED_ROOT_INVESTOR_KEY", key.key.hex())
    argv = ["subscribe", "--rpc", web3.provider.endpoint_uri, "--spv", d.spv.address, "--class", "A", "--amount", "1",
            "--key-env", "FORGED_ROOT_INVESTOR_KEY"]
    capsys.readouterr()
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"chainabs subscribe: error: subscribe: pool {d.pool_id}'s sealed Merkle root does not match its "
                   "registered loans, so loan proofs against it prove nothing (chainabs status: pool commitment); "
                   "pass --accept-unverified-pool to subscribe anyway"), err
    assert int(d.tokens[0].balanceOf(key.address)) == 0 and int(d.currency.balanceOf(key.address)) == 10**6
    # A node whose logs miss a registration gives no verdict, not an accusation: refused as unchecked.
    from chainabs.chain import registry as registrylib

    real = registrylib.pool_registrations
    monkeypatch.setattr(registrylib, "pool_registrations", lambda *a, **k: real(*a, **k)[1:])
    assert registrylib.pool_commitment(d.registry, d.pool_id) == registrylib.COMMITMENT_UNREADABLE
    assert cli.main(argv) == 2
    assert capsys.readouterr().err.strip() == (
        f"chainabs subscribe: error: subscribe: pool {d.pool_id}'s sealed Merkle root could not be checked (the "
        "node's logs are incomplete); try another node, or pass --accept-unverified-pool to subscribe anyway")
    monkeypatch.setattr(registrylib, "pool_registrations", real)
    snapshot = web3.provider.make_request("evm_snapshot", [])["result"]
    try:
        assert cli.main([*argv, "--accept-unverified-pool"]) == 0
        assert int(d.tokens[0].balanceOf(key.address)) == 10**6
    finally:
        assert web3.provider.make_request("evm_revert", [snapshot])["result"]


def test_nobody_can_dispute_a_true_report_with_a_record_the_originator_slipped_into_the_root(
        forged_root, stranger, capsys):
    """Audit 3, H1: an originator seals its pool with a root holding a second record of its largest loan at
    another principal. The court proves cut-off records only against the registry's checkpoints of the
    onboarding batches (the leaf chain the registry computed), so the forged record proves nothing: the true
    period-1 report cannot be disputed and closes. The forged root shows in ``chainabs status``."""
    import copy
    import dataclasses

    from brownie import web3

    from chainabs.apps import cli
    from chainabs.chain.registry import verify_pool_commitment
    from chainabs.model.merkle import leaf_hash
    from chainabs.model.assets import LEAF_TYPES

    base, (record, proof, row) = forged_root
    d = dataclasses.replace(base, model=copy.deepcopy(base.model), book=copy.deepcopy(base.book))
    originator = d.roles["originator"].address
    assert not verify_pool_commitment(d.registry, d.pool_id)
    assert d.registry.verifyRecord(d.pool_id, record, proof)  # the root holds it: an investor's proof would pass
    assert cli.main(["status", "--rpc", web3.provider.endpoint_uri, "--spv", d.spv.address]) == 0
    assert "pool commitment: DOES NOT MATCH its registrations" in capsys.readouterr().out
    served = serve_tape(d, sv.quiet_period(books(d).last, 1))  # a true period-1 report
    lid = str(row["loan_id"].iloc[0])
    aid = asset_id(originator, lid)
    leaf, i = served.committed.leaf(lid), served.committed.index[lid]
    assert leaf.beginning == int(row["principal"].iloc[0]) + 1  # the registered principal
    assert courtlib.audit(d.spv, served.committed) == []
    court = courtlib.court_of(d.spv)
    true = courtlib.onboarded(d.spv)[aid]
    challenge = (court.challengeCutoff, d.spv, served.committed.commitment, leaf.as_abi(),
                 served.committed.tree.path_abi(i))
    assert_error(*challenge, true.as_abi(), sender=stranger, error="NothingWrong(uint8)", values=(KIND["Discontinuity"],))
    # The forged record in its loan's batch, in place of the true leaf, or appended to the batch: no checkpoint.
    forged_leaf = leaf_hash((originator, *record), LEAF_TYPES)
    k, leaves = true.position, list(true.leaves)
    for attempt in ((true.first_index, true.before, leaves, k, record),
                    (true.first_index, true.before, [*leaves[:k], forged_leaf, *leaves[k + 1:]], k, record),
                    (true.first_index, true.before, [*leaves, forged_leaf], len(leaves), record)):
        assert_error(*challenge, attempt, sender=stranger, error="ProofDoesNotMatch(uint256)", values=(0,))
    assert int(d.spv.pendingServicingPeriod()) == 1
    d.model.submit(served.report)
    close(d, stranger)  # period 1 closes
    assert_reconciled(d.spv, d.model, "after the true period-1 report over a forged root")


def _safe_exec_input(registry_address: str, inner: bytes) -> str:
    """The input of a Safe's ``execTransaction`` that makes the registry call ``inner`` (what a multisig
    originator's onboarding transaction carries instead of the bare ``registerAndPool`` call)."""
    from eth_abi import encode
    from eth_utils import keccak

    selector = keccak(text="execTransaction(address,uint256,bytes,uint8,uint256,uint256,uint256,address,address,bytes)")[:4]
    zero = "0x" + "00" * 20
    args = encode(["address", "uint256", "bytes", "uint8", "uint256", "uint256", "uint256", "address", "address", "bytes"],
                  [registry_address, 0, inner, 0, 0, 0, 0, zero, zero, b"\x01" * 65])
    return "0x" + (selector + args).hex()


def test_a_false_period1_beginning_is_found_when_the_originator_onboarded_through_a_contract_wallet(
        deal, stranger, monkeypatch):
    """A cut-off batch onboarded through a contract wallet (a Safe): its transaction's input is the Safe's
    ``execTransaction``, which carries the ``registerAndPool`` call verbatim. ``court.audit`` (``chainabs
    challenge``) reads the records from inside it and finds the same false beginning as with bare calls (before
    session 26 it refused: "cut-off tape cannot be read"). A wallet whose input does not carry the call (here: the
    inner calldata scrambled) still gets a refusal by name, never "nothing to prove" (the review's finding 1)."""
    from brownie import web3

    d = deal
    originator = d.roles["originator"].address
    tape = sv.quiet_period(books(d).last, 1)
    y, z = tape.index[tape["status"] == "Performing"][:2]
    ly = str(tape.at[y, "loan_id"])
    # 700 of y's cut-off balance moved onto z's beginning and "repaid" there: y now carries 700 less than it
    # owes (after period 1 closes the originator may buy it back at that leaf's ending, 700 below its balance);
    # the sums, the pool balance and every registry check are unchanged (z's ending is its registry principal).
    tape.loc[y, ["beginning_principal", "ending_principal"]] -= 700
    tape.loc[z, ["beginning_principal", "scheduled_principal"]] += 700
    committed = sv.commit_tape(tape, originator, 1)
    fund(d, d.roles["servicer"], committed.report.cash_in)
    spvlib.submit_report(d.spv, d.roles["servicer"], committed.report, committed.commitment, "ipfs://a-false-tape")

    honest = courtlib.audit(d.spv, committed)
    assert ("Discontinuity", ly) in {(f.kind, f.loan_id) for f in honest}  # found with bare registerAndPool calls
    bare = courtlib.onboarded(d.spv)  # every cut-off record, read from the bare calls
    proof = bare[committed.leaf(ly).asset_id]  # provable on chain from the records
    assert proof.principal > 0 and len(bare) == len(books(d).last)

    # The same pool had its originator onboard it through a Safe: every onboarding transaction's input is the
    # Safe's execTransaction wrapping the registerAndPool call (the events, leaves and checkpoints are the same).
    onboarding = {b.tx_hash for b in courtlib._batches(d.spv)[4] if not b.sold}
    real = web3.eth.get_transaction

    def wrapped(scramble: bool = False, decoy: bool = False):
        def get_transaction(tx_hash, *args, **kwargs):
            tx = real(tx_hash, *args, **kwargs)
            if bytes(tx["hash"]) in onboarding:
                inner = bytes(tx["input"])
                if scramble:  # a wallet that does not carry the call's calldata verbatim
                    inner = bytes(b ^ 0x5A for b in inner)
                if decoy:  # the same call with its first record altered, ahead of the true one (a multisend)
                    altered = bytearray(inner)
                    altered[4 + 3 * 32 + 31] ^= 1  # the last byte of the first record's first word
                    inner = bytes(altered) + inner
                tx = dict(tx)
                tx["input"] = _safe_exec_input(str(d.registry.address), inner)
            return tx
        return get_transaction

    monkeypatch.setattr(web3.eth, "get_transaction", wrapped())
    try:
        through_safe = courtlib.audit(d.spv, committed)
        assert {(f.kind, f.loan_id) for f in through_safe} == {(f.kind, f.loan_id) for f in honest}
        assert courtlib.onboarded(d.spv) == bare  # the same records, the same proofs
        monkeypatch.setattr(web3.eth, "get_transaction", wrapped(decoy=True))  # the decoy is passed over
        assert courtlib.onboarded(d.spv) == bare
        monkeypatch.setattr(web3.eth, "get_transaction", wrapped(scramble=True))
        with pytest.raises(sv.ServicingError, match="cut-off tape cannot be read from the chain"):
            courtlib.audit(d.spv, committed)
    finally:
        monkeypatch.undo()
    fault = next(f for f in honest if (f.kind, f.loan_id) == ("Discontinuity", ly))
    assert courtlib.prove(d.spv, committed, fault, stranger).event("ChallengeProven")["challenger"] == stranger
