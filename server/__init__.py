"""branchq's ticket server. The pure branch rules live in `server.core`."""
