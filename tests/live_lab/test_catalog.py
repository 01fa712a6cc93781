"""The lab catalogue in sections (live_lab/catalog.py): every experiment once, under a heading
that says what the group teaches, with a contents list at the top."""

import re

import pytest

from live_lab.catalog import SECTIONS, catalog_sections
from live_lab.experiments import EXPERIMENTS


def test_every_experiment_is_placed_in_exactly_one_section():
    placed = [experiment_id for *_, ids in SECTIONS for experiment_id in ids]
    assert sorted(placed) == sorted(EXPERIMENTS)
    assert [section.anchor for section in catalog_sections()] == [anchor for anchor, *_ in SECTIONS]


def test_every_sandbox_experiment_is_in_the_sandbox_section_and_no_other_is():
    sandbox = next(section for section in catalog_sections() if section.anchor == "sandbox")
    assert {e.id for e in sandbox.experiments} == {e.id for e in EXPERIMENTS.values() if e.sandbox}


@pytest.mark.django_db
def test_the_lab_page_lists_each_section_with_its_count_and_each_experiment_once(client):
    page = client.get("/lab/").content.decode()
    for section in catalog_sections():
        assert f'<a href="#{section.anchor}">{section.title}</a> ({len(section.experiments)})' in page
        assert f'<h2 id="{section.anchor}">{section.title}</h2>' in page
    for experiment_id in EXPERIMENTS:
        assert len(re.findall(rf'href="/lab/{re.escape(experiment_id)}/"', page)) == 1, experiment_id
