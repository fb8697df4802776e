"""The VM provider (Vagrant + libvirt): the provider, the KVM probe, snapshots, the machine's tools, Vagrant."""
