#!/usr/bin/env python3
"""A stand-in `virsh` for tests: libvirt's state (domains with their state and snapshots, networks, pools with
their volumes) in the JSON file $FAKE_VIRSH_STATE; each call is appended to $FAKE_VIRSH_STATE.log. Only what
the lab's removal of leftovers calls. No libvirt is touched."""

import json
import os
import sys

path = os.environ["FAKE_VIRSH_STATE"]
args = sys.argv[1:]
if args[:1] == ["-c"]:
    args = args[2:]
with open(path + ".log", "a") as log:
    log.write(" ".join(args) + "\n")
with open(path) as f:
    state = json.load(f)
domains, networks, pools = state["domains"], state["networks"], state["pools"]
command, rest = args[0], args[1:]


def names(items, active=lambda item: True):
    print("\n".join(name for name, item in items.items() if "--all" in rest or active(item)))


if command == "list":
    names(domains, lambda d: d["state"] == "running")
elif command == "domstate":
    print(domains[rest[0]]["state"])
elif command == "snapshot-list":
    print("\n".join(domains[rest[0]]["snapshots"]))
elif command == "snapshot-delete":
    domains[rest[0]]["snapshots"].remove(rest[1])
elif command == "destroy":
    domains[rest[0]]["state"] = "shut off"
elif command == "undefine":
    if domains[rest[0]]["snapshots"]:
        sys.exit("error: cannot undefine a domain that has snapshots")
    del domains[rest[0]]
elif command == "net-list":
    names(networks, lambda n: n["active"])
elif command == "net-destroy":
    networks[rest[0]]["active"] = False
elif command == "net-undefine":
    del networks[rest[0]]
elif command == "pool-list":
    names(pools, lambda p: p["active"])
elif command == "pool-start":
    pools[rest[0]]["active"] = True
elif command == "vol-list":
    print(" Name   Path\n-------------\n" + "".join(f" {v}  /pool/{v}\n" for v in pools[rest[0]]["volumes"]))
elif command == "vol-delete":
    pools[rest[1]]["volumes"].remove(rest[2])
elif command == "pool-destroy":
    pools[rest[0]]["active"] = False
elif command in ("pool-delete", "pool-undefine"):
    if command == "pool-undefine":
        del pools[rest[0]]
else:
    sys.exit(f"fake virsh: {command} is not expected here")
with open(path, "w") as f:
    json.dump(state, f)
