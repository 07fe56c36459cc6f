"""Reports on usage: current usage, history, utilization, per user, seat efficiency."""
