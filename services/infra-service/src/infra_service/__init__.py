"""infra-service: server provisioning and application deploys with Ansible."""
