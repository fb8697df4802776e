"""Operations on a lab that is up: exec and logs (remote), snapshots, packet capture."""
