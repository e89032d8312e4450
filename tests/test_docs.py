"""Documentation that is generated from code stays in step with it."""

from __future__ import annotations

from conftest import ROOT

from ipfs_kit_py.config import describe_settings, render_settings_doc


def test_configuration_doc_is_current() -> None:
    doc = (ROOT / "docs" / "configuration.md").read_text()
    assert doc == render_settings_doc(), "regenerate: python -m ipfs_kit_py.config > docs/configuration.md"


def test_every_setting_is_explained() -> None:
    missing = [env for env, _, _, help_ in describe_settings() if not help_]
    assert missing == [], f"add a trailing # comment to these settings: {missing}"


def test_operation_table_is_current() -> None:
    from ipfs_kit_py.registry import render_operations_doc

    doc = (ROOT / "docs" / "protocols.md").read_text()
    start, end = doc.index("<!-- operations:begin -->\n"), doc.index("<!-- operations:end -->")
    assert doc[start + len("<!-- operations:begin -->\n"):end] == render_operations_doc(), \
        "regenerate the table in docs/protocols.md: python -m ipfs_kit_py.registry"
