//! The service account controller: every active namespace gets its `default` ServiceAccount
//! (pods name it unless they name another, and admission refuses pods whose account is missing).

use serde_json::json;

use crate::store::{Store, str_at};

/// The ServiceAccount every namespace has.
pub fn default_account(namespace: &str) -> serde_json::Value {
    json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default", "namespace": namespace}})
}

/// One pass: creates missing `default` ServiceAccounts.
pub fn reconcile(store: &Store) {
    let (namespaces, _) = store.list("namespaces", None, |n| {
        n.pointer("/metadata/deletionTimestamp").is_none()
    });
    for namespace in namespaces {
        let name = str_at(&namespace, "/metadata/name");
        if store.get("serviceaccounts", name, "default").is_none() {
            // A concurrent creation is the only failure, and it leaves the account in place.
            let _ = store.create("serviceaccounts", default_account(name));
        }
    }
}
