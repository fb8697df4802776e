# chatlab — thin targets; the logic lives in lab/, chat/, netconfig/, bench/ and tools/. Reference: README.md, docs/.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
export PATH := $(CURDIR)/$(BIN):$(PATH)
export ANSIBLE_HOME ?= $(CURDIR)/.lab/ansible-home

# The lab is described by a topology file (LAB_TOPOLOGY, default labs/seed.yml); LAB_* settings on the command line
# or in the environment override it, e.g. `make lab-up LAB_CLIENTS=5`. Their defaults live in labs/seed.yml and
# lab/config.py.

LAB := $(PY) -m lab

.PHONY: help deps venv lint unit test bench provision check inventory-given lab-up lab-test lab-status lab-ssh \
	lab-chat lab-down lab-graph lab-e2e external-e2e bridged-e2e vm-e2e box vm-deps clean
.PHONY: lab-provision lab-exec lab-logs lab-snapshot lab-capture lab-ops-e2e lab-tc lab-bench bench-peer

help:
	@echo "make lab-up      create the lab's VMs (LAB_PROVIDER=nspawn: containers), run ansible/site.yml and the checks"
	@echo "make test        lint (ruff, ansible-lint), unit tests, and the container lab end to end (as root)"
	@echo "make bench       chat server benchmark (table + JSON under bench/results/); DIALECT=irc over IRC"
	@echo "make bench-peer  the same over the line protocol, IRC and Debian's ngircd, side by side"
	@echo "make lab-test | lab-status [JSON=1] | lab-ssh HOST=name | lab-chat | lab-graph | lab-down"
	@echo "make lab-provision | lab-exec [HOST=all] CMD='...' | lab-logs [HOST=server] [UNIT=...] [FOLLOW=1]"
	@echo "make lab-snapshot [SAVE=|RESTORE=|DELETE=name] | lab-capture [NETWORK=lan|mgmt] [COUNT=n] [FILTER='...']"
	@echo "make lab-up LAB_TOPOLOGY=labs/routed.yml   another lab; make box builds the VMs' local box"
	@echo "make lab-tc [SET='lanb delay=80 loss=2'] [RESET=lanb|all] | lab-bench [ARGS='--clients 200 --quick']"
	@echo "make vm-e2e      the VM lab end to end (up, checks, down), as CI runs it after make test"
	@echo "make provision INVENTORY=hosts.yml   site.yml on your machines; make check INVENTORY=hosts.yml checks them"

# The VM lab's packages too, unless containers were asked for (VMs are make lab-up's default).
deps:
	@tools/install-deps $(if $(filter nspawn,$(LAB_PROVIDER)),,vm)

# The VM lab's extra Debian packages (Vagrant, vagrant-libvirt, libvirt, QEMU, extlinux).
vm-deps:
	@tools/install-deps vm

$(VENV)/.installed: pyproject.toml | deps
	@test -x $(PY) || python3 -m venv $(VENV)
	@$(PY) -m pip install -q --upgrade pip
	@$(PY) -m pip install -q -e '.[dev]'
	@touch $@

venv: $(VENV)/.installed

lint: venv
	$(BIN)/ruff check .
	cd ansible && ../$(BIN)/ansible-lint --profile production --offline

unit: venv
	$(BIN)/pytest tests/unit

# The container labs end to end (tools/lab-e2e), each under its own name and addresses so that none touches a lab
# the user has up: up (provision + cross-host checks), every check with the fault drills (lab test), then down,
# whatever happened. The seed's lab also gets the lab operations' tests (+ops) before its down; then the routed lab
# with link conditions this kernel supports (labs/conditions.yml: two LANs, a router, rate and loss; +bench: lab bench
# --quick) and the one-NIC lab.
E2E_LABS := "LAB_NAME=e2e LAB_MGMT_SUBNET=10.199.58.0/24 +ops" \
	"LAB_NAME=e2er LAB_TOPOLOGY=labs/conditions.yml LAB_MGMT_SUBNET=10.199.68.0/24 +bench" \
	"LAB_NAME=e2e1 LAB_TOPOLOGY=labs/single-nic.yml LAB_SUBNET=192.168.158.0/24"
lab-e2e: venv
	@if [ "$$(id -u)" != 0 ]; then \
	  echo "SKIPPED container lab end to end: it needs root (systemd-nspawn, bridges); run 'sudo make test'"; \
	else \
	  PY=$(PY) MAKE=$(MAKE) tools/lab-e2e nspawn $(E2E_LABS) && $(MAKE) --no-print-directory external-e2e; \
	fi

# A machine the lab did not create (the test's own container, on a LAN bridge of the test's own) with a lab server
# on that bridge: tests/e2e (docs/real-networks.md). Names: E2E_EXTERNAL_LAB, E2E_EXTERNAL_BRIDGE, E2E_EXTERNAL_SUBNET.
E2E_EXTERNAL_LAB ?= e2ex
E2E_EXTERNAL_BRIDGE ?= e2ebr0
E2E_EXTERNAL_SUBNET ?= 192.168.157.0/24
E2E_EXTERNAL_MGMT ?= 10.199.61.0/24
external-e2e: venv
	E2E_EXTERNAL_LAB=$(E2E_EXTERNAL_LAB) E2E_EXTERNAL_BRIDGE=$(E2E_EXTERNAL_BRIDGE) \
	  E2E_EXTERNAL_SUBNET=$(E2E_EXTERNAL_SUBNET) LAB_MGMT_SUBNET=$(E2E_EXTERNAL_MGMT) \
	  PATH=$(abspath $(BIN)):$$PATH $(BIN)/pytest -p no:cacheprovider tests/e2e

# A lab whose LAN is a bridge of this machine, on containers (also in external-e2e) or, by hand, on VMs
# (E2E_BRIDGED_PROVIDER=libvirt, about 3 minutes): tests/e2e/test_bridged_lan.py (docs/real-networks.md).
bridged-e2e: venv
	PATH=$(abspath $(BIN)):$$PATH $(BIN)/pytest -p no:cacheprovider tests/e2e/test_bridged_lan.py

# The lab operations (tests/lab_ops: exec, logs, status, snapshots, capture, a dead container's restart, the chat
# port's errors, lab tc) against the lab that is up, the one LAB_NAME names: lab-e2e runs it between its up and down.
lab-ops-e2e: venv
	$(BIN)/pytest -p no:cacheprovider tests/lab_ops

# The VM lab end to end under its own name (CI runs it after `make test`, tools/lab-e2e): up, every check with the
# fault drills (lab test), then down, whatever happened.
# As root; about 5 minutes under software emulation, plus about 1 minute the first time for `make box`.
VM_E2E_LABS := "LAB_NAME=vme2e LAB_TOPOLOGY=labs/wan.yml LAB_MGMT_SUBNET=10.199.59.0/24"
vm-e2e: vm-deps venv
	@if [ "$$(id -u)" != 0 ]; then echo "vm-e2e: the VM lab needs root (libvirt, bridges); run 'sudo make vm-e2e'" >&2; exit 1; fi
	@PY=$(PY) MAKE=$(MAKE) tools/lab-e2e libvirt $(VM_E2E_LABS)

test: lint unit lab-e2e

# DIALECT=irc: the load speaks IRC to the server's IRC port; bench-peer: line, IRC and Debian's ngircd side by side.
bench: venv
	$(PY) -m bench $(if $(DIALECT),--dialect $(DIALECT))

bench-peer: venv
	@tools/install-deps >/dev/null || { echo "bench-peer needs ngircd: run tools/install-deps as root"; exit 1; }
	$(PY) -m bench --peer

# Real machines (or any inventory): site.yml, then the cross-host checks, with the venv's Ansible and the root
# ansible.cfg. No default inventory on purpose: the example's addresses are somebody's real network.
INVENTORY ?=
provision: venv inventory-given
	ANSIBLE_CONFIG=$(CURDIR)/ansible.cfg $(BIN)/ansible-playbook -i $(INVENTORY) ansible/site.yml

check: venv inventory-given
	ANSIBLE_CONFIG=$(CURDIR)/ansible.cfg $(BIN)/pytest -p no:cacheprovider -q tests/infra --inventory=$(INVENTORY)

inventory-given:
	@test -n "$(INVENTORY)" || { echo "give INVENTORY=path/to/hosts.yml (start from a copy of ansible/inventories/example/hosts.yml)" >&2; exit 2; }
	@test -f "$(INVENTORY)" || { echo "no inventory $(INVENTORY)" >&2; exit 2; }

lab-up: deps venv
	$(LAB) up

lab-test: venv
	$(LAB) test

lab-status: venv
	$(LAB) status $(if $(JSON),--json)

lab-ssh: venv
	$(LAB) ssh $(HOST)

lab-chat: venv
	$(LAB) chat $(HOST)

lab-down: venv
	$(LAB) down

# Converge only: ansible/site.yml against the lab that is up (no new hosts, no checks).
lab-provision: venv
	$(LAB) provision

# CMD is one shell command line, run as root on HOST (a host, hosts separated by commas, or all) at once.
lab-exec: venv
	@$(LAB) exec $(or $(HOST),all) -- "$$CMD"

lab-logs: venv
	@$(LAB) logs $(HOST) $(if $(UNIT),--unit $(UNIT)) $(if $(FOLLOW),-f)

# make lab-snapshot SAVE=name | RESTORE=name | DELETE=name; without any: the list.
lab-snapshot: venv
	@$(LAB) snapshot $(if $(SAVE),save $(SAVE),$(if $(RESTORE),restore $(RESTORE),$(if $(DELETE),delete $(DELETE),list)))

# Link conditions (docs/conditions.md): make lab-tc shows them; SET='lanb delay=80 loss=2' (a network, or
# HOST:NETWORK) changes them at once; RESET=lanb (or RESET=all) puts the topology's back.
lab-tc: venv
	@$(LAB) tc $(if $(SET),set $(SET),$(if $(RESET),reset $(filter-out all,$(RESET)),show))

# The chat under load across the lab (lab bench: the load generator on the client hosts), e.g. ARGS='--quick'.
lab-bench: venv
	$(LAB) bench $(ARGS)

lab-capture: venv
	@$(LAB) capture $(NETWORK) $(if $(FILE),-w $(FILE)) $(if $(COUNT),-c $(COUNT)) $(if $(FILTER),"$$FILTER")

# The lab as a picture (SVG and PNG under .lab/NAME/), from LAB_TOPOLOGY's file alone or from the running lab.
lab-graph: venv
	$(LAB) graph

# The VM lab's local Vagrant box chatlab/bookworm64 (as root; rebuilt only when its inputs change).
box: vm-deps venv
	$(LAB) box

clean:
	rm -rf $(VENV) .lab .pytest_cache .ruff_cache *.egg-info
