"""What is rendered from the lab's model: its Ansible inventory, its picture, its checks' results."""
