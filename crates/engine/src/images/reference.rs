//! Image references as users type them (`busybox`, `busybox:1.36`, `docker.io/library/x`,
//! `localhost:5000/a/b:t`, `name@sha256:…`), normalised the way the Docker CLI shows them.

use crate::error::ApiError;

/// A repository and tag in their familiar form: `busybox:latest`, `localhost:5000/x:1`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Reference {
    /// Repository without the default registry's prefixes.
    pub repository: String,
    /// Tag, `latest` when none was given.
    pub tag: String,
}

impl Reference {
    /// Parses `text`, refusing what Docker refuses (upper case, empty parts, bad tags).
    pub fn parse(text: &str) -> Result<Self, ApiError> {
        let invalid =
            |why: &str| ApiError::bad_request(format!("invalid reference format: {text:?} {why}"));
        if text.is_empty() {
            return Err(invalid("is empty"));
        }
        if text.contains('@') {
            return Err(invalid("is a digest reference; this engine tags by name"));
        }
        let last_slash = text.rfind('/').map_or(0, |i| i + 1);
        let (repository, tag) = match text[last_slash..].rfind(':') {
            Some(colon) => (&text[..last_slash + colon], &text[last_slash + colon + 1..]),
            None => (text, "latest"),
        };
        if tag.is_empty()
            || tag.len() > 128
            || !tag
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
            || tag.starts_with(['.', '-'])
        {
            return Err(invalid("has an invalid tag"));
        }
        let repository = familiar(repository);
        let path = repository
            .split_once('/')
            .filter(|(host, _)| host.contains(['.', ':']) || *host == "localhost")
            .map_or(repository.as_str(), |(_, path)| path);
        let valid_path = path.split('/').all(|part| {
            !part.is_empty()
                && part
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c))
                && !part.starts_with(['.', '_', '-'])
                && !part.ends_with(['.', '_', '-'])
        });
        if !valid_path {
            return Err(invalid(
                "must be lowercase letters, digits and separators (. _ -)",
            ));
        }
        Ok(Self {
            repository,
            tag: tag.to_owned(),
        })
    }
}

impl std::fmt::Display for Reference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.repository, self.tag)
    }
}

fn familiar(repository: &str) -> String {
    let short = repository
        .strip_prefix("docker.io/")
        .or_else(|| repository.strip_prefix("index.docker.io/"))
        .unwrap_or(repository);
    short.strip_prefix("library/").unwrap_or(short).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> String {
        Reference::parse(text).map_or_else(|e| e.message, |r| r.to_string())
    }

    #[test]
    fn names_normalise_to_the_familiar_form() {
        assert_eq!(parse("busybox"), "busybox:latest");
        assert_eq!(parse("docker.io/library/busybox:1.36"), "busybox:1.36");
        assert_eq!(parse("rancher/os-console:v1"), "rancher/os-console:v1");
        assert_eq!(parse("localhost:5000/a/b"), "localhost:5000/a/b:latest");
        assert_eq!(parse("localhost:5000/a/b:t"), "localhost:5000/a/b:t");
    }

    #[test]
    fn malformed_names_are_refused_with_the_reason() {
        assert!(
            parse("Busybox").contains("lowercase"),
            "{}",
            parse("Busybox")
        );
        assert!(parse("busybox:").contains("invalid tag"));
        assert!(parse("a//b").contains("lowercase"));
        assert!(parse("").contains("empty"));
        assert!(parse("a@sha256:00").contains("digest"));
    }
}
