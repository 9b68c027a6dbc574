"""What staff do and see: accounts, review, analytics, export and the audit log."""
