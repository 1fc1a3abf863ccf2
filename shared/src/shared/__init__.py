"""The shared kernel of codegen-orchestrator."""
