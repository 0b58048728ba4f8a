"""The read side: a deal's chain data as typed tables, for reports, the monitor, tape verification and (to
come) a web explorer.

Everything starts from an RPC endpoint and an SPV address (:func:`chainabs.chain.read.deal.read_deal`): the
SPV's views name the currency, the registry and the tranche tokens; their event logs, read in retried block
ranges public nodes accept (:mod:`chainabs.chain.events`), give every period, payment, currency movement and
privileged action. A :class:`~chainabs.chain.read.deal.DealReader` caches the events and every table built
from them, and :meth:`~chainabs.chain.read.deal.DealReader.refresh` reads the blocks added since. Nothing is
read from files of the run that produced the deal, so anyone reproduces the same tables.

* :mod:`.deal`: the reader (addresses, terms, events, cache) and decoded structs;
* :mod:`.pool`: the pool from the registry (cut-off tape rebuilt from calldata, status history, registry
  state at any event, stratification, concentration, pool performance);
* :mod:`.tables`: tranche summary, investor report, triggers, currency movements, regulator events,
  conservation, holders;
* :mod:`.tranches`: each tranche token's state and the one reader of investors' positions (balances, claimed
  and claimable funds).
"""
