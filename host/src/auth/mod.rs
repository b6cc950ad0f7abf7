//! Callers (SPEC S6): who sent a request, and whether they may call an ingress.
//!
//! A caller presents `Authorization: Bearer <token>`. The token is either
//! - one of the **static tokens** listed (by SHA-256 hash, never in clear) in the tokens file,
//!   for small setups; or
//! - a **JWT** signed with one of the configured keys (HS256 secret, RS256 or ES256 public
//!   key). Its `exp` is required, `nbf` honoured, and `aud`/`iss` checked when configured.
//!   Each key verifies only its own algorithm, so a token cannot pick a weaker one.
//!
//! Either way the caller gets permissions (a JWT's `scope` claim, space-separated) in the
//! same `<resource path>:<action>` form as an ingress `acl`, with `*` as a whole action or a
//! whole path segment. Calling an ingress needs `ingresses/<ingress id>:http`, unless the
//! ingress `isPublic`.
//!
//! ```yaml
//! # sluice.yaml
//! auth:
//!   issuer: https://login.example.com/     # optional: tokens must carry this `iss`
//!   audience: sluice                       # optional: tokens must carry this `aud`
//!   leewaySeconds: 60                      # clock skew allowed on exp/nbf
//!   keys:
//!     - { algorithm: HS256, secretFile: secrets/jwt.key }
//!     - { algorithm: RS256, publicKeyFile: keys/login.pem, kid: login-2026 }
//!     - { algorithm: ES256, publicKeyFile: keys/edge.pem }
//!   tokensFile: tokens.yaml                # static tokens, see `StaticToken`
//! ```

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use http::HeaderMap;
use http::header::AUTHORIZATION;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::capabilities::acl::{Acl, Permission};

#[cfg(test)]
mod tests;

/// The `auth` section of `sluice.yaml`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AuthConfig {
    #[serde(default)]
    pub issuer: Option<String>,
    #[serde(default)]
    pub audience: Option<String>,
    #[serde(default = "default_leeway")]
    pub leeway_seconds: u64,
    #[serde(default)]
    pub keys: Vec<KeyConfig>,
    /// Static tokens, relative to the deploy directory.
    #[serde(default)]
    pub tokens_file: Option<PathBuf>,
}

fn default_leeway() -> u64 {
    60
}

/// One JWT verification key. Files are relative to the deploy directory.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, tag = "algorithm")]
pub enum KeyConfig {
    /// A shared secret: the file's bytes, without trailing whitespace.
    #[serde(rename = "HS256", rename_all = "camelCase")]
    Hs256 {
        secret_file: PathBuf,
        #[serde(default)]
        kid: Option<String>,
    },
    /// An RSA public key, PEM.
    #[serde(rename = "RS256", rename_all = "camelCase")]
    Rs256 {
        public_key_file: PathBuf,
        #[serde(default)]
        kid: Option<String>,
    },
    /// A P-256 public key, PEM.
    #[serde(rename = "ES256", rename_all = "camelCase")]
    Es256 {
        public_key_file: PathBuf,
        #[serde(default)]
        kid: Option<String>,
    },
}

/// One entry of the static tokens file, a YAML list:
///
/// ```yaml
/// - sha256: 5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8
///   subject: deploy-bot
///   scope: ingresses/api/skus/stock-events:http actors/sku:*
/// ```
///
/// `sluice token` makes a fresh token and prints its entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaticToken {
    /// Lower-case hex SHA-256 of the token.
    pub sha256: String,
    pub subject: String,
    #[serde(default)]
    pub scope: String,
}

/// Why the auth configuration cannot be used; the host refuses to start.
#[derive(Debug, thiserror::Error)]
pub enum AuthSetupError {
    #[error("{file}: {reason}")]
    File { file: String, reason: String },
}

impl AuthSetupError {
    fn file(path: &Path, reason: impl ToString) -> Self {
        Self::File {
            file: path.display().to_string(),
            reason: reason.to_string(),
        }
    }
}

/// Why a presented token was not accepted. The message goes to the client, so it says what
/// is wrong with the token and nothing about the keys.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// No `Authorization: Bearer …` header.
    #[error("a bearer token is required")]
    Missing,
    #[error("{0}")]
    InvalidToken(&'static str),
}

/// The holder of a valid token.
#[derive(Debug, Clone, PartialEq)]
pub struct Caller {
    pub subject: Option<String>,
    /// The scope entries as written, for the component.
    pub permissions: Vec<String>,
    /// The entries that are permissions (`<path>:<action>`); others, such as OpenID's
    /// `profile`, grant nothing here.
    grants: Acl,
}

impl Caller {
    fn new(subject: Option<String>, permissions: Vec<String>) -> Self {
        let grants = permissions
            .iter()
            .filter_map(|entry| entry.parse::<Permission>().ok())
            .collect();
        Self {
            subject,
            permissions,
            grants,
        }
    }

    /// May this caller call the ingress `ingress_id`?
    pub fn may_call(&self, ingress_id: &str) -> bool {
        self.grants
            .allows(&ingress_resource(ingress_id), INGRESS_ACTION)
    }
}

/// The permission that calling `ingress_id` needs, e.g. `ingresses/api/orders:http`.
pub fn ingress_permission(ingress_id: &str) -> String {
    format!("{}:{INGRESS_ACTION}", ingress_resource(ingress_id))
}

fn ingress_resource(ingress_id: &str) -> String {
    format!("ingresses/{ingress_id}")
}

const INGRESS_ACTION: &str = "http";

/// A JWT key ready to verify, with the validation rules for its algorithm.
struct JwtKey {
    kid: Option<String>,
    key: DecodingKey,
    validation: Validation,
}

/// Checks bearer tokens. With nothing configured, no token is valid: non-public ingresses
/// then answer 401 to everyone.
#[derive(Default)]
pub struct Authenticator {
    jwt_keys: Vec<JwtKey>,
    static_tokens: HashMap<[u8; 32], StaticToken>,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("jwt_keys", &self.jwt_keys.len())
            .field("static_tokens", &self.static_tokens.len())
            .finish()
    }
}

impl Authenticator {
    /// Read the keys and tokens that `config` names, relative to `dir`.
    pub fn load(config: &AuthConfig, dir: &Path) -> Result<Self, AuthSetupError> {
        let jwt_keys = config
            .keys
            .iter()
            .map(|key| load_key(key, config, dir))
            .collect::<Result<_, _>>()?;
        let static_tokens = match &config.tokens_file {
            Some(file) => load_static_tokens(&dir.join(file))?,
            None => HashMap::new(),
        };
        Ok(Self {
            jwt_keys,
            static_tokens,
        })
    }

    /// Who sent `headers`: `Ok(None)` when they carry no bearer token.
    pub fn authenticate(&self, headers: &HeaderMap) -> Result<Option<Caller>, Rejection> {
        let Some(token) = bearer_token(headers)? else {
            return Ok(None);
        };
        if let Some(entry) = self.static_tokens.get(&sha256(token)) {
            let permissions = entry.scope.split_whitespace().map(str::to_owned).collect();
            return Ok(Some(Caller::new(Some(entry.subject.clone()), permissions)));
        }
        self.verify_jwt(token).map(Some)
    }

    fn verify_jwt(&self, token: &str) -> Result<Caller, Rejection> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| Rejection::InvalidToken("the token is neither a known token nor a JWT"))?;
        let mut candidates = self
            .jwt_keys
            .iter()
            .filter(|key| key.validation.algorithms == [header.alg])
            .filter(|key| match (&key.kid, &header.kid) {
                (Some(want), Some(have)) => want == have,
                _ => true,
            })
            .peekable();
        if candidates.peek().is_none() {
            return Err(Rejection::InvalidToken(
                "no key here verifies this token's algorithm",
            ));
        }
        // Several keys may share an algorithm (key rotation): the first whose signature
        // verifies decides; claims are checked only after the signature.
        let mut rejection = Rejection::InvalidToken("the signature does not verify");
        for key in candidates {
            match jsonwebtoken::decode::<Claims>(token, &key.key, &key.validation) {
                Ok(data) => return data.claims.into_caller(),
                Err(err) if matches!(err.kind(), ErrorKind::InvalidSignature) => continue,
                Err(err) => {
                    rejection = Rejection::InvalidToken(reason(err.kind()));
                    break;
                }
            }
        }
        Err(rejection)
    }
}

/// The claims a caller's JWT may carry beyond the registered ones checked by `Validation`.
#[derive(Deserialize)]
struct Claims {
    #[serde(default)]
    sub: Option<String>,
    #[serde(default)]
    scope: Option<serde_json::Value>,
}

impl Claims {
    fn into_caller(self) -> Result<Caller, Rejection> {
        // The `scope` of RFC 8693 is one space-separated string; some issuers send a list.
        let permissions = match self.scope {
            None => Vec::new(),
            Some(serde_json::Value::String(scope)) => {
                scope.split_whitespace().map(str::to_owned).collect()
            }
            Some(serde_json::Value::Array(entries)) => entries
                .into_iter()
                .map(|entry| match entry {
                    serde_json::Value::String(entry) => Ok(entry),
                    _ => Err(Rejection::InvalidToken("the scope claim is not a string")),
                })
                .collect::<Result<_, _>>()?,
            Some(_) => return Err(Rejection::InvalidToken("the scope claim is not a string")),
        };
        Ok(Caller::new(self.sub, permissions))
    }
}

/// The token of `Authorization: Bearer <token>`; `None` when there is no such header or it
/// uses another scheme (which then counts as no credentials).
fn bearer_token(headers: &HeaderMap) -> Result<Option<&str>, Rejection> {
    let Some(value) = headers.get(AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value
        .to_str()
        .map_err(|_| Rejection::InvalidToken("the Authorization header is not ASCII"))?;
    let Some((scheme, token)) = value.trim().split_once(' ') else {
        return Ok(None);
    };
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Ok(None);
    }
    let token = token.trim_start_matches(' ');
    // RFC 6750's token68: letters, digits and `-._~+/`, then optional `=` padding.
    let body = token.trim_end_matches('=');
    let well_formed = !body.is_empty()
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b));
    if !well_formed {
        return Err(Rejection::InvalidToken("the bearer token is malformed"));
    }
    Ok(Some(token))
}

fn reason(kind: &ErrorKind) -> &'static str {
    match kind {
        ErrorKind::ExpiredSignature => "the token has expired",
        ErrorKind::ImmatureSignature => "the token is not valid yet",
        ErrorKind::InvalidAudience => "the token is meant for another audience",
        ErrorKind::InvalidIssuer => "the token is from another issuer",
        ErrorKind::MissingRequiredClaim(claim) => match claim.as_str() {
            "exp" => "the token has no exp claim",
            "aud" => "the token has no aud claim",
            "iss" => "the token has no iss claim",
            _ => "the token lacks a required claim",
        },
        ErrorKind::InvalidSignature => "the signature does not verify",
        ErrorKind::InvalidAlgorithm => "the token's algorithm is not accepted",
        _ => "the token is malformed",
    }
}

fn load_key(key: &KeyConfig, config: &AuthConfig, dir: &Path) -> Result<JwtKey, AuthSetupError> {
    let (algorithm, file, kid) = match key {
        KeyConfig::Hs256 { secret_file, kid } => (Algorithm::HS256, secret_file, kid),
        KeyConfig::Rs256 {
            public_key_file,
            kid,
        } => (Algorithm::RS256, public_key_file, kid),
        KeyConfig::Es256 {
            public_key_file,
            kid,
        } => (Algorithm::ES256, public_key_file, kid),
    };
    let path = dir.join(file);
    let bytes = std::fs::read(&path).map_err(|err| AuthSetupError::file(&path, err))?;
    let decoding_key = match algorithm {
        Algorithm::HS256 => {
            let secret = bytes.trim_ascii_end();
            if secret.len() < 32 {
                return Err(AuthSetupError::file(
                    &path,
                    "an HS256 secret needs at least 32 bytes",
                ));
            }
            DecodingKey::from_secret(secret)
        }
        Algorithm::RS256 => DecodingKey::from_rsa_pem(&bytes)
            .map_err(|err| AuthSetupError::file(&path, format!("not an RSA public key: {err}")))?,
        _ => DecodingKey::from_ec_pem(&bytes)
            .map_err(|err| AuthSetupError::file(&path, format!("not an EC public key: {err}")))?,
    };
    let mut validation = Validation::new(algorithm);
    validation.leeway = config.leeway_seconds;
    // Off by default in jsonwebtoken; a token that is not valid yet is not valid.
    validation.validate_nbf = true;
    match &config.audience {
        Some(audience) => {
            validation.set_audience(&[audience]);
            validation.set_required_spec_claims(&["exp", "aud"]);
        }
        None => validation.validate_aud = false,
    }
    if let Some(issuer) = &config.issuer {
        validation.set_issuer(&[issuer]);
    }
    Ok(JwtKey {
        kid: kid.clone(),
        key: decoding_key,
        validation,
    })
}

fn load_static_tokens(path: &Path) -> Result<HashMap<[u8; 32], StaticToken>, AuthSetupError> {
    let text = std::fs::read_to_string(path).map_err(|err| AuthSetupError::file(path, err))?;
    let entries: Vec<StaticToken> = if text.trim().is_empty() {
        Vec::new()
    } else {
        serde_norway::from_str(&text).map_err(|err| AuthSetupError::file(path, err))?
    };
    let mut tokens = HashMap::with_capacity(entries.len());
    for (index, entry) in entries.into_iter().enumerate() {
        let hash = parse_sha256(&entry.sha256).ok_or_else(|| {
            AuthSetupError::file(
                path,
                format!("entry {index}: sha256 must be 64 hex digits (the token's SHA-256)"),
            )
        })?;
        if tokens.insert(hash, entry).is_some() {
            return Err(AuthSetupError::file(
                path,
                format!("entry {index}: the same token is listed twice"),
            ));
        }
    }
    Ok(tokens)
}

/// The SHA-256 of a token, as the tokens file lists it.
pub fn sha256(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Lower-case hex, as the tokens file writes hashes.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

fn parse_sha256(text: &str) -> Option<[u8; 32]> {
    if text.len() != 64 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let mut hash = [0; 32];
    for (byte, pair) in hash.iter_mut().zip(text.as_bytes().chunks(2)) {
        let pair = std::str::from_utf8(pair).ok()?;
        *byte = u8::from_str_radix(pair, 16).ok()?;
    }
    Some(hash)
}
