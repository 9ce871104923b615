"""Unit tests of the inspector's view helpers."""

from __future__ import annotations

from harness.abtasty.records import TraitKey
from harness.http.inspector.views import trait_note


def test_trait_note_nested_identify_trait_is_empty() -> None:
    assert trait_note(TraitKey("identify", ("company", "name"))) == ""


def test_trait_note_group_trait_is_empty() -> None:
    assert trait_note(TraitKey("group", ("plan",))) == ""


def test_trait_note_literal_dotted_key_gives_source_and_path() -> None:
    assert trait_note(TraitKey("identify", ("company.name",))) == 'identify ["company.name"]'


def test_trait_note_identify_trait_named_like_group_gives_source_and_path() -> None:
    assert trait_note(TraitKey("identify", ("group.plan",))) == 'identify ["group.plan"]'
