"""sfsync: the command line and the one-box orchestration that composes edge, central and the simulator."""
