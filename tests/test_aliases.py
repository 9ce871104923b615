"""Documented import paths from before the one-package-per-fake layout keep working."""

from __future__ import annotations

import importlib

import pytest


@pytest.mark.parametrize(
    ("former", "current"),
    [
        ("harness.strategies", "harness.testing.strategies"),
        ("harness.pytest_plugin", "harness.testing.plugin"),
    ],
)
def test_aliases_former_module_path_is_the_moved_module(former: str, current: str) -> None:
    assert importlib.import_module(former) is importlib.import_module(current)


def test_aliases_unknown_module_is_still_not_found() -> None:
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("harness.no_such_module")


def test_aliases_domain_package_reexports_the_abtasty_service() -> None:
    from harness.abtasty import AbTasty
    from harness.domain import AbTasty as FormerAbTasty

    assert FormerAbTasty is AbTasty


def test_aliases_testing_package_reexports_handles_lazily() -> None:
    from harness.testing import AccountHandle
    from harness.testing.handles import AccountHandle as Defined

    assert AccountHandle is Defined


def test_aliases_testing_package_unknown_name_raises_attribute_error() -> None:
    import harness.testing

    with pytest.raises(AttributeError, match="no_such_name"):
        _ = harness.testing.no_such_name
