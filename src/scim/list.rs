//! Query parameters shared by every SCIM list (`filter`, `startIndex`, `count`, `sortBy`,
//! `sortOrder`, `attributes`, `excludedAttributes`), from a query string or a `.search` body,
//! and what they do to the answer: paging, sorting and projection.

use std::cmp::Ordering;

use serde_json::{Map, Value, json};

use super::filter::{self, AttrPath, Filter};
use crate::http::error::ApiError;
use crate::http::request::{FromRequest, Input, Query};
use crate::repr::input::{field, key_named};

pub const LIST_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
pub const DEFAULT_COUNT: u64 = 100;
/// Advertised as `filter.maxResults`.
pub const MAX_RESULTS: u64 = 1000;

#[derive(Debug, Default, Clone)]
pub struct ListParams {
    pub filter: Option<Filter>,
    /// 1-based, as SCIM counts.
    pub start_index: u64,
    pub count: u64,
    pub sort_by: Option<AttrPath>,
    pub descending: bool,
    pub attributes: Vec<AttrPath>,
    pub excluded: Vec<AttrPath>,
    /// RFC 9865 `cursor`, as sent (empty: the first page).
    pub cursor: Option<String>,
}

fn attr_list(raw: &[String]) -> Result<Vec<AttrPath>, ApiError> {
    raw.iter()
        .flat_map(|s| s.split(','))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            filter::parse_attr_path(s)
                .map_err(|e| ApiError::BadRequest { detail: e.0, scim_type: "invalidValue" })
        })
        .collect()
}

/// The parameters as they came, from a query string or a `.search` body.
struct Raw<'a> {
    filter: Option<&'a str>,
    start: Option<i64>,
    count: Option<i64>,
    sort_by: Option<&'a str>,
    sort_order: Option<&'a str>,
    attributes: &'a [String],
    excluded: &'a [String],
    cursor: Option<&'a str>,
}

/// A list's parameters from the query string.
impl FromRequest for ListParams {
    fn from_request(input: &Input<'_>) -> Result<ListParams, ApiError> {
        ListParams::from_query(&input.query)
    }
}

/// A list's parameters from a `.search` body (RFC 7644 §3.4.3).
pub struct Search(pub ListParams);

impl FromRequest for Search {
    const BODY: bool = true;
    fn from_request(input: &Input<'_>) -> Result<Search, ApiError> {
        ListParams::from_search(&input.json::<Value>()?).map(Search)
    }
}

impl ListParams {
    fn build(raw: Raw<'_>) -> Result<ListParams, ApiError> {
        let Raw { filter, start, count, sort_by, sort_order, attributes, excluded, cursor } = raw;
        let filter = match filter.map(str::trim).filter(|f| !f.is_empty()) {
            Some(f) => Some(filter::parse(f)?),
            None => None,
        };
        let sort_by = match sort_by.map(str::trim).filter(|s| !s.is_empty()) {
            Some(s) => Some(filter::parse_attr_path(s).map_err(|e| ApiError::bad_request(e.0))?),
            None => None,
        };
        let descending = match sort_order.map(str::to_ascii_lowercase).as_deref() {
            None | Some("ascending") => false,
            Some("descending") => true,
            Some(other) => {
                return Err(ApiError::bad_request(format!(
                    "sortOrder {other:?}: use ascending or descending"
                )));
            }
        };
        Ok(ListParams {
            filter,
            // RFC 7644 §3.4.2.4: below 1 means 1, a negative count means 0.
            start_index: start.unwrap_or(1).max(1) as u64,
            count: (count.unwrap_or(DEFAULT_COUNT as i64).max(0) as u64).min(MAX_RESULTS),
            sort_by,
            descending,
            attributes: attr_list(attributes)?,
            excluded: attr_list(excluded)?,
            cursor: cursor.map(str::to_owned),
        })
    }

    pub fn from_query(query: &Query) -> Result<ListParams, ApiError> {
        let int = |name: &str| -> Result<Option<i64>, ApiError> {
            match query.get(name) {
                None => Ok(None),
                Some(v) => v.trim().parse::<i64>().map(Some).map_err(|_| {
                    ApiError::bad_request(format!("{name} must be an integer, not {v:?}"))
                }),
            }
        };
        let list = |name: &str| query.get(name).map(str::to_owned).into_iter().collect::<Vec<_>>();
        ListParams::build(Raw {
            filter: query.get("filter"),
            start: int("startIndex")?,
            count: int("count")?,
            sort_by: query.get("sortBy"),
            sort_order: query.get("sortOrder"),
            attributes: &list("attributes"),
            excluded: &list("excludedAttributes"),
            cursor: query.get("cursor"),
        })
    }

    /// A `SearchRequest` body (RFC 7644 §3.4.3).
    pub fn from_search(body: &Value) -> Result<ListParams, ApiError> {
        if !body.is_object() {
            return Err(ApiError::bad_request("a SearchRequest must be a JSON object"));
        }
        let int = |name: &str| -> Result<Option<i64>, ApiError> {
            match field(body, name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::Number(n)) => n
                    .as_i64()
                    .map(Some)
                    .ok_or_else(|| ApiError::bad_request(format!("{name} must be an integer"))),
                Some(Value::String(s)) => s
                    .trim()
                    .parse()
                    .map(Some)
                    .map_err(|_| ApiError::bad_request(format!("{name} must be an integer"))),
                Some(_) => Err(ApiError::bad_request(format!("{name} must be an integer"))),
            }
        };
        let string = |name: &str| field(body, name).and_then(Value::as_str);
        let list = |name: &str| -> Vec<String> {
            match field(body, name) {
                Some(Value::Array(items)) => {
                    items.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect()
                }
                Some(Value::String(s)) => vec![s.clone()],
                _ => Vec::new(),
            }
        };
        ListParams::build(Raw {
            filter: string("filter"),
            start: int("startIndex")?,
            count: int("count")?,
            sort_by: string("sortBy"),
            sort_order: string("sortOrder"),
            attributes: &list("attributes"),
            excluded: &list("excludedAttributes"),
            cursor: string("cursor"),
        })
    }

    /// Where a cursor walk resumes (None: the first page), for the query `what` (this
    /// list's filter joins it, so a cursor serves only the query that made it). A sort cannot
    /// be walked by cursor.
    pub fn cursor_start(&self, what: &str) -> Result<(Option<u128>, u64), ApiError> {
        if self.sort_by.is_some() {
            return Err(ApiError::bad_request("sortBy cannot be combined with cursor"));
        }
        let filter = self.filter.as_ref().map(Filter::to_string).unwrap_or_default();
        let fingerprint = crate::cursor::fingerprint(&[what, &filter]);
        let raw = self.cursor.as_deref().unwrap_or("");
        let after = crate::cursor::decode(raw, fingerprint)
            .map_err(|e| ApiError::BadRequest { detail: e, scim_type: "invalidCursor" })?;
        Ok((after, fingerprint))
    }

    /// Sorts rendered resources by `sortBy`; resources without the attribute sort last.
    pub fn sort(&self, resources: &mut [Value]) {
        let Some(path) = &self.sort_by else { return };
        resources.sort_by(|a, b| {
            let (x, y) = (filter::first_value(a, path), filter::first_value(b, path));
            let ord = match (x, y) {
                (None, None) => Ordering::Equal,
                (None, Some(_)) => return Ordering::Greater,
                (Some(_), None) => return Ordering::Less,
                (Some(x), Some(y)) => compare_values(x, y),
            };
            if self.descending { ord.reverse() } else { ord }
        });
    }

    /// The ListResponse for one page. `total` counts every match; `page` holds this page.
    pub fn respond(&self, total: u64, mut page: Vec<Value>) -> Value {
        for resource in &mut page {
            project(resource, &self.attributes, &self.excluded);
        }
        json!({
            "schemas": [LIST_RESPONSE],
            "totalResults": total,
            "startIndex": self.start_index,
            "itemsPerPage": page.len(),
            "Resources": page,
        })
    }

    /// Whether the page shows resources whole (no `attributes` or `excludedAttributes`): then
    /// it can be written straight from the records (`ListPage`).
    pub fn shows_whole(&self) -> bool {
        self.attributes.is_empty() && self.excluded.is_empty()
    }

    /// The ListResponse for one page of whole resources, serialized as `respond` builds it.
    pub fn page<'r, T: serde::Serialize>(&self, total: u64, resources: &'r [T]) -> ListPage<'r, T> {
        ListPage {
            schemas: [LIST_RESPONSE],
            total_results: total,
            start_index: self.start_index,
            items_per_page: resources.len(),
            resources,
        }
    }

    /// The slice of an in-memory result for this page.
    pub fn page_of(&self, all: Vec<Value>) -> Vec<Value> {
        let skip = usize::try_from(self.start_index - 1).unwrap_or(usize::MAX);
        all.into_iter().skip(skip).take(usize::try_from(self.count).unwrap_or(usize::MAX)).collect()
    }

    /// Refuses a list that would examine more than `limit` records (`scan_limit`) one by one:
    /// 400 `tooMany` (RFC 7644 §3.4.2.2), instead of a scan that runs for seconds.
    pub fn within_budget(&self, records: u64, limit: u64, what: &str) -> Result<(), ApiError> {
        if limit == 0 || records <= limit {
            return Ok(());
        }
        let why = if self.filter.is_some() { "this filter" } else { "sorting" };
        Err(ApiError::BadRequest {
            detail: format!(
                "{why} would examine all {records} {what}, more than this server's scan_limit of \
                 {limit}; filter on an indexed attribute (userName, externalId or emails eq)"
            ),
            scim_type: "tooMany",
        })
    }
}

/// A ListResponse written from typed resources (no `Value` tree), in `respond`'s key order.
#[derive(serde::Serialize)]
pub struct ListPage<'r, T> {
    schemas: [&'static str; 1],
    #[serde(rename = "totalResults")]
    total_results: u64,
    #[serde(rename = "startIndex")]
    start_index: u64,
    #[serde(rename = "itemsPerPage")]
    items_per_page: usize,
    #[serde(rename = "Resources")]
    resources: &'r [T],
}

/// A page of a cursor walk (RFC 9865): the resources after the cursor in creation order, and
/// where the next page starts. A scan examines at most `scan_limit` records per page: a sparse
/// filter then answers a short (even empty) page with a `nextCursor`, so every page costs the
/// same wherever the walk is.
pub struct CursorPage<'p> {
    params: &'p ListParams,
    fingerprint: u64,
    page: Vec<Value>,
    /// The id of the last resource examined, and whether there may be more after it.
    last: Option<u128>,
    more: bool,
    examined: u64,
    budget: u64,
}

impl<'p> CursorPage<'p> {
    pub fn new(params: &'p ListParams, fingerprint: u64, budget: u64) -> CursorPage<'p> {
        let budget = if budget == 0 { u64::MAX } else { budget };
        CursorPage {
            params,
            fingerprint,
            page: Vec::new(),
            last: None,
            more: false,
            examined: 0,
            budget,
        }
    }

    /// Considers the resource `id` (`doc` if it matches); false once the page is done.
    pub fn offer(&mut self, id: u128, doc: Option<Value>) -> bool {
        if self.page.len() as u64 >= self.params.count || self.examined >= self.budget {
            self.more = true;
            return false;
        }
        self.examined += 1;
        self.last = Some(id);
        self.page.extend(doc);
        true
    }

    /// Pages through what an index lookup found (`hits`, any order); returns how many there are.
    pub fn offer_found(&mut self, mut hits: Vec<(u128, Value)>, after: Option<u128>) -> u64 {
        hits.sort_by_key(|(id, _)| *id);
        let total = hits.len() as u64;
        for (id, doc) in hits.into_iter().filter(|(id, _)| after.is_none_or(|a| *id > a)) {
            if !self.offer(id, Some(doc)) {
                break;
            }
        }
        total
    }

    /// The ListResponse: `totalResults` when known without a scan, `nextCursor` unless the walk
    /// is over.
    pub fn respond(self, total: Option<u64>) -> Value {
        let mut page = self.page;
        for resource in &mut page {
            project(resource, &self.params.attributes, &self.params.excluded);
        }
        let mut out = json!({
            "schemas": [LIST_RESPONSE],
            "itemsPerPage": page.len(),
            "Resources": page,
        });
        if let Some(total) = total {
            crate::repr::input::set_field(&mut out, "totalResults", json!(total));
        }
        if let (true, Some(last)) = (self.more, self.last) {
            let next = crate::cursor::encode(last, self.fingerprint);
            crate::repr::input::set_field(&mut out, "nextCursor", json!(next));
        }
        out
    }
}

/// A list's matches, gathered one at a time: only this page's are kept (memory O(count)), unless
/// sorting needs them all (then the scan budget bounds them).
pub struct Hits<'p> {
    params: &'p ListParams,
    total: u64,
    kept: Vec<Value>,
}

impl<'p> Hits<'p> {
    /// The answer to `params`, from what `find` pushes.
    pub fn gather(
        params: &'p ListParams,
        find: impl FnOnce(&mut Hits<'p>) -> crate::store::Result<()>,
    ) -> Result<Value, ApiError> {
        let mut hits = Hits::new(params);
        find(&mut hits)?;
        Ok(hits.respond())
    }

    pub fn new(params: &'p ListParams) -> Hits<'p> {
        Hits { params, total: 0, kept: Vec::new() }
    }

    pub fn push(&mut self, doc: Value) {
        self.total += 1;
        let p = self.params;
        if p.sort_by.is_some()
            || (self.total >= p.start_index && self.total - p.start_index < p.count)
        {
            self.kept.push(doc);
        }
    }

    /// The ListResponse: sorted and paged when sorting, else the page as gathered.
    pub fn respond(mut self) -> Value {
        let p = self.params;
        if p.sort_by.is_some() {
            p.sort(&mut self.kept);
            let page = p.page_of(std::mem::take(&mut self.kept));
            return p.respond(self.total, page);
        }
        p.respond(self.total, self.kept)
    }
}

/// A total order over any JSON values (sorting requires one; IdPs send a number for one user
/// and a string for the next): by type first (null, booleans, numbers, strings, arrays,
/// objects), then by value, strings ignoring case.
fn compare_values(x: &Value, y: &Value) -> Ordering {
    fn rank(v: &Value) -> u8 {
        match v {
            Value::Null => 0,
            Value::Bool(_) => 1,
            Value::Number(_) => 2,
            Value::String(_) => 3,
            Value::Array(_) => 4,
            Value::Object(_) => 5,
        }
    }
    match (x, y) {
        (Value::String(a), Value::String(b)) => a.to_lowercase().cmp(&b.to_lowercase()),
        (Value::Number(a), Value::Number(b)) => {
            a.as_f64().unwrap_or(0.0).total_cmp(&b.as_f64().unwrap_or(0.0))
        }
        (Value::Bool(a), Value::Bool(b)) => a.cmp(b),
        (Value::Array(_), Value::Array(_)) | (Value::Object(_), Value::Object(_)) => {
            x.to_string().cmp(&y.to_string())
        }
        _ => rank(x).cmp(&rank(y)),
    }
}

/// `attributes` keeps only what is named (plus `id` and `schemas`, which are always returned);
/// `excludedAttributes` drops what is named (never `id` or `schemas`).
pub fn project(resource: &mut Value, attributes: &[AttrPath], excluded: &[AttrPath]) {
    let Some(obj) = resource.as_object_mut() else { return };
    if !attributes.is_empty() {
        let mut kept = Map::new();
        for key in ["schemas", "id"] {
            if let Some(v) = obj.get(key) {
                kept.insert(key.into(), v.clone());
            }
        }
        for path in attributes {
            copy_path(obj, &mut kept, path);
        }
        *obj = kept;
    }
    for path in excluded {
        if path.name.eq_ignore_ascii_case("id") || path.name.eq_ignore_ascii_case("schemas") {
            continue;
        }
        let holder = match &path.uri {
            Some(uri) if !filter::is_core_urn(uri) => {
                key_named(obj, uri).and_then(|k| obj.get_mut(&k)).and_then(Value::as_object_mut)
            }
            _ => Some(&mut *obj),
        };
        let Some(holder) = holder else { continue };
        let Some(k) = key_named(holder, &path.name) else { continue };
        match &path.sub {
            None => {
                holder.remove(&k);
            }
            Some(sub) => match holder.get_mut(&k) {
                Some(Value::Object(inner)) => {
                    if let Some(sk) = key_named(inner, sub) {
                        inner.remove(&sk);
                    }
                }
                Some(Value::Array(items)) => {
                    for item in items.iter_mut().filter_map(Value::as_object_mut) {
                        if let Some(sk) = key_named(item, sub) {
                            item.remove(&sk);
                        }
                    }
                }
                _ => {}
            },
        }
    }
}

fn copy_path(from: &Map<String, Value>, to: &mut Map<String, Value>, path: &AttrPath) {
    let (src, dst) = match &path.uri {
        Some(uri) if !filter::is_core_urn(uri) => {
            let Some(k) = key_named(from, uri) else { return };
            let Some(Value::Object(src)) = from.get(&k) else { return };
            let dst = to.entry(k).or_insert_with(|| Value::Object(Map::new()));
            let Some(dst) = dst.as_object_mut() else { return };
            (src, dst)
        }
        _ => (from, to),
    };
    // A whole extension named by its URN alone.
    if let Some(k) = key_named(src, &path.name)
        && let Some(v) = src.get(&k)
    {
        match (&path.sub, v) {
            (None, v) => {
                dst.insert(k, v.clone());
            }
            (Some(sub), Value::Object(inner)) => {
                if let Some(sk) = key_named(inner, sub) {
                    let entry = dst.entry(k).or_insert_with(|| Value::Object(Map::new()));
                    if let Some(e) = entry.as_object_mut() {
                        e.insert(sk.clone(), inner[&sk].clone());
                    }
                }
            }
            (Some(sub), Value::Array(items)) => {
                let picked: Vec<Value> = items
                    .iter()
                    .filter_map(|i| i.as_object())
                    .map(|i| {
                        Value::Object(
                            i.iter()
                                .filter(|(ik, _)| ik.eq_ignore_ascii_case(sub))
                                .map(|(a, b)| (a.clone(), b.clone()))
                                .collect(),
                        )
                    })
                    .collect();
                dst.insert(k, Value::Array(picked));
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorting_mixed_json_values_is_a_total_order() {
        let values = [
            json!("b"),
            json!(3),
            json!(null),
            json!("A"),
            json!(true),
            json!([1]),
            json!({"a": 1}),
            json!(2.5),
            json!(false),
            json!("a"),
            json!(-1),
            json!([0]),
            json!(1e300),
            json!(""),
        ];
        // Every pair agrees both ways, and the order is transitive over all triples.
        for a in &values {
            for b in &values {
                assert_eq!(compare_values(a, b), compare_values(b, a).reverse(), "{a} {b}");
                for c in &values {
                    if compare_values(a, b).is_le() && compare_values(b, c).is_le() {
                        assert!(compare_values(a, c).is_le(), "{a} {b} {c}");
                    }
                }
            }
        }
        let mut sorted = values.to_vec();
        sorted.sort_by(compare_values);
        assert_eq!(sorted[..4], [json!(null), json!(false), json!(true), json!(-1)]);
    }

    #[test]
    fn projection_keeps_id_and_schemas() {
        let mut r = json!({"schemas": ["s"], "id": "1", "userName": "a", "name": {"givenName": "G", "familyName": "F"},
            "emails": [{"value": "e", "type": "work"}], "meta": {"resourceType": "User"}});
        let attrs = attr_list(&["userName,name.givenName".into()]).unwrap();
        project(&mut r, &attrs, &[]);
        assert_eq!(
            r,
            json!({"schemas": ["s"], "id": "1", "userName": "a", "name": {"givenName": "G"}})
        );
        let mut r2 = json!({"schemas": ["s"], "id": "1", "userName": "a", "emails": [{"value": "e", "type": "w"}]});
        project(&mut r2, &[], &attr_list(&["emails.type,id".into()]).unwrap());
        assert_eq!(
            r2,
            json!({"schemas": ["s"], "id": "1", "userName": "a", "emails": [{"value": "e"}]})
        );
    }
}
