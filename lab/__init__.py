"""lab: the lab driver behind `make lab-*`: a topology resolved once into one model, hosts built by a provider
(containers or VMs) or given (real machines), everything else rendered from the model.

Modules, one job each, by layer: a module imports only from its own layer or the ones above it in this list, never
in a circle (tests/unit/lab/test_lab_layers.py checks it).

1. the model
- ``errors``: LabError, TopologyError (imports nothing of the project)
- ``conditions``: link conditions (delay, loss, rate, ...): checked, combined, what one interface applies (pure)
- ``model``: the resolved lab: Topology, Network, Host, Interface, Route, Connection, and their JSON
2. what the lab is
- ``topology``: a topology file read, checked and planned into the model (pure; the one planner of addresses)
- ``state``: every path under .lab/NAME/; the lab's record (LabConfig) loaded and saved
- ``links``: the link conditions in force: the topology's, `lab tc set`/`reset` targets, what a path adds up to
- ``config``: the topology file and LAB_* settings into what `lab up` is asked for (UpRequest, then a LabConfig)
3. plumbing
- ``plumbing.shell``: running commands (one-line LabError), log lines, tables
- ``plumbing.ssh``: the lab's SSH options, ControlMaster sockets, waiting for SSH
- ``plumbing.netem``: whether a kernel has netem, tried for real in a throwaway network namespace
- ``plumbing.progress``: heartbeat lines while a step is silent, Vagrant's steps
- ``plumbing.arp_probe``: ARP probes (RFC 5227): whether an address already answers on a LAN
- ``plumbing.existing_bridge``: an existing bridge a lab network uses, checked (exists, up, planned addresses free)
- ``plumbing.dhcp_config``, ``plumbing.dhcp``: a lab network's DHCP server: dnsmasq's configuration (pure); running it
4. images and outputs (rendered from the model)
- ``images.rootfs``: the cached Debian root filesystem (debootstrap) the hosts boot from
- ``images.box``: the VMs' local Vagrant box, built offline from that root filesystem
- ``outputs.inventory``: the Ansible inventory of a lab (and how to reach each host, read back)
- ``outputs.graph``: the lab as a picture (Graphviz)
- ``outputs.tc_script``: link conditions as shell scripts of tc (netem, tbf) and iptables commands
- ``outputs.results``: the cross-host checks' JUnit XML as a table
5. providers and operations
- ``providers``: the registry: which provider builds a lab, and loading it
- ``providers.base``: the Provider interface
- ``providers.external``: hosts the lab does not create (real machines)
- ``providers.nspawn.provider``, ``providers.nspawn.snapshot``: systemd-nspawn containers; their snapshots
- ``providers.libvirt.provider``: VMs with Vagrant and libvirt
- ``providers.libvirt.kvm``: whether a KVM guest really boots here (else TCG)
- ``providers.libvirt.snapshot``: libvirt's domain snapshots
- ``providers.libvirt.tools``: the machine's VM tools, libvirtd and /dev/kvm access
- ``providers.libvirt.vagrant``: vagrant/Vagrantfile's place and defaults, Vagrant's output read
- ``ops.remote``: `lab exec` and `lab logs` on the hosts
- ``ops.snapshot``: `lab snapshot`: the whole lab saved and restored
- ``ops.tc``: `lab tc` and `lab up`'s conditions: applied on the hosts (per provider), recorded, shown
- ``ops.bench``: `lab bench`: the chat's load generator on the client hosts, the report (bench/lab_report.py)
- ``ops.capture``: `lab capture`: tcpdump on a lab network's bridge
6. runs against a lab
- ``provision``: the Ansible (Mitogen) and pytest runs, as steps
- ``pytest_hosts``: the pytest plugin that records each check's hosts
- ``ansible_plugins.strategy.chatlab_mitogen_linear``: the lab's Ansible strategy, Mitogen's mitogen_linear
  unpinned (loaded by Ansible, named by provision)
7. sequences
- ``driver``: up, down, status; the only writer of the lab's record
8. the command line
- ``cli``: argparse and a table of commands, printing only (``__main__``: `python -m lab`)

Reference: docs/lab.md (commands, settings), docs/topology.md (the file), docs/providers.md (the hosts)
"""
