"""How many examples a property test tries: its own count in `make test`, a fifth of it in `make test-fast`.

tests/conftest.py loads the `fast` Hypothesis profile (20 examples where a test names none, instead of
Hypothesis's 100) in the fast tier. Loading a profile changes only the defaults, not what a test's own
`@settings` says (https://hypothesis.readthedocs.io/en/latest/tutorial/settings.html), so a test that
names its count asks for it through `examples(n)`, which scales it with the profile loaded. Failing
examples are kept in Hypothesis's database either way and tried first on the next run.
"""

from __future__ import annotations

from hypothesis import settings

FAST_EXAMPLES = 20  # of Hypothesis's default 100


def examples(full: int) -> int:
    """`full` under Hypothesis's default profile; the same share of the loaded profile's count otherwise."""
    return max(1, full * settings.default.max_examples // 100)
