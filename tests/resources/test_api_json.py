def test_api_json_is_utf8_not_escaped(client, district, users):
    client.force_login(users["bureau"])
    r = client.get("/api/v1/parcels?code=P-001")
    assert r.status_code == 200
    assert "科创园一号地块".encode() in r.content and b"\\u" not in r.content
