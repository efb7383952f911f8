from __future__ import annotations

from core.errors import RuleError


class AccountRuleError(RuleError):
    """A request that breaks an account rule; the message is shown to the person."""
