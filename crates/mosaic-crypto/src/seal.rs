//! Sealing secrets at rest: `mosaic-sealed-v1:` + base64url(salt || nonce || ciphertext+tag),
//! AES-256-GCM under an HKDF-SHA256 key from `BETTER_AUTH_SECRET`. Layout: docs/sealing.md.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hkdf::Hkdf;
use sha2::Sha256;
use zeroize::{Zeroize, Zeroizing};

/// The environment variable that holds the sealing secret: at least 32 bytes, from the
/// environment only, never a flag.
pub const SECRET_ENV: &str = "BETTER_AUTH_SECRET";
/// The environment variable naming a file that holds the sealing secret, instead of
/// [`SECRET_ENV`] (never both).
pub const SECRET_FILE_ENV: &str = "BETTER_AUTH_SECRET_FILE";

/// Prefix of every sealed text; the version names the whole scheme below.
pub const SEALED_PREFIX: &str = "mosaic-sealed-v1:";
/// HKDF `info` for keys that seal peer private keys.
pub const PEER_KEY_INFO: &[u8] = b"mosaic/federation/peer-key/v1";
/// HKDF info for what a pending peer keeps to finish its enrollment (the enrollment URL).
pub const PEER_ENROLLMENT_INFO: &[u8] = b"mosaic/federation/peer-enrollment/v1";
/// Shortest secret accepted, in bytes.
pub const MIN_SECRET_LEN: usize = 32;
/// The environment variable that holds previous secrets, comma-separated: they only open,
/// never seal (rotation of `BETTER_AUTH_SECRET`, see docs/gateway.md).
pub const PREVIOUS_SECRETS_ENV: &str = "MOSAIC_PREVIOUS_SECRETS";
/// Largest `BETTER_AUTH_SECRET_FILE` read: a secret is a line, not a document.
const MAX_SECRET_FILE_LEN: u64 = 64 * 1024;

const SALT_LEN: usize = 16;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    #[error(
        "BETTER_AUTH_SECRET is not set: export the gateway's sealing secret (at least 32 bytes) in the environment, or name a file holding it in BETTER_AUTH_SECRET_FILE"
    )]
    SecretMissing,
    #[error("BETTER_AUTH_SECRET is too short ({0} bytes): it must be at least 32 bytes")]
    SecretTooShort(usize),
    #[error(
        "both BETTER_AUTH_SECRET and BETTER_AUTH_SECRET_FILE are set: unset one of them (mosaic will not guess which secret seals)"
    )]
    SecretTwice,
    /// `BETTER_AUTH_SECRET_FILE` names a file that cannot be used; the text says why.
    #[error("BETTER_AUTH_SECRET_FILE {0}")]
    SecretFile(String),
    #[error("sealed key is malformed: {0}")]
    Malformed(&'static str),
    #[error(
        "sealed key does not open: wrong BETTER_AUTH_SECRET, a damaged blob, or a blob of another record"
    )]
    Unsealable,
    /// A previous secret (1-based position, its length) shorter than [`MIN_SECRET_LEN`].
    #[error(
        "previous secret {0} is too short ({1} bytes): every previous secret must be at least 32 bytes"
    )]
    PreviousTooShort(usize, usize),
    /// The file of previous secrets cannot be read (the path and the cause).
    #[error("--previous-secrets-file {0}")]
    PreviousFile(String),
}

/// Which of the given secrets opened a sealed text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenedBy {
    /// `BETTER_AUTH_SECRET`, the one that seals.
    Current,
    /// A previous secret, by its 1-based position in the list given.
    Previous(usize),
}

/// The sealing secret, held only as long as needed and wiped on drop, with any previous
/// secrets, which only open: every open tries the sealing secret first, then each previous
/// one in the order given. Its `Debug` never shows the bytes.
pub struct SealingSecret {
    key: Zeroizing<Vec<u8>>,
    previous: Vec<SealingSecret>,
}

impl std::fmt::Debug for SealingSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SealingSecret({} bytes, redacted", self.key.len())?;
        if !self.previous.is_empty() {
            write!(f, "; {} previous", self.previous.len())?;
        }
        f.write_str(")")
    }
}

impl SealingSecret {
    /// Accepts a secret of at least [`MIN_SECRET_LEN`] bytes.
    pub fn new(bytes: Vec<u8>) -> Result<Self, SealError> {
        let bytes = Zeroizing::new(bytes);
        if bytes.is_empty() {
            return Err(SealError::SecretMissing);
        }
        if bytes.len() < MIN_SECRET_LEN {
            return Err(SealError::SecretTooShort(bytes.len()));
        }
        Ok(SealingSecret {
            key: bytes,
            previous: Vec::new(),
        })
    }

    /// This secret, sealing, with `previous` secrets that only open (their own previous
    /// ones are dropped).
    pub fn with_previous(mut self, previous: Vec<SealingSecret>) -> Self {
        self.previous = previous
            .into_iter()
            .map(|p| SealingSecret {
                key: p.key,
                previous: Vec::new(),
            })
            .collect();
        self
    }

    /// How many previous secrets were given.
    pub fn previous_count(&self) -> usize {
        self.previous.len()
    }

    /// Reads the secret from `BETTER_AUTH_SECRET`, or from the file that
    /// `BETTER_AUTH_SECRET_FILE` names (the `*_FILE` convention of container and systemd
    /// secrets). Both set is refused: nobody should have to guess which one sealed a key.
    pub fn from_env() -> Result<Self, SealError> {
        match (
            std::env::var_os(SECRET_ENV),
            std::env::var_os(SECRET_FILE_ENV),
        ) {
            (Some(_), Some(_)) => Err(SealError::SecretTwice),
            (Some(v), None) => Self::new(v.into_encoded_bytes()),
            (None, Some(path)) => Self::from_file(std::path::Path::new(&path)),
            (None, None) => Err(SealError::SecretMissing),
        }
    }

    /// The secret in `path`: its bytes without one trailing newline (`\n` or `\r\n`, as
    /// `mosaic gateway secret > FILE` or an editor leaves it).
    pub fn from_file(path: &std::path::Path) -> Result<Self, SealError> {
        use std::io::Read;
        let shown = path.display();
        let unreadable = |e: std::io::Error| {
            SealError::SecretFile(format!(
                "{shown}: cannot read it ({e}); BETTER_AUTH_SECRET_FILE names a file holding the sealing secret"
            ))
        };
        let file = std::fs::File::open(path).map_err(unreadable)?;
        let mut bytes = Zeroizing::new(Vec::new());
        file.take(MAX_SECRET_FILE_LEN + 1)
            .read_to_end(&mut bytes)
            .map_err(unreadable)?;
        if bytes.len() as u64 > MAX_SECRET_FILE_LEN {
            return Err(SealError::SecretFile(format!(
                "{shown}: larger than 64 KiB; the file holds one secret (mosaic gateway secret > FILE)"
            )));
        }
        for end in [&b"\n"[..], b"\r"] {
            if bytes.ends_with(end) {
                bytes.pop();
            }
        }
        match Self::new(bytes.to_vec()) {
            Err(SealError::SecretMissing) => Err(SealError::SecretFile(format!(
                "{shown}: the file is empty; write a secret into it with (umask 077; mosaic gateway secret > FILE)"
            ))),
            Err(SealError::SecretTooShort(n)) => Err(SealError::SecretFile(format!(
                "{shown}: the secret is too short ({n} bytes): it must be at least 32 bytes"
            ))),
            other => other,
        }
    }

    fn cipher(&self, salt: &[u8], info: &[u8]) -> Aes256Gcm {
        let mut key = Zeroizing::new([0u8; 32]);
        Hkdf::<Sha256>::new(Some(salt), &self.key)
            .expand(info, key.as_mut())
            .expect("32 bytes is a valid HKDF-SHA256 output length");
        Aes256Gcm::new_from_slice(key.as_ref()).expect("32-byte key")
    }

    /// Seals `plaintext` under `info`, bound to `aad` (the record it belongs to).
    pub fn seal(&self, info: &[u8], aad: &[u8], plaintext: &[u8]) -> String {
        let (salt, nonce) = (super::random_bytes(), super::random_bytes());
        self.seal_with(info, aad, plaintext, salt, nonce)
    }

    /// [`Self::seal`] with a caller-chosen salt and nonce: only for test vectors.
    pub fn seal_with(
        &self,
        info: &[u8],
        aad: &[u8],
        plaintext: &[u8],
        salt: [u8; SALT_LEN],
        nonce: [u8; NONCE_LEN],
    ) -> String {
        let ciphertext = self
            .cipher(&salt, info)
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            .expect("AES-GCM encryption of an in-memory buffer cannot fail");
        let mut blob = Vec::with_capacity(SALT_LEN + NONCE_LEN + ciphertext.len());
        blob.extend_from_slice(&salt);
        blob.extend_from_slice(&nonce);
        blob.extend_from_slice(&ciphertext);
        format!("{SEALED_PREFIX}{}", URL_SAFE_NO_PAD.encode(&blob))
    }

    /// Opens a text made by [`Self::seal`] with the same `info` and `aad`, under this
    /// secret or a previous one.
    pub fn open(
        &self,
        info: &[u8],
        aad: &[u8],
        sealed: &str,
    ) -> Result<Zeroizing<Vec<u8>>, SealError> {
        self.open_by(info, aad, sealed)
            .map(|(plaintext, _)| plaintext)
    }

    /// [`Self::open`], saying which secret opened it: the sealing one is tried first,
    /// then each previous one in order (one HKDF and one GCM attempt each).
    pub fn open_by(
        &self,
        info: &[u8],
        aad: &[u8],
        sealed: &str,
    ) -> Result<(Zeroizing<Vec<u8>>, OpenedBy), SealError> {
        let mut blob = decode_sealed(sealed)?;
        let keys = std::iter::once(self).chain(&self.previous);
        let mut result = Err(SealError::Unsealable);
        for (position, key) in keys.enumerate() {
            if let Ok(plaintext) = key.open_blob(info, aad, &blob) {
                let by = match position {
                    0 => OpenedBy::Current,
                    n => OpenedBy::Previous(n),
                };
                result = Ok((plaintext, by));
                break;
            }
        }
        blob.zeroize();
        result
    }

    /// Opens a decoded blob with this secret only.
    fn open_blob(
        &self,
        info: &[u8],
        aad: &[u8],
        blob: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, SealError> {
        let (salt, rest) = blob.split_at(SALT_LEN);
        let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
        let nonce = Nonce::try_from(nonce).map_err(|_| SealError::Malformed("bad nonce"))?;
        self.cipher(salt, info)
            .decrypt(
                &nonce,
                Payload {
                    msg: ciphertext,
                    aad,
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| SealError::Unsealable)
    }

    /// The text sealed again under this (the sealing) secret when a previous secret opens
    /// it; `None` when it already opens with the sealing secret. A text no given secret
    /// opens is [`SealError::Unsealable`].
    pub fn reseal(
        &self,
        info: &[u8],
        aad: &[u8],
        sealed: &str,
    ) -> Result<Option<String>, SealError> {
        match self.open_by(info, aad, sealed)? {
            (_, OpenedBy::Current) => Ok(None),
            (plaintext, OpenedBy::Previous(_)) => Ok(Some(self.seal(info, aad, &plaintext))),
        }
    }

    /// Seals a peer's PKCS#8 private key, bound to the peer ID.
    pub fn seal_peer_key(&self, peer_id: &str, pkcs8_der: &[u8]) -> String {
        self.seal(PEER_KEY_INFO, peer_id.as_bytes(), pkcs8_der)
    }

    /// Seals what a pending peer keeps to finish its enrollment, bound to the peer ID.
    pub fn seal_enrollment(&self, peer_id: &str, plaintext: &[u8]) -> String {
        self.seal(PEER_ENROLLMENT_INFO, peer_id.as_bytes(), plaintext)
    }

    /// Opens [`Self::seal_enrollment`]'s text; fails for another peer ID or secret.
    pub fn open_enrollment(
        &self,
        peer_id: &str,
        sealed: &str,
    ) -> Result<Zeroizing<Vec<u8>>, SealError> {
        self.open(PEER_ENROLLMENT_INFO, peer_id.as_bytes(), sealed)
    }

    /// Opens a peer's sealed private key; fails for another peer ID or secret.
    pub fn open_peer_key(
        &self,
        peer_id: &str,
        sealed: &str,
    ) -> Result<Zeroizing<Vec<u8>>, SealError> {
        self.open(PEER_KEY_INFO, peer_id.as_bytes(), sealed)
    }
}

/// The previous secrets given to a process: `MOSAIC_PREVIOUS_SECRETS` (comma-separated),
/// then the lines of `file` (`--previous-secrets-file`). Surrounding whitespace is dropped
/// and empty entries are skipped; each must be at least [`MIN_SECRET_LEN`] bytes.
pub fn previous_secrets(file: Option<&std::path::Path>) -> Result<Vec<SealingSecret>, SealError> {
    let from_env =
        std::env::var_os(PREVIOUS_SECRETS_ENV).map(|v| Zeroizing::new(v.into_encoded_bytes()));
    let from_file = file
        .map(|path| {
            std::fs::read(path)
                .map(Zeroizing::new)
                .map_err(|e| SealError::PreviousFile(format!("{}: {e}", path.display())))
        })
        .transpose()?;
    parse_previous(
        from_env.as_deref().map(Vec::as_slice),
        from_file.as_deref().map(Vec::as_slice),
    )
}

/// The previous secrets of [`previous_secrets`]: `env` split at commas, then `file` split at
/// line ends; positions in errors count from 1 over both.
pub fn parse_previous(
    env: Option<&[u8]>,
    file: Option<&[u8]>,
) -> Result<Vec<SealingSecret>, SealError> {
    let entries = env
        .into_iter()
        .flat_map(|text| text.split(|&b| b == b','))
        .chain(
            file.into_iter()
                .flat_map(|text| text.split(|&b| b == b'\n')),
        )
        .map(<[u8]>::trim_ascii)
        .filter(|entry| !entry.is_empty());
    let mut secrets = Vec::new();
    for (i, entry) in entries.enumerate() {
        if entry.len() < MIN_SECRET_LEN {
            return Err(SealError::PreviousTooShort(i + 1, entry.len()));
        }
        secrets.push(SealingSecret::new(entry.to_vec())?);
    }
    Ok(secrets)
}

/// A warning when the secret file `path` (what `BETTER_AUTH_SECRET_FILE` names) may be
/// read by group or others: the secret opens every sealed key. A warning, not a refusal
/// (like a token file's): container and Kubernetes secrets are often mounted 0444 or 0644
/// inside a filesystem only the service sees.
pub fn secret_file_warning(path: &std::path::Path) -> Option<String> {
    group_or_other_readable(path).then(|| {
        format!(
            "BETTER_AUTH_SECRET_FILE {} is readable by group or others; the secret opens every sealed key (chmod 600 it)",
            path.display()
        )
    })
}

/// One function for every platform (no permission bits elsewhere: never readable), so
/// that mutation testing sees the one that runs here.
fn group_or_other_readable(path: &std::path::Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o044 != 0)
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        false
    }
}

/// The sealed format's layout, checked without opening: the prefix, unpadded base64url,
/// and room for the salt, the nonce and the tag. `open` checks it first; a gateway checks
/// it of a sealed key it is asked to store. Each `Malformed` reason reads after the name
/// of the field that holds the text ("sealed_private_key must start with ...").
pub fn decode_sealed(sealed: &str) -> Result<Vec<u8>, SealError> {
    let body = sealed
        .strip_prefix(SEALED_PREFIX)
        .ok_or(SealError::Malformed("must start with mosaic-sealed-v1:"))?;
    let blob = URL_SAFE_NO_PAD
        .decode(body)
        .map_err(|_| SealError::Malformed("is not unpadded base64url after its prefix"))?;
    if blob.len() < SALT_LEN + NONCE_LEN + TAG_LEN {
        return Err(SealError::Malformed("is too short to hold a sealed key"));
    }
    Ok(blob)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_file_opens_what_the_same_secret_sealed_without_its_trailing_newline() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        let sealed = SealingSecret::new(SECRET.to_vec())
            .unwrap()
            .seal(PEER_KEY_INFO, b"p", b"key");
        for written in [&b"\n"[..], b"\r\n", b""] {
            std::fs::write(&path, [SECRET, written].concat()).unwrap();
            let from_file = SealingSecret::from_file(&path).unwrap();
            assert_eq!(
                &*from_file.open(PEER_KEY_INFO, b"p", &sealed).unwrap(),
                b"key"
            );
        }
        std::fs::write(&path, "\n").unwrap();
        let empty = SealingSecret::from_file(&path).unwrap_err().to_string();
        assert!(empty.contains("the file is empty"), "{empty}");
        std::fs::write(&path, "short\n").unwrap();
        let short = SealingSecret::from_file(&path).unwrap_err().to_string();
        assert!(short.contains("too short (5 bytes)"), "{short}");
        let missing = SealingSecret::from_file(&dir.path().join("none")).unwrap_err();
        assert!(missing.to_string().contains("cannot read it"), "{missing}");
    }

    #[cfg(unix)]
    #[test]
    fn a_secret_file_others_may_read_draws_a_warning() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        std::fs::write(&path, SECRET).unwrap();
        for (mode, warned) in [(0o600, false), (0o400, false), (0o640, true), (0o604, true)] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            let warning = secret_file_warning(&path);
            assert_eq!(warning.is_some(), warned, "{mode:o}");
            if let Some(w) = warning {
                assert!(w.contains(&path.display().to_string()) && w.contains("chmod 600"));
            }
        }
    }

    #[test]
    fn a_secret_file_is_read_up_to_64_kib() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        let largest = vec![b'k'; 64 * 1024];
        let sealed = SealingSecret::new(largest.clone())
            .unwrap()
            .seal(PEER_KEY_INFO, b"p", b"key");
        std::fs::write(&path, &largest).unwrap();
        let read = SealingSecret::from_file(&path).unwrap();
        assert_eq!(&*read.open(PEER_KEY_INFO, b"p", &sealed).unwrap(), b"key");
        std::fs::write(&path, [&largest[..], b"k"].concat()).unwrap();
        let e = SealingSecret::from_file(&path).unwrap_err().to_string();
        assert!(e.contains("larger than 64 KiB"), "{e}");
    }

    // The vector of docs/sealing.md.
    const SECRET: &[u8] = b"mosaic-sealing-test-vector-secret-32b!";
    const PEER_ID: &str = "peer-0001";
    const PLAINTEXT_HEX: &str = "308187020100301306072a8648ce3d020106082a8648ce3d030107046d306b02010104201111111111111111111111111111111111111111111111111111111111111111a144034200040217e617f0b6443928278f96999e69a23a4f2c152bdf6d6cdf66e5b80282d4ed194a7debcb97712d2dda3ca85aa8765a56f45fc758599652f2897c65306e5794";
    const SEALED: &str = "mosaic-sealed-v1:AAECAwQFBgcICQoLDA0OD6ChoqOkpaanqKmqq2rthxMIwe8HJ5tdHa_XWb-NyiTMUFUxkQmKtsL-_AYfjzknU51dn88eXA6hh7MaF9McmpE-HNEMrTScTukcBAG2244pjcQEzaKvZIJTHMmapzC6rtedDV9WPCbPJrH_H6K1e05DggHa4ezF6P7XUY0NXb0aMI7RBDLTbM6D8-atU4rBBEGB6IeXSjWXNyZKZfoCMgze1DbHe8Y";

    fn secret() -> SealingSecret {
        SealingSecret::new(SECRET.to_vec()).unwrap()
    }

    #[test]
    fn test_vector() {
        let plaintext = hex::decode(PLAINTEXT_HEX).unwrap();
        let salt = core::array::from_fn(|i| i as u8);
        let nonce = core::array::from_fn(|i| 0xa0 + i as u8);
        let sealed = secret().seal_with(PEER_KEY_INFO, PEER_ID.as_bytes(), &plaintext, salt, nonce);
        assert_eq!(sealed, SEALED);
        assert_eq!(
            secret().open_peer_key(PEER_ID, SEALED).unwrap().as_slice(),
            plaintext.as_slice()
        );
    }

    #[test]
    fn every_seal_is_fresh_and_opens() {
        let s = secret();
        let a = s.seal_peer_key("p", b"key");
        let b = s.seal_peer_key("p", b"key");
        assert_ne!(a, b, "salt and nonce are fresh per seal");
        assert_eq!(s.open_peer_key("p", &a).unwrap().as_slice(), b"key");
    }

    #[test]
    fn tampering_another_record_or_secret_fails() {
        let s = secret();
        let mut flipped = SEALED.to_string().into_bytes();
        let i = flipped.len() - 10;
        flipped[i] = if flipped[i] == b'A' { b'B' } else { b'A' };
        let flipped = String::from_utf8(flipped).unwrap();
        assert_eq!(
            s.open_peer_key(PEER_ID, &flipped).unwrap_err(),
            SealError::Unsealable
        );
        assert_eq!(
            s.open_peer_key("peer-0002", SEALED).unwrap_err(),
            SealError::Unsealable
        );
        let other = SealingSecret::new(b"another-secret-that-is-long-enough!!".to_vec()).unwrap();
        assert_eq!(
            other.open_peer_key(PEER_ID, SEALED).unwrap_err(),
            SealError::Unsealable
        );
        assert!(matches!(
            s.open_peer_key(PEER_ID, "mosaic-sealed-v2:AAAA"),
            Err(SealError::Malformed(_))
        ));
        assert!(matches!(
            s.open_peer_key(PEER_ID, "mosaic-sealed-v1:AAAA"),
            Err(SealError::Malformed(_))
        ));
    }

    #[test]
    fn short_or_missing_secret_is_refused() {
        assert_eq!(
            SealingSecret::new(vec![]).unwrap_err(),
            SealError::SecretMissing
        );
        assert_eq!(
            SealingSecret::new(vec![b'x'; 31]).unwrap_err(),
            SealError::SecretTooShort(31)
        );
        assert!(SealingSecret::new(vec![b'x'; 32]).is_ok());
    }

    #[test]
    fn debug_names_the_length_and_nothing_else() {
        assert_eq!(
            format!("{:?}", secret()),
            format!("SealingSecret({} bytes, redacted)", SECRET.len())
        );
        assert_eq!(
            format!("{:?}", SealingSecret::new(vec![b'x'; 32]).unwrap()),
            "SealingSecret(32 bytes, redacted)"
        );
    }

    fn text_of(blob: &[u8]) -> String {
        format!("{SEALED_PREFIX}{}", URL_SAFE_NO_PAD.encode(blob))
    }

    /// salt + nonce + tag: the shortest blob that can open (an empty plaintext).
    const MIN_BLOB: usize = SALT_LEN + NONCE_LEN + TAG_LEN;

    #[test]
    fn blobs_of_every_length_up_to_44_bytes_are_refused_without_a_panic() {
        let s = secret();
        for len in 0..=MIN_BLOB {
            let blob: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let got = s.open_peer_key(PEER_ID, &text_of(&blob));
            let want = if len < MIN_BLOB {
                SealError::Malformed("is too short to hold a sealed key")
            } else {
                SealError::Unsealable
            };
            assert_eq!(got.unwrap_err(), want, "a blob of {len} bytes");
        }
        // The real sealed blob cut short anywhere is refused the same way.
        let real = URL_SAFE_NO_PAD
            .decode(SEALED.strip_prefix(SEALED_PREFIX).unwrap())
            .unwrap();
        for len in 0..real.len() {
            let want = if len < MIN_BLOB {
                SealError::Malformed("is too short to hold a sealed key")
            } else {
                SealError::Unsealable
            };
            let got = s.open_peer_key(PEER_ID, &text_of(&real[..len]));
            assert_eq!(got.unwrap_err(), want, "the vector cut to {len} bytes");
        }
    }

    /// The enrollment URL a pending peer keeps is sealed under its own HKDF label: it opens
    /// as itself only, for its own peer, and a peer key's blob never opens as one.
    #[test]
    fn a_sealed_enrollment_opens_only_as_an_enrollment_of_its_peer() {
        let s = secret();
        let url = b"https://gw-a.example/api/federation/enrollment/secret-token";
        let sealed = s.seal_enrollment(PEER_ID, url);
        assert!(sealed.starts_with(SEALED_PREFIX), "{sealed}");
        assert_eq!(s.open_enrollment(PEER_ID, &sealed).unwrap().as_slice(), url);
        assert_eq!(
            s.open_peer_key(PEER_ID, &sealed).unwrap_err(),
            SealError::Unsealable
        );
        assert_eq!(
            s.open_enrollment("peer-0002", &sealed).unwrap_err(),
            SealError::Unsealable
        );
        assert_eq!(
            s.open_enrollment(PEER_ID, SEALED).unwrap_err(),
            SealError::Unsealable
        );
        assert_eq!(
            s.open(PEER_ENROLLMENT_INFO, PEER_ID.as_bytes(), &sealed)
                .unwrap()
                .as_slice(),
            url
        );
    }

    #[test]
    fn an_empty_plaintext_seals_to_44_bytes_and_opens() {
        let s = secret();
        let sealed = s.seal_peer_key(PEER_ID, b"");
        let blob = URL_SAFE_NO_PAD
            .decode(sealed.strip_prefix(SEALED_PREFIX).unwrap())
            .unwrap();
        assert_eq!(blob.len(), MIN_BLOB);
        assert!(s.open_peer_key(PEER_ID, &sealed).unwrap().is_empty());
    }

    #[test]
    fn an_over_long_blob_does_not_open() {
        let s = secret();
        let mut blob = URL_SAFE_NO_PAD
            .decode(SEALED.strip_prefix(SEALED_PREFIX).unwrap())
            .unwrap();
        for extra in [1, 16, 4096] {
            blob.extend(std::iter::repeat_n(0u8, extra));
            assert_eq!(
                s.open_peer_key(PEER_ID, &text_of(&blob)).unwrap_err(),
                SealError::Unsealable,
                "{extra} more bytes"
            );
        }
    }

    fn key(c: u8) -> SealingSecret {
        SealingSecret::new(vec![c; 40]).unwrap()
    }

    /// The sealing secret is tried first, then each previous one in order; which one
    /// opened is reported (1-based among the previous).
    #[test]
    fn previous_secrets_open_in_order_and_say_which() {
        let ring = key(b'n').with_previous(vec![key(b'o'), key(b'p')]);
        assert_eq!(ring.previous_count(), 2);
        for (sealer, want) in [
            (key(b'n'), OpenedBy::Current),
            (key(b'o'), OpenedBy::Previous(1)),
            (key(b'p'), OpenedBy::Previous(2)),
        ] {
            let sealed = sealer.seal_peer_key(PEER_ID, b"key");
            let (plaintext, by) = ring
                .open_by(PEER_KEY_INFO, PEER_ID.as_bytes(), &sealed)
                .unwrap();
            assert_eq!((plaintext.as_slice(), by), (&b"key"[..], want));
            assert_eq!(
                ring.open_peer_key(PEER_ID, &sealed).unwrap().as_slice(),
                b"key"
            );
            assert_eq!(
                ring.open_enrollment(PEER_ID, &sealed).unwrap_err(),
                SealError::Unsealable
            );
        }
        // The same secret as sealing and as previous: the sealing one answers first.
        let twice = key(b'n').with_previous(vec![key(b'o'), key(b'n')]);
        let sealed = key(b'n').seal_peer_key(PEER_ID, b"key");
        assert_eq!(
            twice
                .open_by(PEER_KEY_INFO, PEER_ID.as_bytes(), &sealed)
                .unwrap()
                .1,
            OpenedBy::Current
        );
        let first_of_two = key(b'n').with_previous(vec![key(b'o'), key(b'o')]);
        let sealed = key(b'o').seal_peer_key(PEER_ID, b"key");
        assert_eq!(
            first_of_two
                .open_by(PEER_KEY_INFO, PEER_ID.as_bytes(), &sealed)
                .unwrap()
                .1,
            OpenedBy::Previous(1)
        );
        // Sealing always uses the sealing secret, never a previous one.
        let sealed = ring.seal_peer_key(PEER_ID, b"key");
        assert_eq!(
            key(b'n')
                .open_peer_key(PEER_ID, &sealed)
                .unwrap()
                .as_slice(),
            b"key"
        );
        assert!(key(b'o').open_peer_key(PEER_ID, &sealed).is_err());
        // A secret not given opens nothing; a malformed text stays malformed.
        let stranger = key(b'z').seal_peer_key(PEER_ID, b"key");
        assert_eq!(
            ring.open_peer_key(PEER_ID, &stranger).unwrap_err(),
            SealError::Unsealable
        );
        assert!(matches!(
            ring.open_peer_key(PEER_ID, "mosaic-sealed-v1:AAAA"),
            Err(SealError::Malformed(_))
        ));
        // The previous secrets' own previous ones are not kept.
        let nested = key(b'n').with_previous(vec![key(b'o').with_previous(vec![key(b'p')])]);
        let sealed = key(b'p').seal_peer_key(PEER_ID, b"key");
        assert_eq!(
            nested.open_peer_key(PEER_ID, &sealed).unwrap_err(),
            SealError::Unsealable
        );
        assert_eq!(nested.previous_count(), 1);
        assert_eq!(
            format!("{ring:?}"),
            "SealingSecret(40 bytes, redacted; 2 previous)"
        );
    }

    /// The old vector still opens when its secret is a previous one.
    #[test]
    fn the_v1_vector_opens_under_a_previous_secret() {
        let ring = key(b'n').with_previous(vec![secret()]);
        let plaintext = hex::decode(PLAINTEXT_HEX).unwrap();
        let (opened, by) = ring
            .open_by(PEER_KEY_INFO, PEER_ID.as_bytes(), SEALED)
            .unwrap();
        assert_eq!(
            (opened.as_slice(), by),
            (plaintext.as_slice(), OpenedBy::Previous(1))
        );
    }

    /// Resealing: a text under a previous secret comes back under the sealing one (a new
    /// text that opens as the same plaintext); a text already under it is left as is.
    #[test]
    fn reseal_moves_a_text_to_the_sealing_secret_once() {
        let ring = key(b'n').with_previous(vec![key(b'o')]);
        let old = key(b'o').seal_enrollment(PEER_ID, b"url");
        let new = ring
            .reseal(PEER_ENROLLMENT_INFO, PEER_ID.as_bytes(), &old)
            .unwrap()
            .expect("resealed");
        assert_ne!(new, old);
        assert_eq!(
            key(b'n').open_enrollment(PEER_ID, &new).unwrap().as_slice(),
            b"url"
        );
        assert_eq!(
            ring.reseal(PEER_ENROLLMENT_INFO, PEER_ID.as_bytes(), &new)
                .unwrap(),
            None
        );
        let stranger = key(b'z').seal_enrollment(PEER_ID, b"url");
        assert_eq!(
            ring.reseal(PEER_ENROLLMENT_INFO, PEER_ID.as_bytes(), &stranger)
                .unwrap_err(),
            SealError::Unsealable
        );
        assert_eq!(
            ring.reseal(PEER_ENROLLMENT_INFO, b"another", &old)
                .unwrap_err(),
            SealError::Unsealable
        );
    }

    #[test]
    fn previous_secrets_are_parsed_from_commas_then_lines() {
        let a = [b'a'; 32];
        let b = [b'b'; 33];
        let c = [b'c'; 34];
        let env = [&a[..], b" , ,\t", &b[..], b","].concat();
        let file = [b"\n  ".as_slice(), &c[..], b"\r\n\n"].concat();
        let got = parse_previous(Some(&env), Some(&file)).unwrap();
        let ring = key(b'n').with_previous(got);
        assert_eq!(ring.previous_count(), 3);
        for (i, bytes) in [&a[..], &b[..], &c[..]].into_iter().enumerate() {
            let sealed = SealingSecret::new(bytes.to_vec())
                .unwrap()
                .seal_peer_key("p", b"k");
            assert_eq!(
                ring.open_by(PEER_KEY_INFO, b"p", &sealed).unwrap().1,
                OpenedBy::Previous(i + 1)
            );
        }
        assert!(parse_previous(None, None).unwrap().is_empty());
        assert!(
            parse_previous(Some(b" , "), Some(b"\n\n"))
                .unwrap()
                .is_empty()
        );
        // A comma inside a file's line is part of the secret.
        let with_comma = [&a[..16], b",", &a[..16]].concat();
        assert_eq!(parse_previous(None, Some(&with_comma)).unwrap().len(), 1);
    }

    #[test]
    fn a_short_previous_secret_is_refused_by_position() {
        let a = [b'a'; 32];
        let env = [&a[..], b",short"].concat();
        assert_eq!(
            parse_previous(Some(&env), None).unwrap_err(),
            SealError::PreviousTooShort(2, 5)
        );
        let file = [&a[..], b"\n", &a[..31]].concat();
        assert_eq!(
            parse_previous(Some(&a), Some(&file)).unwrap_err(),
            SealError::PreviousTooShort(3, 31)
        );
        assert_eq!(
            SealError::PreviousTooShort(3, 31).to_string(),
            "previous secret 3 is too short (31 bytes): every previous secret must be at least 32 bytes"
        );
    }

    #[test]
    fn an_unreadable_file_of_previous_secrets_is_named() {
        let dir = std::env::temp_dir().join(format!("mosaic-seal-test-{}", std::process::id()));
        let err = previous_secrets(Some(&dir.join("missing"))).unwrap_err();
        assert!(
            matches!(&err, SealError::PreviousFile(m) if m.contains("missing")),
            "{err}"
        );
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("previous");
        std::fs::write(&file, [b'f'; 32]).unwrap();
        let got = previous_secrets(Some(&file)).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        // The environment of the test process may hold none.
        if std::env::var_os(PREVIOUS_SECRETS_ENV).is_none() {
            assert_eq!(got.len(), 1);
        }
    }
}
