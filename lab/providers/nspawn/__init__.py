"""The container provider (systemd-nspawn): the provider and its snapshots."""
