//! `ros config generate`: renders the subset of Go's text/template that configuration
//! templates use — `{{.NAME}}` lookups in a string map, `{{-`/`-}}` whitespace trimming and
//! `{{/* comments */}}`. Any other action is an error naming its line and column, rather than
//! output that silently differs from Go's.

use std::collections::HashMap;

/// A template that uses something outside the supported subset, or is malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("template:{line}:{col}: {message}")]
pub struct TemplateError {
    /// 1-based line of the action.
    pub line: usize,
    /// 1-based column of the action.
    pub col: usize,
    /// What is wrong.
    pub message: String,
}

/// Renders `template` with `vars`; a missing variable renders empty, as Go does for a
/// `map[string]string`.
pub fn render(template: &str, vars: &HashMap<String, String>) -> Result<String, TemplateError> {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    let mut offset = 0;
    while let Some(open) = rest.find("{{") {
        let (text, after_open) = rest.split_at(open);
        let error = |message: String| {
            let (line, col) = line_col(template, offset + open);
            TemplateError { line, col, message }
        };
        let close = after_open
            .find("}}")
            .ok_or_else(|| error("unclosed action".into()))?;
        let mut action = &after_open[2..close];
        let mut text = text;
        if let Some(a) = action.strip_prefix("- ") {
            action = a;
            text = text.trim_end();
        }
        out.push_str(text);
        let trim_after = action.ends_with(" -");
        if trim_after {
            action = &action[..action.len() - 2];
        }
        let action = action.trim();
        if action.starts_with("/*") && action.ends_with("*/") {
            // comment
        } else if let Some(name) = action.strip_prefix('.').filter(|n| is_identifier(n)) {
            out.push_str(vars.get(name).map_or("", String::as_str));
        } else {
            return Err(error(format!(
                "unsupported action `{{{{{action}}}}}`: only {{{{.NAME}}}} is supported"
            )));
        }
        let consumed = open + close + 2;
        offset += consumed;
        rest = &rest[consumed..];
        if trim_after {
            let trimmed = rest.trim_start();
            offset += rest.len() - trimmed.len();
            rest = trimmed;
        }
    }
    out.push_str(rest);
    Ok(out)
}

fn is_identifier(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn line_col(text: &str, byte: usize) -> (usize, usize) {
    let before = &text[..byte];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> HashMap<String, String> {
        HashMap::from([
            ("VERSION".into(), "v1".into()),
            ("ARCH".into(), "amd64".into()),
        ])
    }

    #[test]
    fn substitutes_variables_and_empties_missing_ones() {
        let out = render("image: os:{{.VERSION}}{{ .SUFFIX }}-{{.ARCH}}\n", &vars()).unwrap();
        assert_eq!(out, "image: os:v1-amd64\n");
    }

    #[test]
    fn trims_whitespace_and_drops_comments() {
        assert_eq!(
            render("a  {{- .ARCH -}}  \n b", &vars()).unwrap(),
            "aamd64b"
        );
        assert_eq!(render("x{{/* note */}}y", &vars()).unwrap(), "xy");
    }

    #[test]
    fn unsupported_actions_fail_with_position() {
        let e = render("a\n  {{if .ARCH}}x{{end}}", &vars()).unwrap_err();
        assert_eq!((e.line, e.col), (2, 3));
        assert!(
            e.message.contains("unsupported action `{{if .ARCH}}`"),
            "{e}"
        );
        let e = render("ok {{.ARCH", &vars()).unwrap_err();
        assert_eq!(e.to_string(), "template:1:4: unclosed action");
    }
}
