"""worker-manager: the control plane of workers."""
