"""Wire protocol v1 as the cloud reads it (docs/protocol.md is the contract)."""
