"""ledger.kinds: one registered object per entry kind, agreeing with the vocabulary."""

from __future__ import annotations

from ledger import kinds
from ledger.vocab import KINDS, OPERATOR_KINDS, SUBMITTED_KINDS


def test_every_kind_has_exactly_one_rule_object() -> None:
    assert sorted(kinds.RULES) == sorted(KINDS)
    assert all(rule.name == name for name, rule in kinds.RULES.items())


def test_signers_agree_with_the_vocabulary() -> None:
    signed_by_operator = {k for k, r in kinds.RULES.items() if r.signer == "operator"}
    covered = {k for k, r in kinds.RULES.items() if r.signer == "submission"}
    assert signed_by_operator == set(OPERATOR_KINDS)
    assert covered == set(SUBMITTED_KINDS)
    assert {k for k, r in kinds.RULES.items() if r.signer == "supplier"} == {"submission"}


def test_supplier_appended_kinds_name_their_builder() -> None:
    from ledger.accounting import build_record
    from ledger.outputs import build_output

    assert kinds.RULES["record"].build is build_record
    assert kinds.RULES["output"].build is build_output
    assert kinds.RULES["factor"].build is None
