from tests.factories import bearer, make_user, token_for


def test_sysadmins_edit_synonyms_and_search_uses_them(client, session):
    admin = bearer(token_for(session, make_user(session, sysadmin=True)))
    somebody = bearer(token_for(session, make_user(session)))
    terms = {"terms": ["社保", "社会保险"]}
    assert client.post("/api/v1/synonyms", json=terms, headers=somebody).status_code == 403
    created = client.post("/api/v1/synonyms", json=terms, headers=admin)
    assert created.status_code == 201
    assert client.get("/api/v1/synonyms").get_json() == [created.get_json()]
    too_few = client.post("/api/v1/synonyms", json={"terms": ["社保"]}, headers=admin)
    assert too_few.status_code == 422 and "terms" in too_few.get_json()["errors"]
    removed = client.delete(f"/api/v1/synonyms/{created.get_json()['id']}", headers=admin)
    assert removed.status_code == 204
    assert client.get("/api/v1/synonyms").get_json() == []
