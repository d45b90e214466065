//! `Overlay::parse_lowerdir`, the parser behind `mountfd overlay --lower`:
//! any text gives layers or a typed error, never a panic; every layer it
//! returns is non-empty; and escaping those layers again (`:` and `\`
//! preceded by `\`) and joining them with `:` parses back to the same layers.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mountfd::{Error, Overlay};

fuzz_target!(|text: &str| {
    match Overlay::parse_lowerdir(text) {
        Ok(layers) => {
            assert!(!layers.is_empty());
            let mut again = String::new();
            for (i, layer) in layers.iter().enumerate() {
                let layer = layer.to_str().expect("parsed from UTF-8");
                assert!(!layer.is_empty(), "{text:?} gave an empty layer");
                if i > 0 {
                    again.push(':');
                }
                for c in layer.chars() {
                    if c == ':' || c == '\\' {
                        again.push('\\');
                    }
                    again.push(c);
                }
            }
            assert_eq!(Overlay::parse_lowerdir(&again).unwrap(), layers, "{text:?}");
        }
        Err(Error::InvalidInput { what: "lowerdir", .. }) => {}
        Err(other) => panic!("{text:?}: unexpected error {other}"),
    }
});
