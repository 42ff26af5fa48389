//! Labels (`set_label` in a pre_tag_map) are text, but keys stay fixed-width: a key holds a
//! 32-bit id and this process-wide table holds the text. Labels come from map files, so there
//! are few of them; a map reload adds its new labels and never renumbers old ones. Id 0 is
//! the empty label (untagged traffic).
//!
//! Ids are numbered in the order labels are first seen, and keys sort by id: rows of labels
//! come out in the order the map lists them.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock};

/// A label's id in this process (0: no label).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LabelId(pub u32);

#[derive(Default)]
struct Table {
    texts: Vec<Arc<str>>,
    ids: HashMap<Arc<str>, u32>,
}

fn table() -> &'static RwLock<Table> {
    static TABLE: OnceLock<RwLock<Table>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let empty: Arc<str> = Arc::from("");
        RwLock::new(Table {
            texts: vec![empty.clone()],
            ids: HashMap::from([(empty, 0)]),
        })
    })
}

/// The id of `text`, adding it if new.
pub fn intern(text: &str) -> LabelId {
    if let Some(&id) = read().ids.get(text) {
        return LabelId(id);
    }
    let mut t = table().write().unwrap_or_else(|e| e.into_inner());
    if let Some(&id) = t.ids.get(text) {
        return LabelId(id);
    }
    let id = t.texts.len() as u32;
    let text: Arc<str> = Arc::from(text);
    t.texts.push(text.clone());
    t.ids.insert(text, id);
    LabelId(id)
}

/// The id of `text`, adding it only while the table holds fewer than `max` texts (names seen
/// on the wire are many: the table stays bounded).
pub fn intern_bounded(text: &str, max: usize) -> Option<LabelId> {
    if let Some(&id) = read().ids.get(text) {
        return Some(LabelId(id));
    }
    if read().texts.len() >= max {
        return None;
    }
    Some(intern(text))
}

/// The id of `text` if some map set it.
pub fn lookup(text: &str) -> Option<LabelId> {
    read().ids.get(text).map(|&id| LabelId(id))
}

/// The text of an id ("" for an id this process never gave out).
pub fn text(id: LabelId) -> Arc<str> {
    let t = read();
    t.texts
        .get(id.0 as usize)
        .cloned()
        .unwrap_or_else(|| t.texts[0].clone())
}

/// Every label in id order (index = id), for a peer that decodes our keys.
pub fn all() -> Vec<String> {
    read().texts.iter().map(|t| t.to_string()).collect()
}

/// Our ids of the labels a peer's [`all`] listed (index = the peer's id): the client maps the
/// ids in a table's keys with this before printing them.
pub fn adopt(texts: &[String]) -> Vec<LabelId> {
    texts.iter().map(|t| intern(t)).collect()
}

fn read() -> std::sync::RwLockReadGuard<'static, Table> {
    table().read().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_and_the_empty_label_is_zero() {
        assert_eq!(intern(""), LabelId(0));
        let a = intern("labels-test-a");
        let b = intern("labels-test-b");
        assert_ne!(a, b);
        assert_eq!(intern("labels-test-a"), a);
        assert_eq!(&*text(a), "labels-test-a");
        assert_eq!(&*text(LabelId(u32::MAX)), "");
        let all = all();
        assert_eq!(all[a.0 as usize], "labels-test-a");
        assert_eq!(adopt(&["labels-test-b".into()]), vec![b]);
    }
}
