//! Scopes a key can hold. Aliases are resolved once, when a key is created; a key only ever
//! stores canonical names.

use std::fmt;

#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub enum Scope {
    ScimUsersRead,
    ScimUsersWrite,
    ScimGroupsRead,
    ScimGroupsWrite,
    ApiUsersRead,
    ApiUsersWrite,
    ApiRoomsRead,
    ApiRoomsWrite,
    Usage,
    Webhooks,
    /// Create, list, revoke and rotate the tenant's API keys; read its audit log.
    ApiKeysManage,
}

impl Scope {
    pub const ALL: [Scope; 11] = [
        Scope::ScimUsersRead,
        Scope::ScimUsersWrite,
        Scope::ScimGroupsRead,
        Scope::ScimGroupsWrite,
        Scope::ApiUsersRead,
        Scope::ApiUsersWrite,
        Scope::ApiRoomsRead,
        Scope::ApiRoomsWrite,
        Scope::Usage,
        Scope::Webhooks,
        Scope::ApiKeysManage,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Scope::ScimUsersRead => "scim:users:read",
            Scope::ScimUsersWrite => "scim:users:write",
            Scope::ScimGroupsRead => "scim:groups:read",
            Scope::ScimGroupsWrite => "scim:groups:write",
            Scope::ApiUsersRead => "api:users:read",
            Scope::ApiUsersWrite => "api:users:write",
            Scope::ApiRoomsRead => "api:rooms:read",
            Scope::ApiRoomsWrite => "api:rooms:write",
            Scope::Usage => "usage",
            Scope::Webhooks => "webhooks",
            Scope::ApiKeysManage => "api_keys.manage",
        }
    }

    /// What the scope lets a key do, as the console offers it.
    pub fn about(self) -> &'static str {
        match self {
            Scope::ScimUsersRead => "List and retrieve SCIM users.",
            Scope::ScimUsersWrite => "Create, update, and deactivate SCIM users.",
            Scope::ScimGroupsRead => "List and retrieve SCIM groups.",
            Scope::ScimGroupsWrite => "Update SCIM group membership mappings.",
            Scope::ApiUsersRead => "List and retrieve users through the native API.",
            Scope::ApiUsersWrite => "Create, update, and deactivate users through the native API.",
            Scope::ApiRoomsRead => {
                "Read rooms (channels) and their members through the native API."
            }
            Scope::ApiRoomsWrite => "Add and remove room (channel) members through the native API.",
            Scope::Usage => "Read seat usage.",
            Scope::Webhooks => "Manage webhook registrations and read the change stream.",
            Scope::ApiKeysManage => "Create, revoke and rotate API keys; read the audit log.",
        }
    }

    pub fn from_name(name: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|s| s.name() == name)
    }

    fn bit(self) -> u16 {
        1 << (self as u16)
    }

    /// Expands a scope or alias as typed by an admin (`scim:read`, `api:channels:write`, `all`).
    pub fn resolve(input: &str) -> Result<Vec<Scope>, String> {
        use Scope::*;
        let scopes = match input.trim() {
            "scim:read" => vec![ScimUsersRead, ScimGroupsRead],
            "scim:write" => vec![ScimUsersWrite, ScimGroupsWrite],
            "api:channels:read" => vec![ApiRoomsRead],
            "api:channels:write" => vec![ApiRoomsWrite],
            "all" | "*" => Scope::ALL.to_vec(),
            other => match Scope::from_name(other) {
                Some(s) => vec![s],
                None => {
                    return Err(format!(
                        "unknown scope {other:?}; known: {}, and the aliases scim:read, scim:write, \
                         api:channels:read, api:channels:write, all",
                        Scope::ALL.map(Scope::name).join(", ")
                    ));
                }
            },
        };
        Ok(scopes)
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A set of scopes as a bitmask: checking a scope on the request path is one AND.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct ScopeSet(u16);

impl ScopeSet {
    pub fn contains(self, scope: Scope) -> bool {
        self.0 & scope.bit() != 0
    }

    pub fn insert(&mut self, scope: Scope) {
        self.0 |= scope.bit();
    }

    pub fn iter(self) -> impl Iterator<Item = Scope> {
        Scope::ALL.into_iter().filter(move |s| self.contains(*s))
    }

    /// Canonical names in a fixed order.
    pub fn names(self) -> Vec<String> {
        self.iter().map(|s| s.name().to_owned()).collect()
    }

    /// Resolves admin input (names and aliases) into a set; empty input is an error.
    pub fn resolve_all<S: AsRef<str>>(inputs: &[S]) -> Result<ScopeSet, String> {
        let mut set = ScopeSet::default();
        for input in inputs {
            for scope in Scope::resolve(input.as_ref())? {
                set.insert(scope);
            }
        }
        if set == ScopeSet::default() {
            return Err("a key needs at least one scope (--scope)".into());
        }
        Ok(set)
    }

    /// Reads stored canonical names; unknown names (from a newer build) are ignored.
    pub fn from_stored(names: &[String]) -> ScopeSet {
        let mut set = ScopeSet::default();
        for scope in names.iter().filter_map(|n| Scope::from_name(n)) {
            set.insert(scope);
        }
        set
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_expand_and_write_does_not_imply_read() {
        let set = ScopeSet::resolve_all(&["scim:write", "api:channels:read"]).unwrap();
        assert!(set.contains(Scope::ScimUsersWrite) && set.contains(Scope::ScimGroupsWrite));
        assert!(set.contains(Scope::ApiRoomsRead));
        assert!(!set.contains(Scope::ScimUsersRead));
        assert_eq!(set.names(), ["scim:users:write", "scim:groups:write", "api:rooms:read"]);
        assert!(ScopeSet::resolve_all(&["scim:admin"]).is_err());
        assert!(ScopeSet::resolve_all::<&str>(&[]).is_err());
        assert_eq!(ScopeSet::from_stored(&set.names()), set);
    }
}
