"""The shell: the `anxin` command, the demo and the local servers, composed on top of every package."""
