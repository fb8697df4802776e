"""The images lab hosts boot from: the cached root filesystem (containers) and the Vagrant box (VMs)."""
