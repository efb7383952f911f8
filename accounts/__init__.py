"""People: users, sign-in, and (issue #3) MFA, roles, teams, sessions and offboarding."""
