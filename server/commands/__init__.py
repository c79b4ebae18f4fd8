"""Sub-commands of the branchq CLI."""
