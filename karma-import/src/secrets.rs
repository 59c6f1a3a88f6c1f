//! Deciding what is a secret, and holding it as a digest only.

use karma_core::{Secret, SecretSalt, Value};

/// Whether an environment variable (or key) of this name conventionally
/// holds a credential: `POSTGRES_PASSWORD`, `API_TOKEN`, `AWS_SECRET_ACCESS_KEY`...
pub(crate) fn is_secret_name(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    ["PASSWORD", "PASSWD", "SECRET", "TOKEN", "PRIVATE_KEY", "API_KEY", "APIKEY", "CREDENTIAL", "FERNET_KEY"]
        .iter()
        .any(|m| upper.contains(m))
}

/// Whether `text` carries a password in a URL (`scheme://user:password@host`).
pub(crate) fn has_url_credentials(text: &str) -> bool {
    let Some(start) = text.find("://") else { return false };
    let rest = &text[start + 3..];
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    authority
        .rsplit_once('@')
        .is_some_and(|(userinfo, _)| userinfo.split_once(':').is_some_and(|(_, password)| !password.is_empty()))
}

/// The secret form of `plaintext`.
pub(crate) fn secret(salt: &SecretSalt, plaintext: impl AsRef<[u8]>) -> Value {
    Value::Secret(Box::new(Secret::with_salt(salt, plaintext)))
}

/// An environment value: a secret when its name or content says it is one.
pub(crate) fn env_value(salt: &SecretSalt, name: &str, text: &str, secrets: &mut usize) -> Value {
    if !text.is_empty() && (is_secret_name(name) || has_url_credentials(text)) {
        *secrets += 1;
        secret(salt, text)
    } else {
        Value::String(text.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_urls() {
        assert!(is_secret_name("POSTGRES_PASSWORD"));
        assert!(is_secret_name("aws_secret_access_key"));
        assert!(!is_secret_name("POSTGRES_USER"));
        assert!(has_url_credentials("postgresql+psycopg2://airflow:airflow@postgres/airflow"));
        assert!(!has_url_credentials("postgres://api@db:5432/orders"));
        assert!(!has_url_credentials("redis://redis:6379/0"));
        assert!(!has_url_credentials("redis://:@redis:6379/0"), "an empty password is no secret");
        assert!(!has_url_credentials("plain text: with @ signs"));
    }

    #[test]
    fn env_values_hide_credentials() {
        let salt = SecretSalt::default();
        let mut n = 0;
        let v = env_value(&salt, "DB_URL", "mysql://u:p4ss@db/x", &mut n);
        assert!(matches!(v, Value::Secret(_)));
        assert!(!format!("{v:?}").contains("p4ss"));
        assert_eq!(env_value(&salt, "HOST", "db", &mut n), Value::String("db".into()));
        assert_eq!(n, 1);
    }
}
