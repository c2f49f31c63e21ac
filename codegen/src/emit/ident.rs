//! Turning names from a spec into Rust identifiers that cannot be invalid or
//! inject code: only `[a-z0-9_]` survive, a fixed prefix makes the result
//! start with a letter and never a keyword, a step index makes it unique, and
//! the length is bounded. Names meant for humans go into string literals,
//! which `proc_macro2::Literal::string` escapes.

use proc_macro2::{Ident, Span};

/// Longest part of a name kept in an identifier.
pub const MAX_NAME_CHARS: usize = 48;

/// `step_<index>_<sanitised name>`, e.g. `step_3_block2_sepconv1_block2_sepconv1_bn`.
pub fn step_ident(index: usize, name: &str) -> Ident {
    let mut s = format!("step_{index}");
    let mut last_us = false;
    let mut kept = 0;
    for ch in name.chars() {
        if kept == MAX_NAME_CHARS {
            break;
        }
        let c = if ch.is_ascii_alphanumeric() {
            ch.to_ascii_lowercase()
        } else {
            '_'
        };
        if c == '_' {
            if last_us {
                continue;
            }
            last_us = true;
        } else {
            if kept == 0 {
                s.push('_');
            }
            last_us = false;
        }
        if kept > 0 || c != '_' {
            s.push(c);
            kept += 1;
        }
    }
    while s.ends_with('_') {
        s.pop();
    }
    Ident::new(&s, Span::call_site())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid_ident(s: &str) -> bool {
        syn::parse_str::<syn::Ident>(s).is_ok()
    }

    #[test]
    fn hostile_names_become_safe_identifiers() {
        let long = "x".repeat(10_000);
        let names = [
            "block1_conv1",
            "\"); std::process::exit(1); (\"",
            "a::b",
            "fn",
            "self",
            "Self",
            "",
            "___",
            "1abc",
            "ünïcödé層",
            "r#type",
            "/* */ // \n",
            long.as_str(),
        ];
        for (i, n) in names.iter().enumerate() {
            let id = step_ident(i, n).to_string();
            assert!(valid_ident(&id), "{id:?} from {n:?}");
            assert!(id.starts_with(&format!("step_{i}")), "{id}");
            assert!(id.len() <= "step_".len() + 20 + 1 + MAX_NAME_CHARS, "{id}");
            assert!(id
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'));
        }
        assert_eq!(
            step_ident(0, "block1_conv1").to_string(),
            "step_0_block1_conv1"
        );
        assert_eq!(step_ident(7, "a::b").to_string(), "step_7_a_b");
        assert_eq!(step_ident(2, "").to_string(), "step_2");
    }
}
