"""Helpers every app imports (errors, HTTP plumbing, form styling); imports no app."""
