"""netconfig: find interfaces and give one a static IPv4 address in the ifupdown interfaces file, safely.

Modules, one job each:

- ``interfaces``: the interfaces(5) format, pure and stdlib-only (also Ansible module_utils)
- ``discovery``: this machine's interfaces (netifaces, /sys/class/net)
- ``routes``: the default routes (/proc/net/route, /proc/net/ipv6_route)
- ``guard``: the lock-out guard (default route, SSH session)
- ``session``: the SSH session we run in (SSH_CONNECTION, also under sudo)
- ``files``: atomic write, backup, sourced files
- ``plan``: the decision of a ``set`` (what to write, refuse, confirm), pure; the CLI and the role's module translate it
- ``apply``: ifdown/ifup, verification, rollback
- ``cli``: the ``netconfig`` command

Reference: docs/netconfig.md
"""
