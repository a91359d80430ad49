"""The dataset service reports every error it can in one InvalidInput, for any caller
(the REST API, the Action API, harvests); the search service names filter values it does
not know and takes a vocabulary's Chinese labels for its codes."""

import pytest
from sqlalchemy import func, select

from catalog.errors import InvalidInput
from catalog.models import Dataset
from catalog.policy import Actor
from catalog.services.datasets import DatasetValues, create_dataset, update_dataset
from catalog.services.search import (
    DatasetQuery,
    index_pending,
    resolve_filter_values,
    search_datasets,
)
from tests.factories import SYSTEM, make_dataset, make_department


def test_a_create_names_missing_fields_and_unknown_names_together(session):
    make_department(session, slug="edu")
    values = DatasetValues(
        slug="schools", title="学校名录", department="edu", license="nope", themes=["nowhere"]
    )
    with pytest.raises(InvalidInput) as refused:
        create_dataset(session, SYSTEM, values)
    assert set(refused.value.fields) == {"open_type", "share_type", "license", "themes"}
    assert session.scalar(select(func.count()).select_from(Dataset)) == 0


def test_an_update_names_an_unknown_department_with_the_other_errors(session):
    dataset = make_dataset(session, make_department(session, slug="edu"))
    values = DatasetValues(department="nowhere", open_type="半开放", license="nope")
    with pytest.raises(InvalidInput) as refused:
        update_dataset(session, SYSTEM, dataset.slug, values)
    assert set(refused.value.fields) == {"department", "open_type", "license"}
    assert "conditional (有条件开放)" in refused.value.fields["open_type"][0]
    session.expire_all()
    assert session.get(Dataset, dataset.id).department.slug == "edu"


def test_filter_values_resolve_labels_to_codes_and_keep_the_unknown_apart():
    resolved, unknown = resolve_filter_values(
        {
            "open_type": ["有条件开放", "conditional", "bogus"],
            "update_frequency": ["每月"],
            "format": ["CSV"],
        }
    )
    assert resolved == {
        "open_type": ["conditional"],
        "update_frequency": ["monthly"],
        "format": ["CSV"],
    }
    assert unknown == {"open_type": ["bogus"]}


def test_a_search_refuses_an_unknown_value_and_takes_a_label(session, backends):
    department = make_department(session, slug="edu")
    make_dataset(session, department, slug="fees", open_type="conditional")
    make_dataset(session, department, slug="schools")
    index_pending(session, backends.catalog_index)

    def search(**filters):
        query = DatasetQuery(filters=filters)
        return search_datasets(session, backends.catalog_index, Actor.anonymous(), query)

    assert [d.slug for d in search(open_type=["有条件开放"]).items] == ["fees"]
    with pytest.raises(InvalidInput) as refused:
        search(open_type=["bogus"], share_type=["不予共享", "nope"])
    assert set(refused.value.fields) == {"open_type", "share_type"}
    assert "'nope'" in refused.value.fields["share_type"][0]
