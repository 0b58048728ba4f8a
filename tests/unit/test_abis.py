"""The ABIs shipped in the package (chainabs/chain/abi) are those of a fresh compile: the test session
compiles the contracts (brownie recompiles what changed), so a contract changed without `make abis` fails
here."""

from __future__ import annotations

import json

from chainabs.chain import orchestration
from chainabs.chain.abis import ABI_DIR, LIBRARY_HOSTS, SHIPPED, abi_text, build_abi, export_abis, host_abi, load_abi
from chainabs.chain.deploy import DeployStep
from chainabs.model import terms
from chainabs.model.spec import load_deal
from chainabs.paths import BUILD_DIR


def test_shipped_abis_equal_the_fresh_build():
    stale = [name for name in SHIPPED if load_abi(name) != host_abi(name)]
    assert not stale, f"ABIs differ from the compiled contracts: {stale}; run `make abis` and commit"


def test_the_shipped_files_are_what_make_abis_writes(tmp_path):
    export_abis(BUILD_DIR, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in ABI_DIR.glob("*.json"))
    for path in tmp_path.iterdir():
        assert path.read_text() == (ABI_DIR / path.name).read_text(), path.name
        assert path.read_text() == abi_text(json.loads(path.read_text()))


def test_every_contract_the_library_deploys_ships_its_abi():
    spec = load_deal("consumer_loan")
    roles = dict.fromkeys(orchestration.ROLE_NAMES, "0x" + "11" * 20)
    steps = orchestration.deal_steps(spec, roles, currency="0x" + "22" * 20, registry="0x" + "33" * 20, pool_id=1,
                                     times=terms.DealTimes.from_spec(spec), kyc_agent="0x" + "44" * 20)
    deployed = {s.contract for s in steps if isinstance(s, DeployStep)} | {"AssetRegistry", "TestStablecoin"}
    assert deployed - set(orchestration.LIBRARIES) <= set(SHIPPED)


def test_linked_libraries_emit_and_revert_only_what_their_host_abi_declares():
    """The read side decodes every log and revert of a deal with the shipped ABIs alone: whatever a linked
    library can emit or raise must be in its host contract's ABI."""
    assert set(LIBRARY_HOSTS) == set(orchestration.LIBRARIES)
    for library, host in LIBRARY_HOSTS.items():
        declared = {(i["type"], i["name"]) for i in load_abi(host) if i["type"] in ("event", "error")}
        missing = {(i["type"], i["name"]) for i in build_abi(library) if i["type"] in ("event", "error")} - declared
        assert not missing, f"{library} can emit or raise {sorted(missing)}, absent from the {host} ABI"
