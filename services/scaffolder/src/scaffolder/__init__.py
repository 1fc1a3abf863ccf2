"""scaffolder: a project's repository from the service template."""
