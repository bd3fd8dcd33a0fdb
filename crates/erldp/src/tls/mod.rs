//! TLS distribution, interoperating with BEAM nodes started with `-proto_dist inet_tls`
//! ([SSL distribution guide](https://www.erlang.org/doc/apps/ssl/ssl_distribution.html)).
//!
//! A TLS node runs TLS over the TCP connection from its first byte, then the [distribution
//! handshake](https://www.erlang.org/doc/apps/erts/erl_dist_protocol.html#distribution-handshake)
//! inside it with 4-byte length prefixes (`inet_tls_dist` sets `{packet, 4}` from the start),
//! then the connection as over TCP. Nothing in EPMD says that a node speaks TLS: it comes from
//! the configuration alone, and a TLS node never falls back to plain TCP.
//!
//! [`TlsConfig`] holds the options of BEAM's `-ssl_dist_optfile` for the two roles: `server`
//! when a peer connects to us, `client` when we connect. They mean what `ssl` makes of them
//! in OTP 26 and later:
//!
//! - `verify` defaults to `verify_peer` for the client and `verify_none` for the server. A
//!   verifying client checks the server's chain against `cacertfile` and its name against the
//!   host part of the node name, which it also sends as SNI; `{server_name_indication, Host}`
//!   puts another name in both places, and `{server_name_indication, disable}` sends no SNI
//!   and, as `ssl` does then, checks no host name (the chain still). A verifying server asks for the
//!   client's certificate and checks its chain; it requires one when `fail_if_no_peer_cert`
//!   is true, the default with `verify_peer` (OTP 25 defaulted the client to `verify_none`
//!   and `fail_if_no_peer_cert` to false).
//! - `versions` defaults to TLS 1.3 and 1.2, as OTP 29's `inet_tls_dist` offers (OTP 25 and
//!   27 offer 1.2 alone, which we meet).
//! - Host names are matched against the certificate's subjectAltName entries only; OTP 25
//!   also fell back to the subject's common name, OTP 26 and later do not. They match exactly
//!   (whatever the case): a wildcard (`*.example.com` for `a.example.com`) matches only with
//!   `{customize_hostname_check, [{match_fun, public_key:pkix_verify_hostname_match_fun(https)}]}`
//!   in the client options, as for `ssl` (that one function call is read from the file).
//! - Certificates are X.509 v3, the only version webpki reads: a v1 certificate of ours stops
//!   the node from starting, and a peer's is refused, both named as v1 (BEAM accepts v1
//!   client certificates).
//! - Our chain is `certfile`'s certificates followed by the CAs of `cacertfile` that issued
//!   the last of them, its issuer and so on, up to the root, as `ssl` sends it: `certfile`
//!   may hold our certificate alone, its intermediate CAs being in `cacertfile`.
//! - `keyfile` may hold a PKCS#8 key encrypted with `password` (PBES2, what `openssl genpkey
//!   -aes256` writes, which BEAM reads too); the traditional OpenSSL encryption
//!   (`Proc-Type: 4,ENCRYPTED`), and PBES2 with 3DES or with hmacWithSHA1 as PRF (which BEAM
//!   reads), are refused with the command that converts them.
//! - `depth` bounds the intermediate certificates the peer sends (a self-issued one, such as
//!   the root, does not count, as `ssl` counts non-self-issued intermediates), where `ssl` bounds those of the path it builds; the two differ
//!   only for a peer that sends certificates its path does not use.
//! - `ciphers` keeps the suites rustls implements (TLS 1.3's three, and ECDHE with AES-GCM or
//!   ChaCha20-Poly1305 for TLS 1.2); none of them left is an error.

mod cert;
mod optfile;
pub(crate) mod stream;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{verify_server_cert_signed_by_trust_anchor, verify_server_name};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{ParsedCertificate, WebPkiClientVerifier};
use rustls::{
    AlertDescription, CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore,
    ServerConfig, SignatureScheme, SupportedCipherSuite, SupportedProtocolVersion,
};

use crate::cookie::Secret;
use crate::{Error, Result};

/// Whether to check the peer's certificate (`ssl`'s `verify` option).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verify {
    /// `verify_peer`: check the peer's chain (and, as a client, its host name).
    Peer,
    /// `verify_none`: accept any certificate (the connection is encrypted, not authenticated).
    None,
}

impl std::str::FromStr for Verify {
    type Err = Error;

    /// `verify_peer` or `verify_none`, as `ssl` spells them.
    fn from_str(name: &str) -> Result<Verify> {
        match name {
            "verify_peer" => Ok(Verify::Peer),
            "verify_none" => Ok(Verify::None),
            other => Err(Error::invalid(format!(
                "verify must be verify_peer or verify_none, not {other:?}"
            ))),
        }
    }
}

/// The `tls` option of a node as every language names its parts (Ruby's `tls: { certfile:,
/// keyfile:, cacertfile:, verify: }`, JavaScript's `{ tls: { ... } }`, the C node options'
/// `tls_*` fields): our certificate and key, the CAs we trust and `verify`, the same in both
/// roles; or instead the file BEAM's `-ssl_dist_optfile` reads, for everything else.
///
/// ```
/// use erldp::tls::TlsOptions;
///
/// let options = TlsOptions {
///     certfile: Some("node.pem".into()),
///     keyfile: Some("node.key".into()),
///     cacertfile: Some("ca.pem".into()),
///     ..TlsOptions::default()
/// };
/// let config = options.config()?; // verify_peer in both roles
/// # let _ = config;
/// let wrong = TlsOptions { verify: Some("verify_all".into()), ..options };
/// assert!(wrong.config().is_err());
/// # Ok::<(), erldp::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsOptions {
    /// Our certificate (PEM), presented in both roles; it may be followed by its chain, which
    /// is completed from `cacertfile` as `ssl` completes it.
    pub certfile: Option<PathBuf>,
    /// Its private key (PEM); default: read from `certfile`, as `ssl` does.
    pub keyfile: Option<PathBuf>,
    /// The CAs (PEM) a peer's certificate must chain to; needed with `verify_peer`.
    pub cacertfile: Option<PathBuf>,
    /// `verify_peer` (the default) or `verify_none`, in both roles.
    pub verify: Option<String>,
    /// An `-ssl_dist_optfile` file instead of the four options above.
    pub optfile: Option<PathBuf>,
}

impl TlsOptions {
    /// The configuration these options make: [`TlsConfig::from_optfile`] of `optfile`, else
    /// [`TlsConfig::new`] with `verify` in both roles.
    ///
    /// Errors: [`Error::InvalidArgument`] for `optfile` with any other option, no `certfile`,
    /// or a `verify` that is not `verify_peer` or `verify_none`; those of
    /// [`TlsConfig::from_optfile`].
    pub fn config(&self) -> Result<TlsConfig> {
        if let Some(optfile) = &self.optfile {
            if self.certfile.is_some()
                || self.keyfile.is_some()
                || self.cacertfile.is_some()
                || self.verify.is_some()
            {
                return Err(Error::invalid(
                    "tls: optfile holds every TLS option; give it alone, without certfile, \
                     keyfile, cacertfile or verify",
                ));
            }
            return TlsConfig::from_optfile(optfile);
        }
        let Some(certfile) = &self.certfile else {
            return Err(Error::invalid(
                "tls: certfile (our certificate, presented in both roles) or optfile is needed",
            ));
        };
        let verify = match &self.verify {
            Some(name) => name.parse()?,
            None => Verify::Peer,
        };
        let role = RoleOptions {
            certfile: Some(certfile.clone()),
            keyfile: self.keyfile.clone(),
            cacertfile: self.cacertfile.clone(),
            verify: Some(verify),
            ..RoleOptions::default()
        };
        Ok(TlsConfig {
            server: role.clone(),
            client: role,
        })
    }
}

/// A TLS protocol version (`ssl`'s `versions` option).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TlsVersion {
    /// `'tlsv1.2'`.
    Tls12,
    /// `'tlsv1.3'`.
    Tls13,
}

impl TlsVersion {
    fn from_erlang(name: &str) -> Option<TlsVersion> {
        match name {
            "tlsv1.2" => Some(TlsVersion::Tls12),
            "tlsv1.3" => Some(TlsVersion::Tls13),
            _ => None,
        }
    }

    fn rustls(self) -> &'static SupportedProtocolVersion {
        match self {
            TlsVersion::Tls12 => &rustls::version::TLS12,
            TlsVersion::Tls13 => &rustls::version::TLS13,
        }
    }
}

/// The `ssl` options of one role, as `[{server, Opts}, {client, Opts}]` lists them; `None`
/// is `ssl`'s default. Its `Debug` leaves the key's password out.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct RoleOptions {
    certfile: Option<PathBuf>,
    keyfile: Option<PathBuf>,
    password: Option<Secret>,
    cacertfile: Option<PathBuf>,
    verify: Option<Verify>,
    fail_if_no_peer_cert: Option<bool>,
    depth: Option<u8>,
    versions: Option<Vec<TlsVersion>>,
    ciphers: Option<Vec<String>>,
    /// `Some(None)` is `disable`.
    server_name_indication: Option<Option<String>>,
    /// `{customize_hostname_check, [{match_fun, public_key:pkix_verify_hostname_match_fun(https)}]}`:
    /// a wildcard in the server's certificate may match its host name.
    match_wildcards: bool,
}

/// The TLS options of a node: its certificate and key, the CAs it trusts and how it checks its
/// peers, for each of the two roles (see the [module documentation](self) for what they mean).
///
/// ```
/// use erldp::tls::{TlsConfig, Verify};
///
/// let config = TlsConfig::new("node.pem", "node.key", "ca.pem")
///     .client_cert("client.pem", "client.key")
///     .verify(Verify::Peer);
/// # let _ = config;
/// // Or the file a BEAM node reads with -ssl_dist_optfile:
/// let text = r#"[{server, [{certfile, "node.pem"}, {keyfile, "node.key"}]},
///                {client, [{cacertfile, "ca.pem"}, {verify, verify_peer}]}]."#;
/// let config = TlsConfig::parse_optfile(text)?;
/// # let _ = config;
/// # Ok::<(), erldp::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsConfig {
    server: RoleOptions,
    client: RoleOptions,
}

impl TlsConfig {
    /// One certificate and key for both roles, peers checked against `cacertfile` in both
    /// roles (`verify_peer`; as a server that requires the client's certificate).
    pub fn new(
        certfile: impl Into<PathBuf>,
        keyfile: impl Into<PathBuf>,
        cacertfile: impl Into<PathBuf>,
    ) -> TlsConfig {
        let role = RoleOptions {
            certfile: Some(certfile.into()),
            keyfile: Some(keyfile.into()),
            cacertfile: Some(cacertfile.into()),
            verify: Some(Verify::Peer),
            ..RoleOptions::default()
        };
        TlsConfig {
            server: role.clone(),
            client: role,
        }
    }

    /// Reads BEAM's `-ssl_dist_optfile` (`[{server, Opts}, {client, Opts}]`).
    ///
    /// Errors: [`Error::Io`] when the file cannot be read, [`Error::InvalidArgument`] naming
    /// the option when it is not a valid option file or asks for what is not supported.
    pub fn from_optfile(path: impl AsRef<Path>) -> Result<TlsConfig> {
        optfile::read(path.as_ref())
    }

    /// [`from_optfile`](Self::from_optfile) for the text of such a file.
    pub fn parse_optfile(text: &str) -> Result<TlsConfig> {
        optfile::parse(text)
    }

    /// `verify` in both roles.
    pub fn verify(mut self, verify: Verify) -> TlsConfig {
        self.server.verify = Some(verify);
        self.client.verify = Some(verify);
        self
    }

    /// The certificate and key we present when we connect (the client role), when it is not
    /// the server's.
    pub fn client_cert(
        mut self,
        certfile: impl Into<PathBuf>,
        keyfile: impl Into<PathBuf>,
    ) -> TlsConfig {
        self.client.certfile = Some(certfile.into());
        self.client.keyfile = Some(keyfile.into());
        self
    }

    /// Whether, as a server with `verify_peer`, we refuse clients without a certificate
    /// (default true).
    pub fn fail_if_no_peer_cert(mut self, fail: bool) -> TlsConfig {
        self.server.fail_if_no_peer_cert = Some(fail);
        self
    }

    /// The password of encrypted keyfiles, in both roles.
    pub fn password(mut self, password: impl Into<String>) -> TlsConfig {
        let password = Secret::new(password);
        self.server.password = Some(password.clone());
        self.client.password = Some(password);
        self
    }

    /// The TLS versions offered in both roles (default 1.3 and 1.2).
    pub fn versions(mut self, versions: &[TlsVersion]) -> TlsConfig {
        self.server.versions = Some(versions.to_vec());
        self.client.versions = Some(versions.to_vec());
        self
    }

    /// The cipher suites offered in both roles, by OpenSSL name
    /// (`ECDHE-ECDSA-AES256-GCM-SHA384`) or RFC name (`TLS_AES_128_GCM_SHA256`). Suites that
    /// rustls does not implement are left out; none left is an error when connecting.
    pub fn ciphers(mut self, ciphers: &[&str]) -> TlsConfig {
        let ciphers: Vec<String> = ciphers.iter().map(|c| c.to_string()).collect();
        self.server.ciphers = Some(ciphers.clone());
        self.client.ciphers = Some(ciphers);
        self
    }

    /// The most intermediate certificates a peer may send with its own, not counting
    /// self-issued ones (its root), in both roles (`ssl`'s `depth`, default 10).
    pub fn depth(mut self, depth: u8) -> TlsConfig {
        self.server.depth = Some(depth);
        self.client.depth = Some(depth);
        self
    }

    /// Whether a server's certificate may name its host through a wildcard (`*.example.com`
    /// for `a.example.com`), as the client option `{customize_hostname_check, [{match_fun,
    /// public_key:pkix_verify_hostname_match_fun(https)}]}` lets `ssl`; off by default, as
    /// `ssl`'s check matches names exactly. The other languages give it in an option file.
    pub fn match_wildcards(mut self, on: bool) -> TlsConfig {
        self.client.match_wildcards = on;
        self
    }

    /// The rustls configuration for connecting to `host` (the host part of the peer's node
    /// name), which the server's certificate must name and which is sent as SNI.
    pub(crate) fn client(&self) -> Result<ClientSide> {
        let opts = &self.client;
        let provider = provider(opts)?;
        let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
            .with_protocol_versions(&versions(opts))
            .map_err(|err| config_error("client", err))?;
        let verifier = Arc::new(ServerCertCheck::new(opts, &provider)?);
        let builder = builder
            .dangerous()
            .with_custom_certificate_verifier(verifier);
        let has_cert = opts.certfile.is_some();
        let mut config = match key_pair(opts, "client")? {
            Some((chain, key)) => builder
                .with_client_auth_cert(chain, key)
                .map_err(|err| key_error(opts, err))?,
            None => builder.with_no_client_auth(),
        };
        config.enable_sni = !matches!(opts.server_name_indication, Some(None));
        Ok(ClientSide {
            config: Arc::new(config),
            sni: opts.server_name_indication.clone().flatten(),
            has_cert,
        })
    }

    /// The rustls configuration for accepting connections.
    pub(crate) fn server(&self) -> Result<Arc<ServerConfig>> {
        let opts = &self.server;
        let provider = provider(opts)?;
        let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_protocol_versions(&versions(opts))
            .map_err(|err| config_error("server", err))?;
        let verifier = client_cert_verifier(opts, provider)?;
        let Some((chain, key)) = key_pair(opts, "server")? else {
            return Err(Error::invalid(
                "TLS server options: a certfile and keyfile are needed to accept connections",
            ));
        };
        let config = builder
            .with_client_cert_verifier(verifier)
            .with_single_cert(chain, key)
            .map_err(|err| key_error(opts, err))?;
        Ok(Arc::new(config))
    }
}

/// `ssl`'s default `depth`.
const DEFAULT_DEPTH: u8 = 10;

/// What connecting needs besides the host.
#[derive(Clone)]
pub(crate) struct ClientSide {
    pub config: Arc<ClientConfig>,
    /// The SNI option's host, when it is not the node's.
    pub sni: Option<String>,
    /// Whether we have a certificate to present when the server asks.
    pub has_cert: bool,
}

impl fmt::Debug for ClientSide {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientSide")
            .field("sni", &self.sni)
            .field("has_cert", &self.has_cert)
            .finish_non_exhaustive()
    }
}

impl ClientSide {
    /// The name the server's certificate must carry, unless SNI is disabled: the SNI option's,
    /// else `host`.
    pub(crate) fn server_name(&self, host: &str) -> Result<ServerName<'static>> {
        let name = self.sni.as_deref().unwrap_or(host);
        ServerName::try_from(name.to_string()).map_err(|_| {
            Error::invalid(format!(
                "{name:?} is neither a DNS name nor an IP address, so no certificate can name it"
            ))
        })
    }
}

fn versions(opts: &RoleOptions) -> Vec<&'static SupportedProtocolVersion> {
    match &opts.versions {
        Some(versions) => versions.iter().map(|v| v.rustls()).collect(),
        None => vec![&rustls::version::TLS13, &rustls::version::TLS12],
    }
}

/// aws-lc-rs's provider, with the cipher suites restricted to the `ciphers` option.
fn provider(opts: &RoleOptions) -> Result<Arc<CryptoProvider>> {
    let mut provider = rustls::crypto::aws_lc_rs::default_provider();
    if let Some(wanted) = &opts.ciphers {
        let chosen: Vec<SupportedCipherSuite> = provider
            .cipher_suites
            .iter()
            .copied()
            .filter(|suite| wanted.iter().any(|name| cipher_matches(*suite, name)))
            .collect();
        if chosen.is_empty() {
            let known: Vec<String> = provider
                .cipher_suites
                .iter()
                .map(|s| format!("{:?}", s.suite()))
                .collect();
            return Err(Error::invalid(format!(
                "TLS options: none of the ciphers {wanted:?} is implemented (rustls has {})",
                known.join(", ")
            )));
        }
        provider.cipher_suites = chosen;
    }
    Ok(Arc::new(provider))
}

/// Whether an OpenSSL (`ECDHE-RSA-AES128-GCM-SHA256`) or RFC (`TLS_AES_128_GCM_SHA256`) name
/// names `suite`.
fn cipher_matches(suite: SupportedCipherSuite, name: &str) -> bool {
    // rustls spells the TLS 1.3 suites TLS13_..., the RFC and OpenSSL TLS_...
    let rfc = format!("{:?}", suite.suite()).replacen("TLS13_", "TLS_", 1);
    let name = name.trim().to_ascii_uppercase();
    if name == rfc {
        return true;
    }
    // OpenSSL names leave out TLS_ and _WITH, write - for _, and CHACHA20-POLY1305 without
    // its hash.
    let openssl = rfc
        .trim_start_matches("TLS_")
        .replace("_WITH_", "_")
        .replace("AES_128", "AES128")
        .replace("AES_256", "AES256")
        .replace("CHACHA20_POLY1305_SHA256", "CHACHA20_POLY1305")
        .replace('_', "-");
    name == openssl
}

fn roots(opts: &RoleOptions, role: &str) -> Result<Arc<RootCertStore>> {
    let Some(path) = &opts.cacertfile else {
        return Err(Error::invalid(format!(
            "TLS {role} options: verify_peer needs cacertfile, the CAs to check peers against"
        )));
    };
    let mut roots = RootCertStore::empty();
    for cert in certificates(path, "cacertfile")? {
        roots.add(cert).map_err(|err| {
            Error::invalid(format!(
                "cacertfile {}: a CA certificate is unusable: {err}",
                path.display()
            ))
        })?;
    }
    Ok(Arc::new(roots))
}

fn read_pem(path: &Path, option: &str) -> Result<Vec<u8>> {
    std::fs::read(path)
        .map_err(|err| Error::io(format!("reading {option} {}", path.display()), &err))
}

fn certificates(path: &Path, option: &str) -> Result<Vec<CertificateDer<'static>>> {
    let pem = read_pem(path, option)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| {
            Error::invalid(format!(
                "{option} {}: unreadable PEM: {err}",
                path.display()
            ))
        })?;
    if certs.is_empty() {
        return Err(Error::invalid(format!(
            "{option} {}: no PEM certificate (-----BEGIN CERTIFICATE-----) in it",
            path.display()
        )));
    }
    Ok(certs)
}

/// The role's certificate chain and key; `None` when it has no certfile.
fn key_pair(
    opts: &RoleOptions,
    role: &str,
) -> Result<Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>> {
    let Some(certfile) = &opts.certfile else {
        return Ok(None);
    };
    let mut chain = certificates(certfile, "certfile")?;
    if let Some(version) = old_version(&chain[0]) {
        return Err(Error::invalid(format!(
            "TLS {role} options: X.509 v{version} certificate ({}): re-issue it as v3 with a \
             subjectAltName (ErlDP, through webpki, uses v3 certificates only)",
            certfile.display()
        )));
    }
    if let Some(cacertfile) = &opts.cacertfile {
        complete_chain(&mut chain, &certificates(cacertfile, "cacertfile")?);
    }
    // ssl reads the key from the certfile when there is no keyfile.
    let keyfile = opts.keyfile.as_deref().unwrap_or(certfile);
    let pem = read_pem(keyfile, "keyfile")?;
    let key = private_key(&pem, opts.password.as_ref().map(Secret::reveal)).map_err(|why| {
        Error::invalid(format!(
            "TLS {role} options: keyfile {}: {why}",
            keyfile.display()
        ))
    })?;
    Ok(Some((chain, key)))
}

/// Appends to `chain` the CAs of `cas` that issued its last certificate, that one's issuer and
/// so on, up to a self-issued root, as `ssl` sends its own chain: a peer that trusts only the
/// root then accepts a certfile that holds only our certificate, its intermediate CAs being in
/// our cacertfile. Each CA is taken once, so a loop of issuers ends.
fn complete_chain(chain: &mut Vec<CertificateDer<'static>>, cas: &[CertificateDer<'static>]) {
    let mut unused: Vec<&CertificateDer<'static>> =
        cas.iter().filter(|ca| !chain.contains(ca)).collect();
    while let Some(last) = chain.last().and_then(|c| cert::fields(c)) {
        if last.self_issued() {
            return;
        }
        let issuer = last.issuer.to_vec();
        let Some(at) = unused
            .iter()
            .position(|ca| cert::fields(ca).is_some_and(|ca| ca.subject == issuer))
        else {
            return;
        };
        chain.push(unused.swap_remove(at).clone());
    }
}

/// The private key of a PEM file: PKCS#8, PKCS#1 (RSA) or SEC1 (EC), or PKCS#8 encrypted
/// with a password (PBES2, as `openssl genpkey -aes256` and `openssl pkcs8 -topk8 -v2 aes256`
/// write it).
fn private_key(pem: &[u8], password: Option<&str>) -> Result<PrivateKeyDer<'static>, String> {
    if let Some(start) = find(pem, b"-----BEGIN ENCRYPTED PRIVATE KEY-----") {
        let Some(password) = password else {
            return Err("the key is encrypted and no password was given".into());
        };
        let (_, der) = pkcs8::der::pem::decode_vec(&pem[start..])
            .map_err(|err| format!("unreadable encrypted key: {err}"))?;
        let info = pkcs8::EncryptedPrivateKeyInfoRef::try_from(der.as_slice()).map_err(|err| {
            match unknown_scheme(&der) {
                Some(oid) => unsupported_encryption(oid),
                None => format!("unreadable encrypted key: {err}"),
            }
        })?;
        let plain = info.decrypt(password).map_err(|err| {
            use pkcs8::pkcs5::Error as E;
            match err {
                pkcs8::Error::EncryptedPrivateKey(E::UnsupportedAlgorithm { oid }) => {
                    unsupported_encryption(oid)
                }
                pkcs8::Error::EncryptedPrivateKey(E::NoPbes1CryptSupport) => {
                    unsupported_encryption(info.encryption_algorithm.oid())
                }
                err => format!(
                    "cannot decrypt the key with the password given (a wrong password?): {err}"
                ),
            }
        })?;
        return Ok(PrivateKeyDer::Pkcs8(plain.as_bytes().to_vec().into()));
    }
    match PrivateKeyDer::from_pem_slice(pem) {
        Ok(key) => Ok(key),
        Err(_) if find(pem, b"Proc-Type: 4,ENCRYPTED").is_some() => Err(
            "the key is encrypted the traditional OpenSSL way (Proc-Type: 4,ENCRYPTED), which \
             ErlDP cannot read: `openssl pkcs8 -topk8 -v2 aes256` converts it to encrypted PKCS#8"
                .into(),
        ),
        Err(err) => Err(format!("no usable PEM private key in it ({err})")),
    }
}

fn unsupported_encryption(oid: pkcs8::ObjectIdentifier) -> String {
    format!(
        "unsupported key encryption (OID {oid}); convert the key with \
         `openssl pkcs8 -topk8 -v2 aes256`"
    )
}

/// The algorithm that keeps an encrypted key pkcs5 cannot parse from being read: the scheme
/// when it is not PBES2; PBES2's cipher when it is not an AES one (3DES); else PBKDF2's PRF
/// (its `prf` field, after salt, iteration count and an optional key length). `None` when none
/// of those is to blame: the key is then unreadable for another reason.
fn unknown_scheme(der: &[u8]) -> Option<pkcs8::ObjectIdentifier> {
    use pkcs8::der::asn1::AnyRef;
    use pkcs8::der::{Decode, Reader, SliceReader, Tag, Tagged};
    use pkcs8::pkcs5::pbes2;
    use pkcs8::spki::AlgorithmIdentifierRef;
    let info = AnyRef::from_der(der).ok()?;
    let scheme: AlgorithmIdentifierRef = SliceReader::new(info.value()).ok()?.decode().ok()?;
    if scheme.oid != pbes2::PBES2_OID {
        return Some(scheme.oid);
    }
    let params = scheme.parameters?;
    let mut params = SliceReader::new(params.value()).ok()?;
    let kdf: AlgorithmIdentifierRef = params.decode().ok()?;
    let cipher: AlgorithmIdentifierRef = params.decode().ok()?;
    let aes = [
        pbes2::AES_128_CBC_OID,
        pbes2::AES_192_CBC_OID,
        pbes2::AES_256_CBC_OID,
        pbes2::AES_128_GCM_OID,
        pbes2::AES_256_GCM_OID,
    ];
    if !aes.contains(&cipher.oid) {
        return Some(cipher.oid);
    }
    if kdf.oid != pbes2::PBKDF2_OID {
        return None;
    }
    let mut fields = SliceReader::new(kdf.parameters?.value()).ok()?;
    let (_salt, _iterations): (AnyRef, AnyRef) = (fields.decode().ok()?, fields.decode().ok()?);
    while !fields.is_finished() {
        let field: AnyRef = fields.decode().ok()?;
        if field.tag() == Tag::Sequence {
            // An AlgorithmIdentifier's contents begin with its OID; a PRF pkcs5 knows is not
            // what failed.
            let oid = SliceReader::new(field.value()).ok()?.decode().ok()?;
            let prf = AlgorithmIdentifierRef {
                oid,
                parameters: None,
            };
            return pbes2::Pbkdf2Prf::try_from(prf).is_err().then_some(oid);
        }
    }
    None
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn key_error(opts: &RoleOptions, err: rustls::Error) -> Error {
    let files = format!(
        "certfile {} and keyfile {}",
        opts.certfile.as_deref().unwrap_or(Path::new("?")).display(),
        opts.keyfile
            .as_deref()
            .or(opts.certfile.as_deref())
            .unwrap_or(Path::new("?"))
            .display()
    );
    match err {
        rustls::Error::InconsistentKeys(_) => {
            Error::invalid(format!("{files}: the key does not match the certificate"))
        }
        other => Error::invalid(format!("{files}: {other}")),
    }
}

fn config_error(role: &str, err: rustls::Error) -> Error {
    Error::invalid(format!("TLS {role} options: {err}"))
}

/// The handshake-signature methods that [`ServerCertVerifier`] and [`ClientCertVerifier`] both
/// require, checked with the provider's algorithms (the field `$algorithms`) as webpki's own
/// verifiers check them: ours differ from webpki's only in which certificates they accept.
macro_rules! signature_checks {
    ($algorithms:ident) => {
        signature_checks!($algorithms, verify_tls12_signature, verify_tls13_signature);

        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            self.$algorithms.supported_schemes()
        }
    };
    // Each check is rustls's function of the same name, for TLS 1.2 and 1.3.
    ($algorithms:ident, $($check:ident),+) => {$(
        fn $check(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::$check(message, cert, dss, &self.$algorithms)
        }
    )+};
}

/// How a client checks the server's certificate: for `verify_peer`, webpki's checks (the chain,
/// and the host name unless SNI is disabled) plus `ssl`'s `depth`, counted on the
/// intermediates the peer sends (webpki does not tell which of them its path used); for
/// `verify_none`, not at all, but the handshake signatures are still checked, so the session is
/// with whoever holds the certificate's key.
#[derive(Debug)]
struct ServerCertCheck {
    peer: Option<PeerCheck>,
    algorithms: WebPkiSupportedAlgorithms,
}

/// What `verify_peer` checks of the server's certificate.
#[derive(Debug)]
struct PeerCheck {
    roots: Arc<RootCertStore>,
    depth: u8,
    /// `ssl` checks the host name against the SNI it sends; `{server_name_indication,
    /// disable}` sends none, and so leaves the chain alone to be checked.
    check_host: bool,
    /// Whether the host name may match through a wildcard, as webpki always lets it; `ssl`'s
    /// default check matches names exactly.
    match_wildcards: bool,
}

impl ServerCertCheck {
    fn new(opts: &RoleOptions, provider: &Arc<CryptoProvider>) -> Result<ServerCertCheck> {
        let peer = match opts.verify.unwrap_or(Verify::Peer) {
            Verify::Peer => Some(PeerCheck {
                roots: roots(opts, "client")?,
                depth: opts.depth.unwrap_or(DEFAULT_DEPTH),
                check_host: !matches!(opts.server_name_indication, Some(None)),
                match_wildcards: opts.match_wildcards,
            }),
            Verify::None => None,
        };
        Ok(ServerCertCheck {
            peer,
            algorithms: provider.signature_verification_algorithms,
        })
    }
}

/// `ssl`'s `depth` on the certificates the peer sent after its own. A self-issued one is a
/// root, the anchor of the path and not one of its intermediates: BEAM sends its root whenever
/// its certfile holds only its certificate.
fn check_depth(intermediates: &[CertificateDer<'_>], depth: u8) -> Result<(), rustls::Error> {
    let count = intermediates
        .iter()
        .filter(|c| !cert::fields(c).is_some_and(|c| c.self_issued()))
        .count();
    if count > usize::from(depth) {
        return Err(rustls::Error::General(format!(
            "the peer's chain has {count} intermediate certificates, more than depth {depth} allows"
        )));
    }
    Ok(())
}

impl ServerCertVerifier for ServerCertCheck {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        _ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if let Some(peer) = &self.peer {
            check_version(end_entity)?;
            let cert = ParsedCertificate::try_from(end_entity)?;
            verify_server_cert_signed_by_trust_anchor(
                &cert,
                &peer.roots,
                intermediates,
                now,
                self.algorithms.all,
            )?;
            if peer.check_host {
                verify_server_name(&cert, server_name)?;
                if !peer.match_wildcards {
                    exact_name(end_entity, server_name)?;
                }
            }
            check_depth(intermediates, peer.depth)?;
        }
        Ok(ServerCertVerified::assertion())
    }

    signature_checks!(algorithms);
}

/// Refuses a certificate that webpki found valid for `server_name` if no dNSName of it is that
/// name exactly, as `ssl`'s default host check refuses one that names it only through a
/// wildcard. Addresses match exactly in webpki already.
fn exact_name(end_entity: &[u8], server_name: &ServerName<'_>) -> Result<(), rustls::Error> {
    let ServerName::DnsName(host) = server_name else {
        return Ok(());
    };
    let host = host.as_ref().trim_end_matches('.');
    // What webpki accepted and this reader cannot read stands as webpki judged it.
    let Some(names) = cert::dns_names(end_entity) else {
        return Ok(());
    };
    if names
        .iter()
        .any(|name| name.trim_end_matches('.').eq_ignore_ascii_case(host))
    {
        return Ok(());
    }
    let wildcards: Vec<&str> = names.into_iter().filter(|n| n.contains('*')).collect();
    Err(refused(Refusal::WildcardOnly {
        host: host.to_string(),
        wildcards: wildcards.join(", "),
    }))
}

/// The version of a certificate older than v3, which webpki refuses with an error that
/// names neither the version nor the remedy.
fn old_version(der: &[u8]) -> Option<u8> {
    cert::fields(der)
        .map(|fields| fields.version)
        .filter(|&version| version < 3)
}

/// Refuses a peer's certificate older than v3 before webpki does, to say so in words (BEAM
/// accepts v1 client certificates).
fn check_version(end_entity: &[u8]) -> Result<(), rustls::Error> {
    match old_version(end_entity) {
        Some(version) => Err(refused(Refusal::Version(version))),
        None => Ok(()),
    }
}

/// Why we refuse a peer's certificate where rustls has no variant that says it.
#[derive(Debug)]
enum Refusal {
    /// It names the host only through a wildcard, and the option that allows that is absent.
    WildcardOnly { host: String, wildcards: String },
    /// Its X.509 version, older than v3.
    Version(u8),
}

impl fmt::Display for Refusal {
    /// What follows "the server's certificate" or "the client's certificate".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::WildcardOnly { host, wildcards } => write!(
                f,
                "names host {host} only through the wildcard {wildcards}, which ssl matches only \
                 with {{customize_hostname_check, [{{match_fun, \
                 public_key:pkix_verify_hostname_match_fun(https)}}]}} in the client options \
                 (its default check, and so ours, matches names exactly); ErlDP reads that from \
                 an option file (tls optfile), or takes TlsConfig::match_wildcards(true)"
            ),
            Refusal::Version(version) => write!(
                f,
                "is an X.509 v{version} certificate, which ErlDP cannot check (webpki reads v3 \
                 only, where BEAM takes v1 too): the peer's certificate must be re-issued as v3 \
                 with a subjectAltName"
            ),
        }
    }
}

impl std::error::Error for Refusal {}

fn refused(why: Refusal) -> rustls::Error {
    rustls::Error::InvalidCertificate(CertificateError::Other(rustls::OtherError(Arc::new(why))))
}

/// How a server with `verify_peer` checks the client's certificate: webpki's check, then
/// `depth` as [`ServerCertCheck`] counts it.
#[derive(Debug)]
struct ClientCertCheck {
    inner: Arc<dyn ClientCertVerifier>,
    depth: u8,
    algorithms: WebPkiSupportedAlgorithms,
}

/// How a server checks the client's certificate as `verify` and `fail_if_no_peer_cert` say.
fn client_cert_verifier(
    opts: &RoleOptions,
    provider: Arc<CryptoProvider>,
) -> Result<Arc<dyn ClientCertVerifier>> {
    match opts.verify.unwrap_or(Verify::None) {
        Verify::None => {
            if opts.fail_if_no_peer_cert == Some(true) {
                return Err(Error::invalid(
                    "TLS server options: fail_if_no_peer_cert requires verify_peer",
                ));
            }
            Ok(WebPkiClientVerifier::no_client_auth())
        }
        Verify::Peer => {
            let roots = roots(opts, "server")?;
            let algorithms = provider.signature_verification_algorithms;
            let builder = WebPkiClientVerifier::builder_with_provider(roots, provider);
            let builder = if opts.fail_if_no_peer_cert.unwrap_or(true) {
                builder
            } else {
                builder.allow_unauthenticated()
            };
            let inner = builder
                .build()
                .map_err(|err| Error::invalid(format!("TLS server options: {err}")))?;
            Ok(Arc::new(ClientCertCheck {
                inner,
                depth: opts.depth.unwrap_or(DEFAULT_DEPTH),
                algorithms,
            }))
        }
    }
}

impl ClientCertVerifier for ClientCertCheck {
    fn offer_client_auth(&self) -> bool {
        self.inner.offer_client_auth()
    }

    fn client_auth_mandatory(&self) -> bool {
        self.inner.client_auth_mandatory()
    }

    fn root_hint_subjects(&self) -> &[rustls::DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        check_version(end_entity)?;
        let verified = self
            .inner
            .verify_client_cert(end_entity, intermediates, now)?;
        check_depth(intermediates, self.depth)?;
        Ok(verified)
    }

    signature_checks!(algorithms);
}

/// Why a TLS handshake failed, in words that name the cause. `we_have_cert` says whether we
/// had a certificate to present, for when the peer complains that we sent none.
pub(crate) fn explain(err: &rustls::Error, role: Role, we_have_cert: bool) -> String {
    use rustls::Error as E;
    let peers = match role {
        Role::Client => "the server's certificate",
        Role::Server => "the client's certificate",
    };
    match err {
        E::InvalidCertificate(cert) => match cert {
            CertificateError::UnknownIssuer => format!(
                "{peers} is not signed by a CA in our cacertfile (unknown CA)"
            ),
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                format!("{peers} has expired{}", when(cert))
            }
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                format!("{peers} is not valid yet{}", when(cert))
            }
            CertificateError::NotValidForName => format!("{peers} is for another host name"),
            CertificateError::NotValidForNameContext { expected, presented } => format!(
                "{peers} is not valid for host {} (wrong host name: it names {})",
                expected.to_str(),
                if presented.is_empty() { "no host".to_string() } else { presented.join(", ") }
            ),
            CertificateError::InvalidPurposeContext { required, presented } => format!(
                "{peers} is refused for its purpose: its extendedKeyUsage allows {} only, a {} \
                 certificate needs {}",
                presented.iter().map(purpose).collect::<Vec<_>>().join(" and "),
                peer_role(role),
                purpose(required)
            ),
            CertificateError::InvalidPurpose => format!(
                "{peers} is refused for its purpose: its extendedKeyUsage does not allow a {} \
                 certificate",
                peer_role(role)
            ),
            CertificateError::Other(other) => match other.0.downcast_ref::<Refusal>() {
                Some(why) => format!("{peers} {why}"),
                None => format!("{peers} was rejected: {other:?}"),
            },
            other => format!("{peers} was rejected: {other:?}"),
        },
        E::NoCertificatesPresented => {
            "the client presented no certificate, and fail_if_no_peer_cert requires one".into()
        }
        E::AlertReceived(alert) => match alert {
            AlertDescription::UnknownCA => {
                "the peer does not trust our certificate: it is not signed by a CA in the peer's cacertfile (alert unknown_ca)".into()
            }
            AlertDescription::CertificateExpired => {
                "the peer refused our certificate as expired (alert certificate_expired)".into()
            }
            AlertDescription::CertificateRequired => {
                "the peer demands a client certificate (fail_if_no_peer_cert) and we have none for the client role".into()
            }
            AlertDescription::HandshakeFailure if role == Role::Client && !we_have_cert => {
                "the peer refused the handshake (alert handshake_failure); it demands a client certificate (fail_if_no_peer_cert) and we have none for the client role".into()
            }
            AlertDescription::HandshakeFailure => format!(
                "the peer refused the handshake (alert handshake_failure): it may not accept our certificate (its key usage or extendedKeyUsage, which must allow {}, its host names, validity or CA), or share no cipher suite with us",
                our_use(role)
            ),
            AlertDescription::BadCertificate | AlertDescription::UnsupportedCertificate => format!(
                "the peer refused our certificate (alert {alert:?}): most likely its key usage or extendedKeyUsage does not allow {}, else its host names or validity do not satisfy the peer",
                our_use(role)
            ),
            AlertDescription::InsufficientSecurity => {
                "no cipher suite in common with the peer (alert insufficient_security)".into()
            }
            AlertDescription::ProtocolVersion => {
                "no TLS version in common with the peer (alert protocol_version)".into()
            }
            other => format!("the peer ended the TLS handshake with alert {other:?}"),
        },
        E::PeerIncompatible(why) => format!("the peer's TLS is incompatible with ours: {why:?}"),
        E::InvalidMessage(_) | E::InappropriateMessage { .. } => {
            "the peer does not speak TLS: is it a TLS node (-proto_dist inet_tls)?".into()
        }
        other => format!("TLS handshake failed: {other}"),
    }
}

/// What our certificate's extendedKeyUsage must allow in `role`, as the peer checks it.
fn our_use(role: Role) -> &'static str {
    match role {
        Role::Client => "a TLS client (clientAuth)",
        Role::Server => "a TLS server (serverAuth)",
    }
}

/// What the peer is, as our side of the handshake makes it.
fn peer_role(role: Role) -> &'static str {
    match role {
        Role::Client => "server",
        Role::Server => "client",
    }
}

/// An extendedKeyUsage purpose as X.509 names it, or its OID.
fn purpose(purpose: &rustls::ExtendedKeyPurpose) -> String {
    match purpose {
        rustls::ExtendedKeyPurpose::ServerAuth => "serverAuth".into(),
        rustls::ExtendedKeyPurpose::ClientAuth => "clientAuth".into(),
        rustls::ExtendedKeyPurpose::Other(arcs) => arcs
            .iter()
            .map(usize::to_string)
            .collect::<Vec<_>>()
            .join("."),
    }
}

fn when(cert: &CertificateError) -> String {
    let date = |t: &UnixTime| utc_date(t.as_secs());
    match cert {
        CertificateError::ExpiredContext { not_after, .. } => {
            format!(" (valid until {})", date(not_after))
        }
        CertificateError::NotValidYetContext { not_before, .. } => {
            format!(" (valid from {})", date(not_before))
        }
        _ => String::new(),
    }
}

/// Which side of the TLS handshake we are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    Client,
    Server,
}

/// `YYYY-MM-DD` of a Unix time (UTC).
fn utc_date(secs: u64) -> String {
    let (year, month, day) = crate::logging::civil_from_days((secs / 86_400) as i64);
    format!("{year:04}-{month:02}-{day:02}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use erldp_testkit::{Otp, TlsFiles};

    fn client_error(config: &TlsConfig) -> String {
        config
            .client()
            .expect_err("a bad configuration")
            .to_string()
    }

    /// The node's certificate, key and CA among `files`, the configuration the TLS tests
    /// start from.
    pub(super) fn node_config(files: &TlsFiles) -> TlsConfig {
        TlsConfig::new(
            files.path("node.pem"),
            files.path("node.key"),
            files.path("ca.pem"),
        )
    }

    #[test]
    fn bad_key_and_certificate_files_are_named() {
        let files = TlsFiles::generate(&Otp::System);
        let good = node_config(&files);
        good.client().expect("client");
        good.server().expect("server");

        let mismatched = TlsConfig::new(
            files.path("node.pem"),
            files.path("client.key"),
            files.path("ca.pem"),
        );
        let err = mismatched.server().expect_err("mismatched").to_string();
        assert!(
            err.contains("the key does not match the certificate"),
            "{err}"
        );
        assert!(
            err.contains("node.pem") && err.contains("client.key"),
            "{err}"
        );
        assert!(client_error(&mismatched).contains("the key does not match"));

        let (cert, key, ca) = (
            files.path("node.pem"),
            files.path("node.key"),
            files.path("ca.pem"),
        );
        let garbage = files.write("garbage.pem", "-----BEGIN CERTIFICATE-----\nnot base64!\n");
        let text = files.write("text.pem", "hello\n");
        let encrypted = files.write(
            "encrypted.key",
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIBvTBXBgkqhkiG9w0BBQ0wSjApBgkqhkiG9w0BBQwwHAQI\n-----END ENCRYPTED PRIVATE KEY-----\n",
        );
        for (case, cert, key, ca, expected) in [
            (
                "certfile of bad PEM",
                &garbage,
                &key,
                &ca,
                &["garbage.pem: unreadable PEM"][..],
            ),
            (
                "certfile of text",
                &text,
                &key,
                &ca,
                &["text.pem: no PEM certificate"],
            ),
            (
                "keyfile of text",
                &cert,
                &text,
                &ca,
                &["text.pem: no usable PEM private key"],
            ),
            (
                "cacertfile of text",
                &cert,
                &key,
                &text,
                &["cacertfile", "text.pem"],
            ),
            (
                "encrypted keyfile without a password",
                &cert,
                &encrypted,
                &ca,
                &["the key is encrypted and no password was given"],
            ),
        ] {
            let err = client_error(&TlsConfig::new(cert, key, ca));
            for part in expected {
                assert!(err.contains(part), "{case}: {part:?} not in {err}");
            }
        }

        let missing = files.path("missing.pem");
        let err = TlsConfig::new(&missing, &key, &ca)
            .server()
            .expect_err("missing");
        assert!(matches!(err, Error::Io(_)), "{err:?}");
        assert!(
            err.to_string().contains("reading certfile") && err.to_string().contains("missing.pem")
        );
    }

    #[test]
    fn encrypted_keys_are_read_with_their_password() {
        let files = TlsFiles::generate(&Otp::System);
        let config = |key: &std::path::Path| {
            TlsConfig::new(files.path("node.pem"), key, files.path("ca.pem"))
        };
        let encrypted = files.path("node_encrypted.key");
        let good = config(&encrypted).password(erldp_testkit::KEY_PASSWORD);
        good.server().expect("the right password");
        good.client().expect("the right password");
        let err = client_error(&config(&encrypted).password("guess"));
        assert!(
            err.contains("cannot decrypt the key with the password given"),
            "{err}"
        );
        assert!(err.contains("node_encrypted.key"), "{err}");
        let err = client_error(&config(&encrypted));
        assert!(
            err.contains("the key is encrypted and no password was given"),
            "{err}"
        );
        let legacy = files.write(
            "legacy.key",
            "-----BEGIN EC PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-256-CBC,00\n\nAAAA\n-----END EC PRIVATE KEY-----\n",
        );
        let err = client_error(&config(&legacy).password("pw"));
        assert!(err.contains("traditional OpenSSL way"), "{err}");

        // What `openssl pkcs8 -topk8 -v2 des3` and `-v2prf hmacWithSHA1` write: PBES2 with a
        // cipher or a PRF that pkcs5 leaves out, named, with no blame on the password.
        let pem = std::fs::read_to_string(&encrypted).expect("encrypted key");
        let (_, der) = pkcs8::der::pem::decode_vec(pem.as_bytes()).expect("PEM");
        // AES with hmacWithSHA256, both of which pkcs5 reads: neither is blamed should the key
        // fail to parse for another reason (a salt longer than pkcs5 takes, say).
        assert_eq!(unknown_scheme(&der), None);
        let hmac_sha256 = [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x02, 0x09];
        let at = find(&der, &hmac_sha256).expect("PBKDF2 with hmacWithSHA256");
        let mut sha1 = der.clone();
        sha1[at + 7] = 0x07;
        // hmacWithSHA512-256, which pkcs5 cannot even parse: the PRF is named, not the cipher.
        let mut sha512_256 = der.clone();
        sha512_256[at + 7] = 0x0d;
        let aes256 = [
            0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x2a,
        ];
        let at = find(&der, &aes256).expect("AES-256-CBC");
        let iv = &der[at + aes256.len()..][..18];
        assert_eq!(iv[..2], [0x04, 16], "a 16-byte IV follows");
        let des3_with_iv = [
            0x06, 0x08, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x03, 0x07, 0x04, 8, 0, 0, 0, 0, 0, 0,
            0, 0,
        ];
        // 3DES's algorithm identifier with its 8-byte IV is 9 bytes shorter than AES's: the
        // lengths of the three sequences around it shrink by as much.
        let mut des3 = der[..at].to_vec();
        des3.extend_from_slice(&des3_with_iv);
        des3.extend_from_slice(&der[at + aes256.len() + 18..]);
        shrink_enclosing(&mut des3, at, 9);
        for (case, der, oid) in [
            ("hmacWithSHA1", sha1, "1.2.840.113549.2.7"),
            ("hmacWithSHA512-256", sha512_256, "1.2.840.113549.2.13"),
            ("3DES", des3, "1.2.840.113549.3.7"),
        ] {
            let pem = pkcs8::der::pem::encode_string(
                "ENCRYPTED PRIVATE KEY",
                pkcs8::der::pem::LineEnding::LF,
                &der,
            )
            .expect("PEM");
            let key = files.write(&format!("{case}.key"), &pem);
            let err = client_error(&config(&key).password(erldp_testkit::KEY_PASSWORD));
            assert!(
                err.contains(&format!("unsupported key encryption (OID {oid})"))
                    && err.contains("openssl pkcs8 -topk8 -v2 aes256")
                    && !err.contains("password"),
                "{case}: {err}"
            );
        }
    }

    /// Lowers by `by` the short-form lengths of the DER sequences that enclose byte `at`.
    fn shrink_enclosing(der: &mut [u8], at: usize, by: u8) {
        let mut pos = 0;
        while pos < at {
            let (tag, len) = (der[pos], der[pos + 1]);
            let (header, content) = match len {
                0x81 => (3, usize::from(der[pos + 2])),
                0x82 => (
                    4,
                    usize::from(der[pos + 2]) << 8 | usize::from(der[pos + 3]),
                ),
                len => (2, usize::from(len)),
            };
            if tag == 0x30 && pos + header + content > at {
                match header {
                    2 => der[pos + 1] -= by,
                    3 => der[pos + 2] -= by,
                    _ => {
                        let len = (content - usize::from(by)) as u16;
                        der[pos + 2..pos + 4].copy_from_slice(&len.to_be_bytes());
                    }
                }
                pos += header;
            } else {
                pos += header + content;
            }
        }
    }

    #[test]
    fn options_that_cannot_work_are_refused_up_front() {
        let files = TlsFiles::generate(&Otp::System);
        let path = |name: &str| files.path(name).display().to_string();
        let config = TlsConfig::parse_optfile(&format!(
            "[{{server, [{{certfile, {:?}}}, {{keyfile, {:?}}}, {{verify, verify_peer}}]}}]",
            path("node.pem"),
            path("node.key")
        ))
        .unwrap();
        let err = config.server().expect_err("no cacertfile").to_string();
        assert!(err.contains("verify_peer needs cacertfile"), "{err}");
        // The client role of the same file verifies by default, and has no CAs either.
        assert!(client_error(&config).contains("verify_peer needs cacertfile"));

        let err = TlsConfig::parse_optfile("[{client, [{verify, verify_none}]}]")
            .unwrap()
            .server()
            .expect_err("no certificate")
            .to_string();
        assert!(err.contains("a certfile and keyfile are needed"), "{err}");

        let err = node_config(&files)
            .ciphers(&["DES-CBC3-SHA"])
            .client()
            .expect_err("no cipher")
            .to_string();
        assert!(err.contains("none of the ciphers"), "{err}");
    }

    /// `name` among `files` as the DER of its first certificate.
    fn first_der(files: &TlsFiles, name: &str) -> CertificateDer<'static> {
        certificates(&files.path(name), "certfile").expect(name)[0].clone()
    }

    #[test]
    fn v1_certificates_are_named_ours_at_startup_and_a_peers_when_refused() {
        let files = TlsFiles::generate(&Otp::System);
        let v1 = cert::tests::as_v1(&first_der(&files, "node.pem"));
        let pem =
            pkcs8::der::pem::encode_string("CERTIFICATE", pkcs8::der::pem::LineEnding::LF, &v1)
                .expect("PEM");
        let v1_file = files.write("v1.pem", &pem);
        let ours = TlsConfig::new(&v1_file, files.path("node.key"), files.path("ca.pem"));
        let expected = format!(
            "X.509 v1 certificate ({}): re-issue it as v3 with a subjectAltName",
            v1_file.display()
        );
        for err in [
            ours.server().expect_err("v1"),
            ours.client().expect_err("v1"),
        ] {
            assert!(err.to_string().contains(&expected), "{err}");
        }

        let config = node_config(&files);
        let provider = rustls::crypto::aws_lc_rs::default_provider();
        let server_check = ServerCertCheck::new(&config.client, &Arc::new(provider.clone()))
            .expect("client verifier");
        let host = ServerName::try_from("localhost").expect("a name");
        let now = UnixTime::now();
        let err = server_check
            .verify_server_cert(&CertificateDer::from(v1.clone()), &[], &host, &[], now)
            .expect_err("v1");
        let said = explain(&err, Role::Client, true);
        assert!(
            said.contains("the server's certificate is an X.509 v1 certificate"),
            "{said}"
        );
        let client_check =
            client_cert_verifier(&config.server, Arc::new(provider)).expect("server verifier");
        let err = client_check
            .verify_client_cert(&CertificateDer::from(v1), &[], now)
            .expect_err("v1");
        let said = explain(&err, Role::Server, true);
        assert!(
            said.contains("the client's certificate is an X.509 v1 certificate"),
            "{said}"
        );
    }

    #[test]
    fn a_client_certificate_for_servers_only_is_named_for_its_purpose() {
        let files = TlsFiles::generate(&Otp::System);
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let check = client_cert_verifier(&node_config(&files).server, provider).expect("verifier");
        let err = check
            .verify_client_cert(&first_der(&files, "server_only.pem"), &[], UnixTime::now())
            .expect_err("serverAuth only");
        let said = explain(&err, Role::Server, true);
        assert!(
            said.contains(
                "its extendedKeyUsage allows serverAuth only, a client certificate needs clientAuth"
            ),
            "{said}"
        );
    }

    #[test]
    fn dates_are_civil() {
        assert_eq!(utc_date(0), "1970-01-01");
        assert_eq!(utc_date(978_307_200), "2001-01-01");
        assert_eq!(utc_date(951_782_400), "2000-02-29");
        assert_eq!(utc_date(4_102_444_800), "2100-01-01");
    }

    #[test]
    fn cipher_names_of_both_styles_match() {
        let provider = rustls::crypto::aws_lc_rs::default_provider();
        let suite = |name: &str| {
            provider
                .cipher_suites
                .iter()
                .copied()
                .find(|s| format!("{:?}", s.suite()) == name)
                .expect(name)
        };
        let ecdsa = suite("TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384");
        assert!(cipher_matches(ecdsa, "ECDHE-ECDSA-AES256-GCM-SHA384"));
        assert!(cipher_matches(
            ecdsa,
            "tls_ecdhe_ecdsa_with_aes_256_gcm_sha384"
        ));
        assert!(!cipher_matches(ecdsa, "ECDHE-RSA-AES256-GCM-SHA384"));
        let chacha = suite("TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256");
        assert!(cipher_matches(chacha, "ECDHE-RSA-CHACHA20-POLY1305"));
        assert!(cipher_matches(
            suite("TLS13_AES_128_GCM_SHA256"),
            "TLS_AES_128_GCM_SHA256"
        ));
    }
}
