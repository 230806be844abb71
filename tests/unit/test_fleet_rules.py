"""Discovery rules: validation at load (one-line errors), matching, priority, max_hosts, host
names, and the explanation of every decision."""

from __future__ import annotations

from pathlib import Path

import pytest

from provision.errors import ConfigError
from provision.fleet.cpu import Level
from provision.fleet.fit import profile_fits, profile_requirements
from provision.fleet.inventory import Chassis, Inventory
from provision.fleet.match import Facts, evaluate, explain_host
from provision.fleet.rules import RuleSet, load_rules, parse_rules
from provision.profiles import ProfileSet
from tests.conftest import PROFILES
from tests.unit.fleet_samples import NEHALEM, NEHALEM_MINUS, GiB, machine

NAMES = ["desktop-amd64", "laptop-amd64", "server-amd64", "vm-amd64"]
PATH = Path("/p/rules.toml")
MAC = "52:54:00:12:34:56"


def rules(text: str) -> RuleSet:
    return parse_rules(text, PATH, NAMES)


def facts(inv: Inventory, mac: str = MAC, counts: dict[str, int] | None = None,
          taken: frozenset[str] = frozenset()) -> Facts:  # fmt: skip
    fits = profile_fits(profile_requirements(ProfileSet(PROFILES)), "x86_64", inv.cpu.flags)
    return Facts(mac, inv, fits, counts or {}, taken)


LAPTOPS = """
[[rule]]
name = "laptops"
profile = "laptop-amd64"
chassis = "laptop"
vendor = ["LENOVO*", "Dell*"]
hostname = "{chassis}-{serial}"

[[rule]]
name = "vms"
profile = "vm-amd64"
chassis = ["laptop", "other"]
hostname = "{chassis}-{serial}"
"""


# --- validation --------------------------------------------------------------------------------
def test_full_rule() -> None:
    rs = rules("""
[[rule]]
name = "big"
profile = "desktop-amd64"
priority = 5
chassis = ["desktop", "server"]
vendor = "Dell Inc."
product = ["OptiPlex [37]0*"]
cpu_level = "x86-64-v3"
cpu_flags = ["aes", "sse3", "LZCNT"]
min_ram = "16G"
max_ram = 137438953472
min_disk_size = "500G"
min_disks = 1
max_disks = 4
mac_prefix = ["00-1A-2B", "52:54"]
max_hosts = 20
hostname = "ws-{serial}.lab"
wipe = true
""")
    (r,) = rs.rules
    assert r.chassis == (Chassis.DESKTOP, Chassis.SERVER)
    assert r.cpu_level is Level.V3
    assert r.cpu_flags == ("aes", "pni", "abm")  # cpuinfo spellings
    assert (r.min_ram, r.max_ram, r.min_disk_size) == (16 * GiB, 128 * GiB, 500 * GiB)
    assert r.mac_prefix == ("00:1a:2b", "52:54")
    assert (r.max_hosts, r.wipe, r.index, r.priority) == (20, True, 1, 5)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param('[[rule]]\nprofile = "vm-amd64"\nchasis = "laptop"',
                     r"rule 1.chasis: unknown key \(allowed: name, profile", id="unknown-key"),
        pytest.param('[[rule]]\nname = "x"\nprofile = "gaming"',
                     r"rule 1 \(x\).profile: unknown profile 'gaming' \(known: desktop-amd64",
                     id="unknown-profile"),
        pytest.param('[[rule]]\nchassis = "laptop"', r"profile: required", id="no-profile"),
        pytest.param('[[rule]]\nprofile = "vm-amd64"\nchassis = "tablet"',
                     r"'tablet' is not allowed \(one of: laptop, desktop, server, other\)",
                     id="chassis"),
        pytest.param('[[rule]]\nprofile = "vm-amd64"\nvendor = "LEN[OVO"',
                     r"vendor: 'LEN\[OVO': a \[...\] set is not closed", id="glob-open"),
        pytest.param('[[rule]]\nprofile = "vm-amd64"\nproduct = "A[]"',
                     r"is not closed or is empty", id="glob-empty-set"),
        pytest.param('[[rule]]\nprofile = "vm-amd64"\nvendor = ""', r"is not a pattern",
                     id="glob-empty"),
        pytest.param('[[rule]]\nprofile = "vm-amd64"\nmac_prefix = "52:54:0"',
                     r"'52:54:0' is not a MAC prefix", id="mac-prefix"),
        pytest.param('[[rule]]\nprofile = "vm-amd64"\ncpu_level = "v5"',
                     r"cpu_level: 'v5' is not an x86-64 level", id="level"),
        pytest.param('[[rule]]\nprofile = "vm-amd64"\ncpu_flags = ["avx 2"]',
                     r"'avx 2' is not a CPU flag", id="flag"),
        pytest.param('[[rule]]\nprofile = "vm-amd64"\nmin_ram = "lots"',
                     r"min_ram: 'lots' is not a valid size", id="size"),
        pytest.param('[[rule]]\nprofile = "vm-amd64"\nmin_ram = "8G"\nmax_ram = "4G"',
                     r"max_ram: is below min_ram", id="ram-range"),
        pytest.param('[[rule]]\nprofile = "vm-amd64"\nmax_hosts = 0',
                     r"max_hosts: 0 is out of range", id="max-hosts"),
        pytest.param('[[rule]]\nprofile = "vm-amd64"\nhostname = "{chassis}-{owner}"',
                     r"unknown placeholder \{owner\}", id="template-placeholder"),
        pytest.param('[[rule]]\nprofile = "vm-amd64"\nhostname = "{serial!r}"',
                     r"no format specs", id="template-conversion"),
        pytest.param('[[rule]]\nprofile = "vm-amd64"\nhostname = "PC_{serial}"',
                     r"text outside placeholders must be", id="template-text"),
        pytest.param('[[rule]]\nprofile = "vm-amd64"\nhostname = "{serial"',
                     r"expected '\}' before end of string", id="template-syntax"),
        pytest.param('[[rule]]\nprofile = "vm-amd64"\nwipe = "yes"', r"wipe: expected true",
                     id="bool"),
        pytest.param('[[rule]]\nname = "a"\nprofile = "vm-amd64"\n[[rule]]\nname = "a"\n'
                     'profile = "vm-amd64"', r"rule 2: name 'a' is already used by rule 1",
                     id="duplicate-name"),
        pytest.param('[[rule]]\nname = "a b"\nprofile = "vm-amd64"', r"is not a rule name",
                     id="name"),
        pytest.param('rule = "x"', r"expected \[\[rule\]\] tables", id="not-tables"),
        pytest.param('[[rules]]\nprofile = "vm-amd64"', r"rules.toml: rules: unknown key",
                     id="top-level"),
        pytest.param('[[rule]\n', r"not valid TOML", id="toml"),
    ],
)  # fmt: skip
def test_invalid_rules(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as err:
        rules(text)
    assert str(err.value).startswith("/p/rules.toml")
    assert "\n" not in str(err.value)


def test_no_file_means_no_rules(tmp_path: Path) -> None:
    assert len(load_rules(tmp_path, NAMES)) == 0
    (tmp_path / "rules.toml").write_text(LAPTOPS)
    assert [r.name for r in load_rules(tmp_path, NAMES)] == ["laptops", "vms"]


def test_priority_then_file_order() -> None:
    rs = rules("""
[[rule]]
name = "a"
profile = "vm-amd64"
[[rule]]
name = "b"
profile = "vm-amd64"
priority = 10
[[rule]]
name = "c"
profile = "vm-amd64"
priority = 10
[[rule]]
profile = "vm-amd64"
priority = -1
""")
    assert [r.name for r in rs] == ["b", "c", "a", "rule-4"]


# --- matching ----------------------------------------------------------------------------------
def test_the_cpu_decides_between_laptop_and_vm() -> None:
    """The e2e machine: a laptop whose CPU (Nehalem without sse4.2/popcnt) is below the
    laptop profile's x86-64-v2 gets the vm profile; a v2 laptop gets the laptop profile."""
    weak = evaluate(rules(LAPTOPS), facts(machine(NEHALEM_MINUS)))
    assert weak.profile == "vm-amd64" and weak.rule is not None and weak.rule.name == "vms"
    assert weak.hostname == "laptop-pf1abcde"
    first = weak.results[0]
    assert not first.matched
    assert first.reasons == (
        "the CPU cannot run laptop-amd64: needs x86-64-v2; this CPU is x86-64-v1: "
        "missing popcnt, sse4_2",
    )
    strong = evaluate(rules(LAPTOPS), facts(machine(NEHALEM)))
    assert strong.profile == "laptop-amd64"


def test_every_condition_explains_itself() -> None:
    rs = rules("""
[[rule]]
name = "servers"
profile = "server-amd64"
chassis = "server"
vendor = "Supermicro*"
product = "X11*"
cpu_level = "v3"
cpu_flags = ["avx512f"]
min_ram = "64G"
min_disk_size = "1T"
min_disks = 2
mac_prefix = "00:25:90"
max_hosts = 3
""")
    decision = evaluate(rs, facts(machine(NEHALEM_MINUS), counts={"servers": 3}))
    assert decision.rule is None and decision.profile == ""
    assert decision.results[0].reasons == (
        "chassis laptop (SMBIOS type 10) is not server",
        "vendor 'LENOVO' does not match Supermicro*",
        "product 'ThinkPad T480' does not match X11*",
        "CPU x86-64-v1, wants at least x86-64-v3",
        "CPU lacks avx512f",
        "memory 8.0 GiB < 64.0 GiB",
        "largest fixed disk 256.0 GiB < 1024.0 GiB",
        "1 fixed disks, wants at least 2",
        "MAC 52:54:00:12:34:56 does not start with 00:25:90",
        "3 of max_hosts 3 assigned (full)",
    )
    assert decision.explain() == [
        "rule servers (→ server-amd64): no: " + "; ".join(decision.results[0].reasons),
        "no rule matches: the machine waits for a profile in the picker",
    ]


def test_globs_are_case_insensitive_and_match_whole_values() -> None:
    rs = rules('[[rule]]\nprofile = "vm-amd64"\nvendor = "lenovo"\nproduct = "ThinkPad T4?0"')
    assert evaluate(rs, facts(machine())).profile == "vm-amd64"
    rs = rules('[[rule]]\nprofile = "vm-amd64"\nvendor = "LEN"')
    assert evaluate(rs, facts(machine())).profile == ""


def test_max_hosts_and_explanation_of_a_later_rule() -> None:
    rs = rules(LAPTOPS.replace('name = "vms"', 'name = "vms"\nmax_hosts = 2'))
    full = evaluate(rs, facts(machine(), counts={"vms": 2}))
    assert full.rule is None
    assert "2 of max_hosts 2 assigned (full)" in full.results[1].reasons
    room = evaluate(rs, facts(machine(), counts={"vms": 1}))
    assert room.profile == "vm-amd64"
    # a host's own place does not count against it when its decision is explained again
    again = explain_host(rs, MAC, machine(), facts(machine()).fits, {"vms": 2}, "vms", [])
    assert again.profile == "vm-amd64"
    assert again.explain()[-1] == "assigned vm-amd64 as laptop-pf1abcde by rule vms"


def test_earlier_winner_is_named() -> None:
    rs = rules('[[rule]]\nname = "a"\nprofile = "vm-amd64"\n[[rule]]\nname = "b"\n'
               'profile = "server-amd64"')  # fmt: skip
    lines = evaluate(rs, facts(machine())).explain()
    assert lines[:2] == [
        "rule a (→ vm-amd64): matches",
        "rule b (→ server-amd64): matches (an earlier rule won)",
    ]


def test_fixed_disks_ignore_removable_and_empty() -> None:
    inv = machine(disks=(0, 500 * GiB))
    rs = rules('[[rule]]\nprofile = "vm-amd64"\nmin_disks = 1\nmax_disks = 1\n'
               'min_disk_size = "400G"')  # fmt: skip
    assert evaluate(rs, facts(inv)).profile == "vm-amd64"
    two = evaluate(rs, facts(machine(disks=(500 * GiB, 500 * GiB))))
    assert "2 fixed disks, wants at most 1" in two.results[0].reasons


def test_memory_bounds() -> None:
    rs = rules('[[rule]]\nprofile = "vm-amd64"\nmin_ram = "1G"\nmax_ram = "2G"')
    assert evaluate(rs, facts(machine(memory=1536 << 20))).profile == "vm-amd64"
    assert evaluate(rs, facts(machine(memory=3 * GiB))).profile == ""


# --- host names --------------------------------------------------------------------------------
def test_hostname_unique_among_taken() -> None:
    rs = rules(LAPTOPS)
    taken = frozenset({"laptop-pf1abcde", "laptop-pf1abcde-2"})
    assert evaluate(rs, facts(machine(), taken=taken)).hostname == "laptop-pf1abcde-3"


@pytest.mark.parametrize(
    ("template", "serial", "vendor", "product", "expected"),
    [
        pytest.param("{chassis}-{serial}", "Not Specified", "LENOVO", "X", "laptop-525400123456",
                     id="placeholder-serial-uses-mac"),
        pytest.param("{vendor}-{product}", "S", "Dell Inc.", "OptiPlex 7070", "dell-optiplex-7070",
                     id="first-vendor-word"),
        pytest.param("{serial}.lab.example", "AB/12 CD", "V", "P", "ab-12-cd.lab.example",
                     id="dotted"),
        pytest.param("{profile}-{rule}-{mac}", "S", "V", "P", "vm-amd64-r-525400123456",
                     id="profile-rule-mac"),
        pytest.param("-{serial}-", "", "V", "P", "525400123456", id="trimmed"),
    ],
)  # fmt: skip
def test_hostname_template(
    template: str, serial: str, vendor: str, product: str, expected: str
) -> None:
    rs = rules(f'[[rule]]\nname = "r"\nprofile = "vm-amd64"\nhostname = "{template}"')
    inv = machine(serial=serial, vendor=vendor, product=product)
    assert evaluate(rs, facts(inv)).hostname == expected


def test_long_serial_keeps_labels_short() -> None:
    rs = rules('[[rule]]\nprofile = "vm-amd64"\nhostname = "{serial}{serial}"')
    name = evaluate(rs, facts(machine(serial="X" * 200))).hostname
    assert 0 < len(name) <= 63
