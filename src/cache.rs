//! [`UserNsCache`]: one user namespace per distinct pair of id maps, shared.

use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::BuildHasher;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use crate::{IdMap, Result, UserNs};

/// A shared handle to a cached [`UserNs`].
///
/// Cloning it is a reference-count increment. It dereferences to
/// [`UserNs`], so it goes wherever a `&UserNs` does
/// ([`MountAttr::idmap`](crate::MountAttr::idmap),
/// [`DetachedMount::clone_tree_idmapped`](crate::DetachedMount::clone_tree_idmapped)),
/// and the namespace stays open for as long as any handle lives, whether or
/// not the cache still holds it.
pub type SharedUserNs = Arc<UserNs>;

/// A bounded, thread-safe cache of user namespaces keyed by their id maps.
///
/// Creating a user namespace costs a short-lived child process (about a
/// hundred microseconds); id-mapping a mount with one that exists costs
/// nothing extra. Callers that id-map many mounts with the same few maps,
/// such as a service manager starting services at boot, ask the cache
/// instead of [`UserNs::new`]: equal `(uid map, gid map)` pairs (equal as
/// [`IdMap`] values) share one namespace, handed out as [`SharedUserNs`]
/// handles.
///
/// # Policy
///
/// The cache holds at most [`capacity`](Self::capacity) namespaces. When a
/// new pair arrives and the cache is full, one entry is dropped from the
/// cache to make room:
///
/// 1. the least recently used entry that is *idle*—no handle to it exists
///    outside the cache—so its namespace is closed;
/// 2. if every entry is in use, the least recently used one. Its
///    namespace stays open for as long as its handles live; the cache merely
///    forgets it, and a later request for that pair makes a new namespace.
///
/// So the cache never keeps more than `capacity` namespaces (and fds) open
/// itself, whatever the callers do. [`purge_idle`](Self::purge_idle) closes
/// every idle namespace at once, for example after boot.
///
/// # Threads
///
/// All methods take `&self`; share the cache with an [`Arc`] or a `static`.
/// The lock is never held while a namespace is created: requests for
/// different pairs create theirs in parallel, and concurrent requests for
/// the same pair wait for the first one's namespace rather than each making
/// their own. A failed creation is not cached: the next waiter tries again.
///
/// # Examples
///
/// ```
/// # if !mountfd_testing::enter_private_mount_ns() { return Ok(()); }
/// # let dir = mountfd_testing::scratch_dir("cache-example");
/// # let (data, view) = (dir.join("data"), dir.join("view"));
/// # std::fs::create_dir_all(&data).unwrap(); std::fs::create_dir_all(&view).unwrap();
/// use std::sync::Arc;
/// use mountfd::{DetachedMount, IdMap, UserNsCache};
///
/// let cache = UserNsCache::new(16);
/// let map: IdMap = "0:100000:65536".parse()?;
///
/// let a = cache.get_idmap(&map)?;
/// let b = cache.get_idmap(&map)?;
/// assert!(Arc::ptr_eq(&a, &b), "one namespace for equal maps");
///
/// DetachedMount::clone_tree_idmapped(&data, false, &a)?.attach(&view)?;
/// # Ok::<(), mountfd::Error>(())
/// ```
pub struct UserNsCache {
    capacity: usize,
    hasher: RandomState,
    inner: Mutex<Inner>,
    /// Signalled whenever a pending entry becomes ready or is withdrawn.
    settled: Condvar,
}

struct Inner {
    entries: Vec<Entry>,
    /// Bumped on every use; an entry's `last_used` orders it for eviction.
    clock: u64,
    /// Distinguishes entries across removals, for the creator to find its own.
    next_id: u64,
}

struct Entry {
    id: u64,
    hash: u64,
    uid_map: IdMap,
    gid_map: IdMap,
    last_used: u64,
    /// `None` while the first requester creates the namespace.
    ns: Option<SharedUserNs>,
}

impl Entry {
    fn matches(&self, hash: u64, uid_map: &IdMap, gid_map: &IdMap) -> bool {
        self.hash == hash && self.uid_map == *uid_map && self.gid_map == *gid_map
    }

    fn is_idle(&self) -> bool {
        self.ns
            .as_ref()
            .is_some_and(|ns| Arc::strong_count(ns) == 1)
    }
}

impl UserNsCache {
    /// The capacity of [`UserNsCache::default`].
    pub const DEFAULT_CAPACITY: usize = 64;

    /// An empty cache that keeps at most `capacity` namespaces.
    ///
    /// A capacity of 0 caches nothing: every request creates a namespace.
    ///
    /// # Examples
    ///
    /// ```
    /// let cache = mountfd::UserNsCache::new(8);
    /// assert_eq!((cache.len(), cache.capacity()), (0, 8));
    /// ```
    #[must_use]
    pub fn new(capacity: usize) -> Self {
        UserNsCache {
            capacity,
            hasher: RandomState::new(),
            inner: Mutex::new(Inner {
                entries: Vec::with_capacity(capacity.min(1024)),
                clock: 0,
                next_id: 0,
            }),
            settled: Condvar::new(),
        }
    }

    /// The most namespaces the cache keeps.
    #[must_use]
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// How many namespaces the cache holds now (including any being created).
    #[must_use]
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    /// Whether the cache holds no namespace.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The shared user namespace with these maps, created on first use.
    ///
    /// A hit costs a lock, a hash of the maps and a reference-count
    /// increment: no allocation and no system call. A miss creates the
    /// namespace with [`UserNs::new`] outside the lock and may evict an
    /// entry (see the [policy](Self#policy)).
    ///
    /// # Errors
    ///
    /// As [`UserNs::new`]. A failed creation is not cached.
    ///
    /// # Examples
    ///
    /// ```
    /// # if !mountfd_testing::privileged() { return Ok(()); }
    /// use mountfd::{IdMap, UserNsCache};
    ///
    /// let cache = UserNsCache::default();
    /// let uids: IdMap = "0:100000:65536".parse()?;
    /// let gids: IdMap = "0:200000:65536".parse()?;
    /// let ns = cache.get(&uids, &gids)?;
    /// assert_eq!(cache.len(), 1);
    /// # drop(ns);
    /// # Ok::<(), mountfd::Error>(())
    /// ```
    pub fn get(&self, uid_map: &IdMap, gid_map: &IdMap) -> Result<SharedUserNs> {
        self.get_with(uid_map, gid_map, || UserNs::new(uid_map, gid_map))
    }

    /// [`get`](Self::get), creating a missing namespace with `create`.
    fn get_with(
        &self,
        uid_map: &IdMap,
        gid_map: &IdMap,
        create: impl FnOnce() -> Result<UserNs>,
    ) -> Result<SharedUserNs> {
        if self.capacity == 0 {
            return create().map(Arc::new);
        }
        let hash = self.hasher.hash_one((uid_map, gid_map));
        let mut inner = self.lock();
        let id = loop {
            match inner.find(hash, uid_map, gid_map) {
                Some(i) => {
                    if let Some(ns) = &inner.entries[i].ns {
                        let ns = Arc::clone(ns);
                        inner.touch(i);
                        return Ok(ns);
                    }
                    // Another thread is creating it: wait for its result.
                    inner = self
                        .settled
                        .wait(inner)
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                }
                None => match inner.reserve(self.capacity, hash, uid_map, gid_map) {
                    Some(id) => break id,
                    // Full of entries still being created: do without the cache.
                    None => {
                        drop(inner);
                        return create().map(Arc::new);
                    }
                },
            }
        };
        drop(inner);

        // Withdraws the reservation if creation fails or panics.
        let pending = Pending { cache: self, id };
        let ns = Arc::new(create()?);
        std::mem::forget(pending);

        let mut inner = self.lock();
        if let Some(entry) = inner.entries.iter_mut().find(|e| e.id == id) {
            entry.ns = Some(Arc::clone(&ns));
        }
        drop(inner);
        self.settled.notify_all();
        Ok(ns)
    }

    /// The shared user namespace with `map` for both uids and gids.
    ///
    /// # Errors
    ///
    /// As [`get`](Self::get).
    pub fn get_idmap(&self, map: &IdMap) -> Result<SharedUserNs> {
        self.get(map, map)
    }

    /// Drops every idle entry—one with no handle outside the cache—closing
    /// its namespace, and returns how many went.
    ///
    /// # Examples
    ///
    /// ```
    /// # if !mountfd_testing::privileged() { return Ok(()); }
    /// use mountfd::{IdMap, UserNsCache};
    ///
    /// let cache = UserNsCache::default();
    /// let kept = cache.get_idmap(&"0:100000:65536".parse::<IdMap>()?)?;
    /// drop(cache.get_idmap(&"0:200000:65536".parse::<IdMap>()?)?);
    /// assert_eq!(cache.purge_idle(), 1);
    /// assert_eq!(cache.len(), 1);
    /// # drop(kept);
    /// # Ok::<(), mountfd::Error>(())
    /// ```
    pub fn purge_idle(&self) -> usize {
        let mut inner = self.lock();
        let before = inner.entries.len();
        inner.entries.retain(|e| !e.is_idle());
        before - inner.entries.len()
    }

    /// Drops every entry that is not being created. Handles already given
    /// out stay valid.
    pub fn clear(&self) {
        self.lock().entries.retain(|e| e.ns.is_none());
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // The entries are consistent at every unlock, so a panic elsewhere
        // while holding the lock leaves nothing half-done.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Inner {
    fn find(&self, hash: u64, uid_map: &IdMap, gid_map: &IdMap) -> Option<usize> {
        self.entries
            .iter()
            .position(|e| e.matches(hash, uid_map, gid_map))
    }

    fn touch(&mut self, i: usize) {
        self.clock += 1;
        self.entries[i].last_used = self.clock;
    }

    /// Adds a pending entry, evicting one if the cache is full. `None` if
    /// every entry is pending, so none can go.
    fn reserve(
        &mut self,
        capacity: usize,
        hash: u64,
        uid_map: &IdMap,
        gid_map: &IdMap,
    ) -> Option<u64> {
        if self.entries.len() >= capacity {
            let victim = self.victim()?;
            // Dropping the entry drops the cache's handle (closing an idle
            // namespace) after the lock is released by the caller's scope;
            // closing an fd is cheap, so it is simply done here.
            self.entries.swap_remove(victim);
        }
        self.clock += 1;
        self.next_id += 1;
        self.entries.push(Entry {
            id: self.next_id,
            hash,
            uid_map: uid_map.clone(),
            gid_map: gid_map.clone(),
            last_used: self.clock,
            ns: None,
        });
        Some(self.next_id)
    }

    /// The entry to evict: the least recently used idle one, else the least
    /// recently used ready one.
    fn victim(&self) -> Option<usize> {
        let lru = |idle: bool| {
            self.entries
                .iter()
                .enumerate()
                .filter(|(_, e)| e.ns.is_some() && (!idle || e.is_idle()))
                .min_by_key(|(_, e)| e.last_used)
                .map(|(i, _)| i)
        };
        lru(true).or_else(|| lru(false))
    }
}

/// A reservation whose creation has not succeeded yet; dropping it
/// withdraws the entry and wakes the waiters, who then try themselves.
struct Pending<'a> {
    cache: &'a UserNsCache,
    id: u64,
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        let mut inner = self.cache.lock();
        inner.entries.retain(|e| e.id != self.id);
        drop(inner);
        self.cache.settled.notify_all();
    }
}

impl Default for UserNsCache {
    /// A cache of [`UserNsCache::DEFAULT_CAPACITY`] namespaces.
    fn default() -> Self {
        UserNsCache::new(UserNsCache::DEFAULT_CAPACITY)
    }
}

impl fmt::Debug for UserNsCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserNsCache")
            .field("capacity", &self.capacity)
            .field("len", &self.len())
            .finish_non_exhaustive()
    }
}

// Two attributes, not `cfg(all(test, ..))`: cargo-mutants recognises a
// test module by a plain `#[cfg(test)]` and would mutate it otherwise.
#[cfg(test)]
#[cfg(target_os = "linux")]
mod tests {
    use super::*;
    use std::os::fd::AsFd;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn map(s: &str) -> IdMap {
        s.parse().unwrap()
    }

    /// A real user namespace fd that needs no privilege: the caller's own.
    fn any_ns() -> Result<UserNs> {
        UserNs::open("/proc/self/ns/user")
    }

    /// Gets `m` from `cache`, counting creations in `made`.
    fn get(cache: &UserNsCache, m: &IdMap, made: &AtomicUsize) -> SharedUserNs {
        cache
            .get_with(m, m, || {
                made.fetch_add(1, Ordering::SeqCst);
                any_ns()
            })
            .unwrap()
    }

    #[test]
    fn capacity_len_and_is_empty_say_what_the_cache_holds() {
        let cache = UserNsCache::new(8);
        assert_eq!((cache.capacity(), cache.len()), (8, 0));
        assert!(cache.is_empty());
        assert_eq!(
            UserNsCache::default().capacity(),
            UserNsCache::DEFAULT_CAPACITY
        );
        let made = AtomicUsize::new(0);
        let kept = get(&cache, &map("0:100000:65536"), &made);
        assert_eq!(cache.len(), 1);
        assert!(!cache.is_empty());
        assert_eq!(
            format!("{cache:?}"),
            "UserNsCache { capacity: 8, len: 1, .. }"
        );
        drop(kept);
    }

    #[test]
    fn an_entry_matches_only_its_own_maps_even_on_a_hash_collision() {
        let (a, b) = (map("0:100000:65536"), map("0:200000:65536"));
        let entry = Entry {
            id: 1,
            hash: 7,
            uid_map: a.clone(),
            gid_map: b.clone(),
            last_used: 0,
            ns: None,
        };
        assert!(entry.matches(7, &a, &b));
        assert!(!entry.matches(8, &a, &b), "another hash");
        // The same hash with other maps (a collision) is another entry.
        assert!(!entry.matches(7, &b, &b));
        assert!(!entry.matches(7, &a, &a));
        assert!(!entry.matches(7, &b, &a));
    }

    #[test]
    fn each_creation_fills_its_own_entry() {
        let (cache, made) = (UserNsCache::new(4), AtomicUsize::new(0));
        let (a, b, c) = (map("0:100000:1"), map("0:200000:1"), map("0:300000:1"));
        // Each entry is ready once its creation returns (a pending one would
        // make the next request for it wait for ever).
        let ready = || cache.lock().entries.iter().all(|e| e.ns.is_some());
        let a1 = get(&cache, &a, &made);
        assert!(ready());
        let b1 = get(&cache, &b, &made);
        assert!(ready());
        let c1 = get(&cache, &c, &made);
        assert!(ready());
        assert!(Arc::ptr_eq(&get(&cache, &a, &made), &a1));
        assert!(Arc::ptr_eq(&get(&cache, &b, &made), &b1));
        assert!(Arc::ptr_eq(&get(&cache, &c, &made), &c1));
        assert_eq!(made.load(Ordering::SeqCst), 3);
    }

    #[test]
    fn entries_created_without_hits_are_evicted_oldest_first() {
        // Capacity 3, five maps, no hit in between: each insertion evicts
        // the oldest of those still there, whatever their order in the
        // entry list (an eviction moves the last entry into the gap).
        let (cache, made) = (UserNsCache::new(3), AtomicUsize::new(0));
        let m: Vec<IdMap> = (1..=5)
            .map(|i| map(&format!("0:{}:1", i * 100000)))
            .collect();
        for x in &m {
            drop(get(&cache, x, &made));
        }
        assert_eq!(made.load(Ordering::SeqCst), 5);
        // The three newest are hits, the two oldest are gone.
        for x in &m[2..] {
            drop(get(&cache, x, &made));
        }
        assert_eq!(made.load(Ordering::SeqCst), 5, "the newest three were kept");
        drop(get(&cache, &m[1], &made));
        assert_eq!(made.load(Ordering::SeqCst), 6, "the second was evicted");
    }

    #[test]
    fn equal_pairs_share_one_namespace() {
        let (cache, made) = (UserNsCache::new(4), AtomicUsize::new(0));
        let (a, b) = (map("0:100000:65536"), map("0:200000:65536"));
        let a1 = get(&cache, &a, &made);
        let a2 = get(&cache, &a.clone(), &made);
        let b1 = get(&cache, &b, &made);
        assert!(Arc::ptr_eq(&a1, &a2));
        assert!(!Arc::ptr_eq(&a1, &b1));
        assert_eq!(made.load(Ordering::SeqCst), 2);
        assert_eq!(cache.len(), 2);
        // The same uid map with another gid map is another pair.
        let mixed = cache.get_with(&a, &b, any_ns).unwrap();
        assert!(!Arc::ptr_eq(&mixed, &a1) && !Arc::ptr_eq(&mixed, &b1));
        assert_eq!(cache.len(), 3);
    }

    #[test]
    fn full_cache_evicts_least_recently_used_idle_entry_first() {
        let (cache, made) = (UserNsCache::new(2), AtomicUsize::new(0));
        let (a, b, c) = (map("0:1000:1"), map("0:2000:1"), map("0:3000:1"));
        let held_a = get(&cache, &a, &made); // least recently used, but in use
        drop(get(&cache, &b, &made)); // idle
        drop(get(&cache, &c, &made)); // evicts b, not a
        assert_eq!((cache.len(), made.load(Ordering::SeqCst)), (2, 3));
        assert!(Arc::ptr_eq(&held_a, &get(&cache, &a, &made)));
        drop(get(&cache, &c, &made));
        assert_eq!(made.load(Ordering::SeqCst), 3, "a and c stayed");
        drop(get(&cache, &b, &made));
        assert_eq!(made.load(Ordering::SeqCst), 4, "b was evicted");
    }

    #[test]
    fn a_hit_makes_an_entry_recently_used_so_the_older_insert_goes_first() {
        // Inserted a then b; a hit on a makes b the least recently used, so
        // a third pair evicts b although a was inserted first.
        let (cache, made) = (UserNsCache::new(2), AtomicUsize::new(0));
        let (a, b, c) = (map("0:1000:1"), map("0:2000:1"), map("0:3000:1"));
        drop(get(&cache, &a, &made));
        drop(get(&cache, &b, &made));
        drop(get(&cache, &a, &made)); // a hit: a is now the most recent
        drop(get(&cache, &c, &made)); // evicts b
        assert_eq!(made.load(Ordering::SeqCst), 3);
        drop(get(&cache, &a, &made));
        assert_eq!(made.load(Ordering::SeqCst), 3, "a stayed: it was used last");
        drop(get(&cache, &b, &made));
        assert_eq!(made.load(Ordering::SeqCst), 4, "b was evicted");
    }

    #[test]
    fn unequal_maps_never_share_a_namespace() {
        // The cache keys on IdMap equality: maps that differ in any extent,
        // or only in extent order, are different keys.
        let (cache, made) = (UserNsCache::new(8), AtomicUsize::new(0));
        let maps = [
            "0:100000:65536",
            "0:100000:65535",
            "1:100000:65536",
            "0:100001:65536",
            "0:1000:1,5:2000:1",
            "5:2000:1,0:1000:1",
        ]
        .map(map);
        for (i, x) in maps.iter().enumerate() {
            for (j, y) in maps.iter().enumerate() {
                assert_eq!(x == y, i == j, "{x} vs {y}");
            }
        }
        let handles: Vec<_> = maps.iter().map(|m| get(&cache, m, &made)).collect();
        assert_eq!(made.load(Ordering::SeqCst), maps.len());
        for (i, h) in handles.iter().enumerate() {
            for h2 in &handles[i + 1..] {
                assert!(!Arc::ptr_eq(h, h2));
            }
        }
    }

    #[test]
    fn full_cache_of_entries_in_use_forgets_the_least_recently_used() {
        let (cache, made) = (UserNsCache::new(2), AtomicUsize::new(0));
        let (a, b, c) = (map("0:1000:1"), map("0:2000:1"), map("0:3000:1"));
        let held_a = get(&cache, &a, &made);
        let held_b = get(&cache, &b, &made);
        let held_c = get(&cache, &c, &made);
        assert_eq!(cache.len(), 2);
        // a was forgotten but its handle still works.
        assert!(crate::userns::check_userns(held_a.as_fd()).is_ok());
        let new_a = get(&cache, &a, &made);
        assert!(!Arc::ptr_eq(&held_a, &new_a));
        assert_eq!(made.load(Ordering::SeqCst), 4);
        drop((held_b, held_c));
    }

    #[test]
    fn never_holds_more_than_capacity() {
        let (cache, made) = (UserNsCache::new(3), AtomicUsize::new(0));
        let mut held = Vec::new();
        for i in 0..20 {
            let h = get(&cache, &IdMap::single(0, 1000 + i, 1).unwrap(), &made);
            if i % 2 == 0 {
                held.push(h);
            }
            assert!(cache.len() <= 3);
        }
        assert_eq!(made.load(Ordering::SeqCst), 20);
    }

    #[test]
    fn failures_are_not_cached() {
        let cache = UserNsCache::new(2);
        let m = map("0:1000:1");
        let err = cache
            .get_with(&m, &m, || {
                Err(crate::Error::os(crate::Op::CloneUserNs, libc::ENOSPC))
            })
            .unwrap_err();
        assert_eq!(err.errno(), Some(libc::ENOSPC));
        assert!(cache.is_empty());
        let made = AtomicUsize::new(0);
        get(&cache, &m, &made);
        assert_eq!(made.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn a_panicking_creation_withdraws_its_reservation() {
        let cache = UserNsCache::new(2);
        let m = map("0:1000:1");
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            cache.get_with(&m, &m, || panic!("boom")).ok();
        }));
        assert!(r.is_err());
        assert!(cache.is_empty());
        get(&cache, &m, &AtomicUsize::new(0));
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn zero_capacity_caches_nothing() {
        let (cache, made) = (UserNsCache::new(0), AtomicUsize::new(0));
        let m = map("0:1000:1");
        let (x, y) = (get(&cache, &m, &made), get(&cache, &m, &made));
        assert!(!Arc::ptr_eq(&x, &y));
        assert_eq!((cache.len(), made.load(Ordering::SeqCst)), (0, 2));
    }

    #[test]
    fn purge_idle_and_clear() {
        let (cache, made) = (UserNsCache::new(8), AtomicUsize::new(0));
        let kept = get(&cache, &map("0:1000:1"), &made);
        drop(get(&cache, &map("0:2000:1"), &made));
        drop(get(&cache, &map("0:3000:1"), &made));
        assert_eq!(cache.purge_idle(), 2);
        assert_eq!(cache.len(), 1);
        cache.clear();
        assert!(cache.is_empty());
        assert!(crate::userns::check_userns(kept.as_fd()).is_ok());
    }

    #[test]
    fn concurrent_requests_for_one_pair_create_it_once() {
        let cache = UserNsCache::new(4);
        let made = AtomicUsize::new(0);
        let m = map("0:100000:65536");
        let barrier = std::sync::Barrier::new(8);
        let handles: Vec<SharedUserNs> = std::thread::scope(|s| {
            let workers: Vec<_> = (0..8)
                .map(|_| {
                    s.spawn(|| {
                        barrier.wait();
                        cache
                            .get_with(&m, &m, || {
                                made.fetch_add(1, Ordering::SeqCst);
                                std::thread::sleep(std::time::Duration::from_millis(50));
                                any_ns()
                            })
                            .unwrap()
                    })
                })
                .collect();
            workers.into_iter().map(|w| w.join().unwrap()).collect()
        });
        assert_eq!(made.load(Ordering::SeqCst), 1);
        assert!(handles.iter().all(|h| Arc::ptr_eq(h, &handles[0])));
    }

    #[test]
    fn is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<UserNsCache>();
        check::<SharedUserNs>();
    }
}
