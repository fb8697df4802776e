"""Operations on a lab that is up: exec and logs (remote), snapshots, packet capture.

Reference: docs/lab.md#operating-a-lab
"""
