//! The request sequences Okta and Microsoft Entra ID send, as their public SCIM documentation
//! describes them, replayed against the server.

use serde_json::{Value, json};

use crate::harness::{Resp, Server};

const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn ok(r: Resp, status: u16) -> Value {
    assert_eq!(r.status, status, "{}", r.body);
    if r.body.is_empty() { Value::Null } else { r.json() }
}

#[test]
fn okta_user_and_group_push() {
    let s = Server::start();
    let key = s.root_key();
    let base = "/v1/default/scim/v2";
    // Existence check, then create.
    let found = ok(
        s.get(
            &format!(
                "{base}/Users?filter={}&startIndex=1&count=100",
                enc(r#"userName eq "dana@example.com""#)
            ),
            Some(&key),
        ),
        200,
    );
    assert_eq!(found["totalResults"], 0);
    assert_eq!(found["Resources"], json!([]));
    let created = ok(
        s.send(
            "POST",
            &format!("{base}/Users"),
            &key,
            &json!({
        "schemas": [USER], "userName": "dana@example.com",
        "name": {"givenName": "Dana", "familyName": "Diaz"},
        "emails": [{"primary": true, "value": "dana@example.com", "type": "work"}],
        "displayName": "Dana Diaz", "locale": "en-US", "externalId": "00u1abcd", "groups": [],
        "password": "1mz050nq", "active": true}),
        ),
        201,
    );
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created["active"], true);
    assert!(created.get("password").is_none(), "passwords are never returned (nor kept)");
    let found = ok(
        s.get(
            &format!(
                "{base}/Users?filter={}&startIndex=1&count=100",
                enc(r#"userName eq "dana@example.com""#)
            ),
            Some(&key),
        ),
        200,
    );
    assert_eq!(found["Resources"][0]["id"], id.as_str());
    ok(s.get(&format!("{base}/Users/{id}"), Some(&key)), 200);
    // Profile update: PUT with the whole user.
    let updated = ok(s.send("PUT", &format!("{base}/Users/{id}"), &key, &json!({
        "schemas": [USER], "id": id, "userName": "dana@example.com",
        "name": {"givenName": "Dana", "familyName": "Dale"},
        "emails": [{"primary": true, "value": "dana@example.com", "type": "work"}],
        "displayName": "Dana Dale", "locale": "en-US", "externalId": "00u1abcd", "groups": [], "active": true,
        "meta": {"resourceType": "User"}})), 200);
    assert_eq!(updated["name"]["familyName"], "Dale");
    // Deactivate and reactivate: PATCH without a path.
    let off = ok(
        s.send(
            "PATCH",
            &format!("{base}/Users/{id}"),
            &key,
            &json!({"schemas": [PATCH_OP],
        "Operations": [{"op": "replace", "value": {"active": false}}]}),
        ),
        200,
    );
    assert_eq!(off["active"], false);
    assert_eq!(s.get("/usage", Some(&key)).json()["seats_provisioned"], 0);
    let on = ok(
        s.send(
            "PATCH",
            &format!("{base}/Users/{id}"),
            &key,
            &json!({"schemas": [PATCH_OP],
        "Operations": [{"op": "replace", "value": {"active": true}}]}),
        ),
        200,
    );
    assert_eq!(on["active"], true);

    // Group push: create, add a member, remove it, rename, look it up, delete.
    let group = ok(
        s.send(
            "POST",
            &format!("{base}/Groups"),
            &key,
            &json!({"schemas": [GROUP], "displayName": "Test SCIMv2", "members": []}),
        ),
        201,
    );
    let gid = group["id"].as_str().unwrap().to_owned();
    ok(s.send("PATCH", &format!("{base}/Groups/{gid}"), &key, &json!({"schemas": [PATCH_OP],
        "Operations": [{"op": "add", "path": "members", "value": [{"value": id, "display": "dana@example.com"}]}]})), 204);
    let g = ok(s.get(&format!("{base}/Groups/{gid}"), Some(&key)), 200);
    assert_eq!(g["members"][0]["value"], id.as_str());
    ok(
        s.send(
            "PATCH",
            &format!("{base}/Groups/{gid}"),
            &key,
            &json!({"schemas": [PATCH_OP],
        "Operations": [{"op": "remove", "path": format!("members[value eq \"{id}\"]")}]}),
        ),
        204,
    );
    ok(s.send("PATCH", &format!("{base}/Groups/{gid}"), &key, &json!({"schemas": [PATCH_OP],
        "Operations": [{"op": "replace", "value": {"id": gid, "displayName": "Test SCIMv2 renamed"}}]})), 204);
    let listed = ok(
        s.get(
            &format!(
                "{base}/Groups?filter={}&startIndex=1&count=100",
                enc(r#"displayName eq "Test SCIMv2 renamed""#)
            ),
            Some(&key),
        ),
        200,
    );
    assert_eq!(listed["totalResults"], 1);
    assert_eq!(listed["Resources"][0]["members"], json!([]));
    ok(s.request("DELETE", &format!("{base}/Groups/{gid}"), Some(&key), None), 204);
    ok(s.get(&format!("{base}/Groups/{gid}"), Some(&key)), 404);
}

#[test]
fn entra_user_and_group_provisioning() {
    let s = Server::start();
    let key = s.root_key();
    let base = "/scim/v2";
    // Matching: by userName, then by externalId.
    let none = ok(
        s.get(
            &format!("{base}/Users?filter={}", enc(r#"userName eq "Test_User_ab6490ee""#)),
            Some(&key),
        ),
        200,
    );
    assert_eq!(none["totalResults"], 0);
    let created = ok(s.send("POST", &format!("{base}/Users"), &key, &json!({
        "schemas": [USER, ENTERPRISE],
        "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef", "userName": "Test_User_ab6490ee", "active": true,
        "emails": [{"primary": true, "type": "work", "value": "Test_User_fd0ea19b@testuser.com"}],
        "meta": {"resourceType": "User"},
        "name": {"formatted": "givenName familyName", "familyName": "familyName", "givenName": "givenName"},
        "roles": []})), 201);
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(
        created["roles"],
        json!([{"value": "member"}]),
        "an empty roles list leaves the default"
    );
    let by_ext = ok(
        s.get(
            &format!(
                "{base}/Users?filter={}",
                enc(r#"externalId eq "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef""#)
            ),
            Some(&key),
        ),
        200,
    );
    assert_eq!(by_ext["Resources"][0]["id"], id.as_str());
    ok(s.get(&format!("{base}/Users/{id}"), Some(&key)), 200);

    // Attribute updates with capitalised ops and value filters.
    let p = ok(s.send("PATCH", &format!("{base}/Users/{id}"), &key, &json!({"schemas": [PATCH_OP], "Operations": [
        {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "updatedEmail@microsoft.com"},
        {"op": "Replace", "path": "name.familyName", "value": "updatedFamilyName"}]})), 200);
    assert_eq!(p["emails"][0]["value"], "updatedEmail@microsoft.com");
    assert_eq!(p["name"]["familyName"], "updatedFamilyName");
    // The manager: as Entra's array of objects, then as a plain id string, then removed.
    let p = ok(
        s.send(
            "PATCH",
            &format!("{base}/Users/{id}"),
            &key,
            &json!({"schemas": [PATCH_OP], "Operations": [
        {"op": "Add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager",
         "value": [{"$ref": null, "value": "Test_User_fd0ea19b"}]}]}),
        ),
        200,
    );
    assert_eq!(p[ENTERPRISE]["manager"], json!({"value": "Test_User_fd0ea19b"}));
    let p = ok(s.send("PATCH", &format!("{base}/Users/{id}"), &key, &json!({"schemas": [PATCH_OP], "Operations": [
        {"op": "Replace", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager", "value": "boss-2"}]})), 200);
    assert_eq!(p[ENTERPRISE]["manager"], json!({"value": "boss-2"}));
    let p = ok(s.send("PATCH", &format!("{base}/Users/{id}"), &key, &json!({"schemas": [PATCH_OP], "Operations": [
        {"op": "Remove", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager"}]})), 200);
    assert!(p.get(ENTERPRISE).is_none_or(|e| e.get("manager").is_none()));
    // Unknown attributes and extension schemas are ignored, not a 500.
    ok(s.send("PATCH", &format!("{base}/Users/{id}"), &key, &json!({"schemas": [PATCH_OP], "Operations": [
        {"op": "Add", "path": "urn:example:custom:1.0:User:costume", "value": "pirate"},
        {"op": "Replace", "value": {"urn:example:custom:1.0:User:hat": "big", "nickname": "Tess"}}]})), 200);
    // Empty PATCH bodies answer normally.
    let same = ok(
        s.send(
            "PATCH",
            &format!("{base}/Users/{id}"),
            &key,
            &json!({"schemas": [PATCH_OP], "Operations": []}),
        ),
        200,
    );
    assert_eq!(same["id"], id.as_str());

    // Groups: create, check, add members with a value array, remove by value and by filter.
    let member2 = ok(
        s.send(
            "POST",
            &format!("{base}/Users"),
            &key,
            &json!({"schemas": [USER], "userName": "Test_User_2", "active": true}),
        ),
        201,
    );
    let id2 = member2["id"].as_str().unwrap().to_owned();
    let g = ok(s.send("POST", &format!("{base}/Groups"), &key, &json!({"schemas": [GROUP],
        "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159", "displayName": "displayName", "meta": {"resourceType": "Group"}})), 201);
    let gid = g["id"].as_str().unwrap().to_owned();
    let check = ok(
        s.get(
            &format!(
                "{base}/Groups?excludedAttributes=members&filter={}",
                enc(r#"displayName eq "displayName""#)
            ),
            Some(&key),
        ),
        200,
    );
    assert_eq!(check["totalResults"], 1);
    assert!(check["Resources"][0].get("members").is_none());
    ok(s.send("PATCH", &format!("{base}/Groups/{gid}"), &key, &json!({"schemas": [PATCH_OP], "Operations": [
        {"op": "Add", "path": "members", "value": [{"$ref": null, "value": id}, {"$ref": null, "value": id2}]}]})), 204);
    let membership = ok(
        s.get(
            &format!(
                "{base}/Groups?excludedAttributes=members&filter={}",
                enc(&format!(r#"id eq "{gid}" and members[value eq "{id}"]"#))
            ),
            Some(&key),
        ),
        200,
    );
    assert_eq!(membership["totalResults"], 1, "Entra's membership check");
    ok(
        s.send(
            "PATCH",
            &format!("{base}/Groups/{gid}"),
            &key,
            &json!({"schemas": [PATCH_OP], "Operations": [
        {"op": "Remove", "path": "members", "value": [{"$ref": null, "value": id}]}]}),
        ),
        204,
    );
    ok(
        s.send(
            "PATCH",
            &format!("{base}/Groups/{gid}"),
            &key,
            &json!({"schemas": [PATCH_OP], "Operations": [
        {"op": "Remove", "path": format!("members[value eq \"{id2}\"]")}]}),
        ),
        204,
    );
    ok(s.send("PATCH", &format!("{base}/Groups/{gid}"), &key, &json!({"schemas": [PATCH_OP], "Operations": [
        {"op": "Replace", "path": "displayName", "value": "1879db59-3bdf-4490-ad68-ab880a269474updatedDisplayName"}]})), 204);
    let g = ok(s.get(&format!("{base}/Groups/{gid}"), Some(&key)), 200);
    assert_eq!(g["members"], json!([]));
    assert_eq!(g["displayName"], "1879db59-3bdf-4490-ad68-ab880a269474updatedDisplayName");

    // Disable with a string boolean, then delete.
    let off = ok(
        s.send(
            "PATCH",
            &format!("{base}/Users/{id}"),
            &key,
            &json!({"schemas": [PATCH_OP], "Operations": [
        {"op": "Replace", "path": "active", "value": "False"}]}),
        ),
        200,
    );
    assert_eq!(off["active"], false);
    ok(s.request("DELETE", &format!("{base}/Users/{id}"), Some(&key), None), 204);
    ok(s.get(&format!("{base}/Users/{id}"), Some(&key)), 404);
}
