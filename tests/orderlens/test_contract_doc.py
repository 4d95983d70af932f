"""docs/data-contract.md names every column and rule of the contract as code."""

from __future__ import annotations

from orderlens.contracts import CONTRACTS, CROSS_TABLE_RULES
from orderlens.settings import PROJECT_ROOT

DOC = (PROJECT_ROOT / "docs" / "data-contract.md").read_text()


def test_every_contract_column_is_documented():
    missing = [
        f"{table}.{column}"
        for table, contract in CONTRACTS.items()
        for column in contract.column_names
        if f"`{column}`" not in DOC
    ]
    assert not missing


def test_every_rule_is_documented():
    rules = [f"{t}.{r.name}" for t, c in CONTRACTS.items() for r in c.rules]
    missing = [rule for rule in (*rules, *CROSS_TABLE_RULES) if rule not in DOC]
    missing = [r for r in missing if f"<table>.{r.partition('.')[2]}" not in DOC]
    assert not missing
