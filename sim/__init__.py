"""branchq's staffing simulator: a SimPy twin of a branch day."""
