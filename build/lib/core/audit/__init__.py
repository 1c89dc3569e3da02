"""What happened: each user's activity, the policy's decisions, and changes to roles and grants."""
