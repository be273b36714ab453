"""inventories/example: the documented inventory for real hosts parses with Ansible's own
inventory parser and shipyard's reader, groups its hosts, becomes root and checks host keys."""

from __future__ import annotations

import shlex

from ansible.inventory.manager import InventoryManager
from ansible.parsing.dataloader import DataLoader
from ansible.vars.manager import VariableManager

from _root import ROOT
from shipyard.core.inputs import read_inventory
from shipyard.strategies.ami.bake import inventory_host

INVENTORY = ROOT / "inventories" / "example" / "hosts.yml"


def test_ansible_reads_it_with_groups_become_and_the_bastion() -> None:
    loader = DataLoader()
    inventory = InventoryManager(loader=loader, sources=[str(INVENTORY)])
    groups = inventory.get_groups_dict()
    assert groups["web"] == ["web-1", "web-2"]
    assert groups["api"] == ["api-1", "api-2", "api-3"]
    variables = VariableManager(loader=loader, inventory=inventory).get_vars(host=inventory.get_host("api-2"))
    assert variables["ansible_host"] == "10.0.2.12"
    assert variables["ansible_user"] == "deploy" and variables["ansible_become"] is True
    args = shlex.split(variables["ansible_ssh_common_args"])
    assert "ProxyJump=deploy@bastion.example.com" in args
    assert "StrictHostKeyChecking=yes" in args and "StrictHostKeyChecking=no" not in args


def test_every_host_and_the_bastion_have_a_line_in_known_hosts() -> None:
    lines = [
        line.split()[0]
        for line in (INVENTORY.parent / "known_hosts").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    hosts = read_inventory(INVENTORY).hosts
    assert set(lines) == {"bastion.example.com", *(str(v["ansible_host"]) for v in hosts.values())}


def test_shipyard_takes_its_known_hosts_for_a_bake_host() -> None:
    host = inventory_host(INVENTORY, "web-1")
    assert host.address == "10.0.1.11" and host.user == "deploy"
    assert host.known_hosts is not None and host.known_hosts.name == "known_hosts"
