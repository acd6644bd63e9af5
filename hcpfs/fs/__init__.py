"""The filesystem: POSIX operations mapped onto HCP requests."""
