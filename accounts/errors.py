from __future__ import annotations


class AccountRuleError(Exception):
    """A request that breaks an account rule; the message is shown to the person."""
