//! Deribit session logic shared by the md and order connections (dossier §2, §3): how we log
//! in (`public/auth` with `client_signature` or `client_credentials`), when we refresh the
//! token (`grant_type: refresh_token`, before expiry), and the keep-alive
//! (`public/set_heartbeat`; every `test_request` is answered with `public/test` by the
//! connection loops).
//!
//! Pure logic, no IO: [`AuthState`] builds request frames and digests replies; the loops in
//! [`super::feed`] and [`super::gateway`] send them. The life cycle of one connection:
//!
//! ```text
//! connect → auth (signature | credentials) → [order conn: enable_cancel_on_disconnect]
//!         → set_heartbeat → subscribe → running ⇄ (refresh due → refresh_token request)
//!         → disconnected (reconnect goes here: a new connection starts again at `auth`)
//! ```
//!
//! Secrets (`client_secret`, access and refresh tokens) are never logged: [`Credentials`]'s
//! `Debug` prints the id only, and [`AuthState`] has no `Debug`.

use super::encode::Encoder;
use super::private::{decode_private, PrivateMsg, RpcResult};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::str::FromStr;

/// Default keep-alive interval asked with `public/set_heartbeat`, seconds (Deribit's minimum
/// is 10, dossier §3.1).
pub const DEFAULT_HEARTBEAT_SECS: u64 = 10;

/// How `public/auth` proves the API key (dossier §2.1, §2.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum AuthMethod {
    /// `client_signature`: HMAC-SHA256 of `timestamp\nnonce\ndata` with the secret; the secret
    /// never goes on the wire (the default).
    #[default]
    Signature,
    /// `client_credentials`: the secret is sent as is (over TLS).
    Credentials,
}

impl FromStr for AuthMethod {
    type Err = String;

    /// `signature` or `credentials`.
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "signature" | "client_signature" => Ok(AuthMethod::Signature),
            "credentials" | "client_credentials" => Ok(AuthMethod::Credentials),
            _ => Err(format!(
                "bad auth method {s:?}: expected `signature` or `credentials`"
            )),
        }
    }
}

/// An API key: `client_id` and `client_secret` (`DERIBIT_CLIENT_ID` / `DERIBIT_CLIENT_SECRET`,
/// `--client-id` / `--client-secret`), and how to log in with it.
#[derive(Clone)]
pub struct Credentials {
    /// API key id.
    pub client_id: String,
    /// API key secret; never logged (the `Debug` impl omits it).
    pub client_secret: String,
    /// Login method.
    pub method: AuthMethod,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("method", &self.method)
            .finish()
    }
}

/// `hex(HMAC_SHA256(secret, timestamp + "\n" + nonce + "\n" + data))`, lowercase: the
/// `signature` of `public/auth` `client_signature` (dossier §2.2; `timestamp` in ms since the
/// epoch, valid 60 s; `data` may be empty, the two newlines are always there).
pub fn client_signature(secret: &str, timestamp_ms: u64, nonce: &str, data: &str) -> String {
    // HMAC accepts keys of any length: `new_from_slice` cannot fail for it.
    let mut mac = match <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()) {
        Ok(m) => m,
        Err(_) => unreachable!("HMAC takes keys of any length"),
    };
    mac.update(timestamp_ms.to_string().as_bytes());
    mac.update(b"\n");
    mac.update(nonce.as_bytes());
    mac.update(b"\n");
    mac.update(data.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// Constant-time check of a `client_signature` (the simulator's side of §2.2).
pub fn verify_client_signature(
    secret: &str,
    timestamp_ms: u64,
    nonce: &str,
    data: &str,
    signature_hex: &str,
) -> bool {
    let Ok(sig) = hex::decode(signature_hex) else {
        return false;
    };
    let mut mac = match <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()) {
        Ok(m) => m,
        Err(_) => return false,
    };
    mac.update(timestamp_ms.to_string().as_bytes());
    mac.update(b"\n");
    mac.update(nonce.as_bytes());
    mac.update(b"\n");
    mac.update(data.as_bytes());
    mac.verify_slice(&sig).is_ok()
}

/// Wall clock, ms since the epoch (the `timestamp` of a signature).
pub fn wall_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// A fresh single-use nonce (dossier §2.2: "a single-use client-generated string"): 16 hex
/// characters from the wall clock, the process id and a per-process counter.
pub fn nonce() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static CTR: AtomicU64 = AtomicU64::new(0);
    let n = CTR.fetch_add(1, Ordering::Relaxed);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let mut x = t ^ (u64::from(std::process::id()) << 32) ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    // splitmix64 finaliser: spreads the bits
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^= x >> 31;
    format!("{x:016x}")
}

/// When to refresh a token that lives `expires_in_s` seconds: at three quarters of its life,
/// and at least 60 s before expiry when the life is long enough for that. Returns seconds
/// after issue.
pub fn refresh_after_s(expires_in_s: u64) -> f64 {
    let three_q = expires_in_s as f64 * 0.75;
    if expires_in_s > 240 {
        three_q.min(expires_in_s as f64 - 60.0)
    } else {
        three_q
    }
}

/// The login state of one connection: the tokens the venue gave, when to refresh them, and the
/// id of an outstanding refresh request.
pub struct AuthState {
    creds: Credentials,
    access_token: String,
    refresh_token: String,
    /// Monotonic ns at which the token is refreshed (0 = not logged in).
    refresh_at_ns: u64,
    /// Monotonic ns at which the token expires.
    expires_at_ns: u64,
    /// Request id of the refresh in flight.
    pending: Option<u64>,
    /// Refreshes completed.
    pub refreshes: u64,
    /// Refresh requests refused by the venue (the connection keeps its `connection`-scoped
    /// login until the token expires).
    pub refresh_errors: u64,
}

impl AuthState {
    /// Not logged in yet.
    pub fn new(creds: Credentials) -> Self {
        AuthState {
            creds,
            access_token: String::new(),
            refresh_token: String::new(),
            refresh_at_ns: 0,
            expires_at_ns: 0,
            pending: None,
            refreshes: 0,
            refresh_errors: 0,
        }
    }

    /// The `public/auth` login frame (method per [`Credentials::method`]) with request `id`.
    /// For a signature: `timestamp` = now (wall ms), a fresh nonce, empty `data`. Contains the
    /// secret or a signature: never log it.
    pub fn login_frame<'e>(&self, enc: &'e mut Encoder, id: u64) -> &'e str {
        match self.creds.method {
            AuthMethod::Credentials => {
                enc.auth_client_credentials(id, &self.creds.client_id, &self.creds.client_secret)
            }
            AuthMethod::Signature => {
                let ts = wall_ms();
                let n = nonce();
                let sig = client_signature(&self.creds.client_secret, ts, &n, "");
                enc.auth_client_signature(id, &self.creds.client_id, ts, &n, "", &sig)
            }
        }
    }

    /// Takes a successful `public/auth` reply (`frame`, received at monotonic `now_ns`):
    /// stores the tokens and schedules the refresh ([`refresh_after_s`]).
    ///
    /// # Errors
    /// The frame is not a successful auth reply (an error reply names the venue's code).
    pub fn on_auth_reply(&mut self, frame: &[u8], now_ns: u64) -> Result<(), String> {
        match decode_private(frame) {
            Ok(PrivateMsg::RpcOk {
                result:
                    RpcResult::Auth {
                        access_token,
                        expires_in,
                        refresh_token,
                    },
                ..
            }) => {
                self.access_token.clear();
                self.access_token.push_str(access_token);
                self.refresh_token.clear();
                self.refresh_token.push_str(refresh_token);
                let after = (refresh_after_s(expires_in) * 1e9) as u64;
                self.refresh_at_ns = now_ns.saturating_add(after.max(1));
                self.expires_at_ns =
                    now_ns.saturating_add(expires_in.saturating_mul(1_000_000_000));
                Ok(())
            }
            Ok(PrivateMsg::RpcErr { code, message, .. }) => {
                Err(format!("venue error {code}: {message}"))
            }
            Ok(_) => Err("not an auth reply".into()),
            Err(e) => Err(format!("undecodable auth reply: {e}")),
        }
    }

    /// Whether a refresh should be sent now (logged in, due, none in flight).
    #[inline]
    pub fn refresh_due(&self, now_ns: u64) -> bool {
        self.pending.is_none() && self.refresh_at_ns != 0 && now_ns >= self.refresh_at_ns
    }

    /// Monotonic ns at which the current token expires (0 = not logged in).
    pub fn expires_at_ns(&self) -> u64 {
        self.expires_at_ns
    }

    /// The `public/auth` `grant_type: refresh_token` frame with request `id`; marks the refresh
    /// as in flight. Contains the refresh token: never log it.
    pub fn refresh_frame<'e>(&mut self, enc: &'e mut Encoder, id: u64) -> &'e str {
        self.pending = Some(id);
        enc.auth_refresh_token(id, &self.refresh_token)
    }

    /// A fresh `public/auth` login frame (the credentials, not the refresh token) with
    /// request `id`, marked in flight like a refresh: the reply goes through
    /// [`Self::on_refresh_reply`]. Sent by the gateway after `13009 unauthorized` (expired or
    /// foreign token) on the same connection. Contains the secret or a signature: never log it.
    pub fn relogin_frame<'e>(&mut self, enc: &'e mut Encoder, id: u64) -> &'e str {
        self.pending = Some(id);
        self.login_frame(enc, id)
    }

    /// The id of the refresh request in flight, if any.
    #[inline]
    pub fn pending_refresh(&self) -> Option<u64> {
        self.pending
    }

    /// Takes the reply to the refresh in flight (`frame` whose id is
    /// [`Self::pending_refresh`]). A refused refresh is counted and retried after a quarter of
    /// the remaining life (the connection stays logged in: its login is `connection`-scoped).
    pub fn on_refresh_reply(&mut self, frame: &[u8], now_ns: u64) {
        self.pending = None;
        match self.on_auth_reply(frame, now_ns) {
            Ok(()) => {
                self.refreshes += 1;
                log::info!("{}: token refreshed", self.creds.client_id);
            }
            Err(e) => {
                self.refresh_errors += 1;
                let left = self.expires_at_ns.saturating_sub(now_ns);
                self.refresh_at_ns = now_ns + (left / 4).max(1_000_000_000);
                log::warn!("{}: token refresh refused: {e}", self.creds.client_id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The official worked example (dossier §2.2, legacy docs "signature credentials").
    #[test]
    fn hmac_worked_example() {
        let sig = client_signature("AMANDASECRECT", 1_576_074_319_000, "1iqt2wls", "");
        assert_eq!(
            sig,
            "56590594f97921b09b18f166befe0d1319b198bbcdad7ca73382de2f88fe9aa1"
        );
        assert!(verify_client_signature(
            "AMANDASECRECT",
            1_576_074_319_000,
            "1iqt2wls",
            "",
            &sig
        ));
        assert!(!verify_client_signature(
            "AMANDASECRET",
            1_576_074_319_000,
            "1iqt2wls",
            "",
            &sig
        ));
        assert!(!verify_client_signature(
            "AMANDASECRECT",
            1_576_074_319_001,
            "1iqt2wls",
            "",
            &sig
        ));
        assert!(!verify_client_signature(
            "AMANDASECRECT",
            1_576_074_319_000,
            "1iqt2wls",
            "",
            "zz"
        ));
    }

    #[test]
    fn login_frame_signature_verifies() {
        let st = AuthState::new(Credentials {
            client_id: "AMANDA".into(),
            client_secret: "AMANDASECRECT".into(),
            method: AuthMethod::Signature,
        });
        let mut enc = Encoder::new();
        let f = st.login_frame(&mut enc, 7).to_string();
        assert!(
            !f.contains("AMANDASECRECT"),
            "the secret is not on the wire"
        );
        let v: serde_json::Value = serde_json::from_str(&f).unwrap();
        let p = &v["params"];
        assert_eq!(p["grant_type"], "client_signature");
        assert_eq!(p["client_id"], "AMANDA");
        assert!(verify_client_signature(
            "AMANDASECRECT",
            p["timestamp"].as_u64().unwrap(),
            p["nonce"].as_str().unwrap(),
            p["data"].as_str().unwrap(),
            p["signature"].as_str().unwrap()
        ));
        assert_ne!(nonce(), nonce(), "nonces are single-use");
    }

    #[test]
    fn refresh_schedule_and_reply() {
        assert_eq!(refresh_after_s(4), 3.0);
        assert_eq!(refresh_after_s(31_536_000), 23_652_000.0);
        assert_eq!(refresh_after_s(300), 225.0);
        assert_eq!(refresh_after_s(1000), 750.0);
        let mut st = AuthState::new(Credentials {
            client_id: "a".into(),
            client_secret: "b".into(),
            method: AuthMethod::Credentials,
        });
        assert!(
            !st.refresh_due(u64::MAX),
            "not logged in: nothing to refresh"
        );
        let reply = br#"{"jsonrpc":"2.0","id":1,"result":{"access_token":"A1","expires_in":4,"refresh_token":"R1","scope":"connection","token_type":"bearer"}}"#;
        st.on_auth_reply(reply, 1_000).unwrap();
        assert!(!st.refresh_due(1_000 + 2_999_999_999));
        assert!(st.refresh_due(1_000 + 3_000_000_000));
        let mut enc = Encoder::new();
        let f = st.refresh_frame(&mut enc, 9).to_string();
        assert!(
            f.contains(r#""grant_type":"refresh_token""#) && f.contains(r#""refresh_token":"R1""#)
        );
        assert_eq!(st.pending_refresh(), Some(9));
        assert!(!st.refresh_due(u64::MAX - 1), "one refresh in flight");
        let bad = br#"{"jsonrpc":"2.0","id":9,"error":{"code":13009,"message":"unauthorized"}}"#;
        st.on_refresh_reply(bad, 3_000_001_000);
        assert_eq!((st.refreshes, st.refresh_errors), (0, 1));
        assert!(st.on_auth_reply(bad, 0).unwrap_err().contains("13009"));
        let dbg = format!(
            "{:?}",
            Credentials {
                client_id: "id".into(),
                client_secret: "TOPSECRET".into(),
                method: AuthMethod::Signature
            }
        );
        assert!(!dbg.contains("TOPSECRET"));
    }
}
