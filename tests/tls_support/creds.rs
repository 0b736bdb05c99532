//! NATS operator mode minted by the test: an operator, an account and users
//! as nkeys, their JWTs signed the way nats-server checks them
//! (`ed25519-nkey` over `header.claims`, base64url without padding), and
//! `.creds` files as `nsc` writes them. The server trusts the operator and
//! preloads the account's JWT in its memory resolver.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use nkeys::KeyPair;
use serde_json::{json, Value};

/// A signed JWT with `claims` (issuer, subject, `nats` section).
fn jwt(signer: &KeyPair, sub: &str, name: &str, nats: Value) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let header = json!({"typ": "JWT", "alg": "ed25519-nkey"});
    let claims = json!({
        "jti": format!("DLQTEST{now}{}", &sub[1..12]),
        "iat": now,
        "iss": signer.public_key(),
        "name": name,
        "sub": sub,
        "nats": nats,
    });
    let head = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let sig = signer.sign(head.as_bytes()).unwrap();
    format!("{head}.{}", URL_SAFE_NO_PAD.encode(sig))
}

pub struct Operator {
    /// The operator's JWT, for the server's `operator` setting.
    pub operator_jwt: String,
    pub account_public: String,
    pub account_jwt: String,
    /// The system account, which a server with JetStream in operator mode needs.
    pub system_public: String,
    pub system_jwt: String,
    account: KeyPair,
}

impl Operator {
    /// An operator with one account that may use JetStream.
    pub fn new() -> Operator {
        let op = KeyPair::new_operator();
        let account = KeyPair::new_account();
        let operator_jwt = jwt(
            &op,
            &op.public_key(),
            "dlq-test-operator",
            json!({"type": "operator", "version": 2}),
        );
        let unlimited = json!({
            "subs": -1, "data": -1, "payload": -1, "imports": -1, "exports": -1,
            "wildcards": true, "conn": -1, "leaf": -1,
            "mem_storage": -1, "disk_storage": -1, "streams": -1, "consumer": -1,
        });
        let account_jwt = jwt(
            &op,
            &account.public_key(),
            "dlq-test-account",
            json!({"limits": unlimited, "type": "account", "version": 2}),
        );
        let system = KeyPair::new_account();
        let system_jwt = jwt(
            &op,
            &system.public_key(),
            "SYS",
            json!({"type": "account", "version": 2}),
        );
        Operator {
            operator_jwt,
            system_public: system.public_key(),
            system_jwt,
            account_public: account.public_key(),
            account_jwt,
            account,
        }
    }

    /// The text of a `.creds` file for a new user of the account, and its seed.
    pub fn user_creds(&self) -> (String, String) {
        creds(&self.account)
    }
}

/// A `.creds` file of a user signed by `account`, and the user's seed.
pub fn creds(account: &KeyPair) -> (String, String) {
    let user = KeyPair::new_user();
    let user_jwt = jwt(
        account,
        &user.public_key(),
        "dlq-test-user",
        json!({"pub": {}, "sub": {}, "subs": -1, "data": -1, "payload": -1,
               "type": "user", "version": 2}),
    );
    let seed = user.seed().unwrap();
    let text = format!(
        "-----BEGIN NATS USER JWT-----\n{user_jwt}\n------END NATS USER JWT------\n\n\
         ************************* IMPORTANT *************************\n\
         NKEY Seed printed below can be used to sign and prove identity.\n\
         NKEYs are sensitive and should be treated as secrets.\n\n\
         -----BEGIN USER NKEY SEED-----\n{seed}\n------END USER NKEY SEED------\n\n\
         *************************************************************\n"
    );
    (text, seed)
}

/// Creds of a user of an account the server has never heard of.
pub fn stranger_creds() -> (String, String) {
    creds(&KeyPair::new_account())
}
