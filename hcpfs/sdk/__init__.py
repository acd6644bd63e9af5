"""HCP client."""
