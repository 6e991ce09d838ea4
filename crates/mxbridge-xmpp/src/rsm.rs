//! XEP-0059 result set management: one page of a list, as asked by `<set>` (`max`, `after`,
//! `before`, `index`), keyed by a unique string per item (a room's JID).

use std::ops::Range;

use tokio_xmpp::parsers::rsm::{First, SetQuery, SetResult};

/// The items of one page and the `<set>` describing it; `None` when `after` or `before`
/// names an item not in the list (XEP-0059 answers item-not-found).
pub(crate) fn page(keys: &[String], query: Option<&SetQuery>, max_page: usize) -> Option<(Range<usize>, SetResult)> {
    let max = query.and_then(|q| q.max).unwrap_or(max_page).min(max_page);
    let position = |key: &str| keys.iter().position(|k| k == key);
    let (start, end) = match query {
        Some(SetQuery { after: Some(after), .. }) => {
            let start = position(after)? + 1;
            (start, (start + max).min(keys.len()))
        }
        // An empty `before` asks for the last page.
        Some(SetQuery { before: Some(before), .. }) => {
            let end = if before.is_empty() { keys.len() } else { position(before)? };
            (end.saturating_sub(max), end)
        }
        Some(SetQuery { index: Some(index), .. }) => {
            let start = (*index).min(keys.len());
            (start, (start + max).min(keys.len()))
        }
        _ => (0, max.min(keys.len())),
    };
    let (first, last) = if start < end {
        (Some(First { index: Some(start), item: keys[start].clone() }), Some(keys[end - 1].clone()))
    } else {
        (None, None)
    };
    Some((start..end, SetResult { first, last, count: Some(keys.len()) }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(max: Option<usize>, after: Option<&str>, before: Option<&str>, index: Option<usize>) -> SetQuery {
        SetQuery { max, after: after.map(str::to_owned), before: before.map(str::to_owned), index }
    }

    #[test]
    fn test_pages_follow_after_before_and_index() {
        let keys: Vec<String> = (0..250).map(|i| format!("r{i}")).collect();
        let (range, set) = page(&keys, None, 100).unwrap();
        assert_eq!((range, set.count, set.last.as_deref()), (0..100, Some(250), Some("r99")), "without a query: the first page");
        let (range, set) = page(&keys, Some(&query(Some(10), Some("r99"), None, None)), 100).unwrap();
        assert_eq!((range, set.first.map(|f| (f.index, f.item))), (100..110, Some((Some(100), "r100".to_owned()))));
        let (range, _) = page(&keys, Some(&query(Some(500), Some("r200"), None, None)), 100).unwrap();
        assert_eq!(range, 201..250, "no more than is left, no more than the largest page");
        let (range, _) = page(&keys, Some(&query(Some(10), None, Some(""), None)), 100).unwrap();
        assert_eq!(range, 240..250, "an empty before: the last page");
        let (range, _) = page(&keys, Some(&query(Some(10), None, Some("r5"), None)), 100).unwrap();
        assert_eq!(range, 0..5);
        let (range, _) = page(&keys, Some(&query(Some(10), None, None, Some(30))), 100).unwrap();
        assert_eq!(range, 30..40);
        let (range, set) = page(&keys, Some(&query(Some(0), None, None, None)), 100).unwrap();
        assert_eq!((range, set.count, set.first), (0..0, Some(250), None), "max 0 asks for the count only");
        assert!(page(&keys, Some(&query(Some(10), Some("gone"), None, None)), 100).is_none(), "an unknown item");
    }
}
