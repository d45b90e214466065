//! `-o` option lists, as `mount(8)` takes them: `ro,nosuid,idmap=0:1:2,...`.

use mountfd::Atime;

/// What `-o` (and the subcommands' flags) ask for.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct MountOptions {
    /// `ro` (`Some(true)`) or `rw` (`Some(false)`); `None` inherits.
    pub readonly: Option<bool>,
    pub nosuid: bool,
    pub nodev: bool,
    pub noexec: bool,
    pub nosymfollow: bool,
    pub nodiratime: bool,
    pub atime: Option<Atime>,
    /// `idmap=` values, in map text; joined with `--idmap` ones.
    pub idmaps: Vec<String>,
    /// `rbind` / `recursive`.
    pub recursive: bool,
    pub offset: Option<u64>,
    pub sizelimit: Option<u64>,
}

/// Whether `item` continues an `idmap=` value: an extent (`0:1:2`, `u:0:1`)
/// rather than an option name. An id map has commas of its own, so
/// `-o idmap=u:0:1000,g:0:1000,ro` splits as `idmap=u:0:1000,g:0:1000` and
/// `ro`: no option name starts with a digit or with `u:`, `g:` or `b:`.
fn continues_map(item: &str) -> bool {
    let rest = ["u:", "g:", "b:"]
        .iter()
        .find_map(|p| item.strip_prefix(p))
        .unwrap_or(item);
    rest.starts_with(|c: char| c.is_ascii_digit())
}

fn number(key: &str, value: &str) -> Result<u64, String> {
    value
        .parse()
        .map_err(|_| format!("-o {key}={value}: not a number of bytes"))
}

impl MountOptions {
    /// Parses every `-o` value. An unknown option is an error, not ignored:
    /// a typo in `nosuid` must not give a mount without it.
    pub fn parse(lists: &[String]) -> Result<Self, String> {
        let mut o = MountOptions::default();
        for list in lists {
            let mut items = list.split(',').peekable();
            while let Some(item) = items.next() {
                let (key, value) = match item.split_once('=') {
                    Some((k, v)) => (k, Some(v)),
                    None => (item, None),
                };
                match (key, value) {
                    ("", None) => {}
                    ("ro", None) => o.readonly = Some(true),
                    ("rw", None) => o.readonly = Some(false),
                    ("nosuid", None) => o.nosuid = true,
                    ("nodev", None) => o.nodev = true,
                    ("noexec", None) => o.noexec = true,
                    ("nosymfollow", None) => o.nosymfollow = true,
                    ("nodiratime", None) => o.nodiratime = true,
                    ("noatime", None) => o.atime = Some(Atime::None),
                    ("relatime", None) => o.atime = Some(Atime::Relative),
                    ("strictatime", None) => o.atime = Some(Atime::Strict),
                    ("rbind" | "recursive", None) => o.recursive = true,
                    ("bind" | "loop", None) => {}
                    ("idmap", Some(map)) => {
                        let mut map = map.to_owned();
                        while let Some(next) = items.next_if(|i| continues_map(i)) {
                            map.push(',');
                            map.push_str(next);
                        }
                        o.idmaps.push(map);
                    }
                    ("offset", Some(v)) => o.offset = Some(number(key, v)?),
                    ("sizelimit", Some(v)) => o.sizelimit = Some(number(key, v)?),
                    _ => {
                        return Err(format!(
                            "unknown mount option `{item}` (known: ro, rw, nosuid, nodev, \
                             noexec, nosymfollow, noatime, relatime, strictatime, nodiratime, \
                             idmap=MAP, rbind, bind, loop, offset=N, sizelimit=N)"
                        ))
                    }
                }
            }
        }
        Ok(o)
    }
}

/// Whether `text` is an id map in the `/proc/PID/uid_map` form
/// (`0 100000 65536`, columns separated by blanks), which the tool does not
/// take but can name.
pub fn looks_like_proc_map(text: &str) -> bool {
    text.split([',', '\n'])
        .filter(|l| !l.trim().is_empty())
        .all(|line| {
            let cols: Vec<&str> = line.split_whitespace().collect();
            cols.len() == 3 && cols.iter().all(|c| c.parse::<u32>().is_ok())
        })
        && text.split_whitespace().count() >= 3
}

/// The `/proc` form rewritten in the tool's: `0 100000 65536` to
/// `0:100000:65536`.
pub fn proc_map_to_colons(text: &str) -> String {
    text.split([',', '\n'])
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(":"))
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> MountOptions {
        MountOptions::parse(&[s.to_owned()]).unwrap()
    }

    #[test]
    fn an_idmap_keeps_its_commas_and_the_next_option_still_counts() {
        let o = parse("ro,idmap=u:0:1000:1,g:0:2000,5:6,nodev");
        assert_eq!(o.idmaps, ["u:0:1000:1,g:0:2000,5:6"]);
        assert_eq!(o.readonly, Some(true));
        assert!(o.nodev);
        assert!(!o.nosuid);
    }

    #[test]
    fn flags_atime_and_numbers() {
        let o = parse("rw,nosuid,noexec,noatime,offset=4096,sizelimit=8192,rbind");
        assert_eq!(o.readonly, Some(false));
        assert!(o.nosuid && o.noexec && o.recursive);
        assert_eq!(o.atime, Some(Atime::None));
        assert_eq!((o.offset, o.sizelimit), (Some(4096), Some(8192)));
    }

    #[test]
    fn unknown_options_and_bad_numbers_are_refused() {
        let e = MountOptions::parse(&["ro,nosiud".to_owned()]).unwrap_err();
        assert!(e.contains("`nosiud`"), "{e}");
        assert!(MountOptions::parse(&["offset=4k".to_owned()]).is_err());
        assert!(MountOptions::parse(&["ro=1".to_owned()]).is_err());
    }

    #[test]
    fn the_proc_form_is_recognised_and_rewritten() {
        assert!(looks_like_proc_map("0 100000 65536"));
        assert!(looks_like_proc_map("0 1000 1\n1 100000 65535"));
        assert_eq!(
            proc_map_to_colons("0 1000 1\n1 100000 65535"),
            "0:1000:1,1:100000:65535"
        );
        assert!(!looks_like_proc_map("0:100000:65536"));
        assert!(!looks_like_proc_map("0 100000"));
    }
}
