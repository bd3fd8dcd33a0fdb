//! Certificates for TLS distribution tests, made at run time (rcgen), and the option files
//! BEAM's `-ssl_dist_optfile` reads.
//!
//! [`TlsFiles::generate`] writes a fresh set of PEM files into a directory that a given [`Otp`]
//! can read (inside its chroot, for chroot peers). Every certificate has an ECDSA P-256 key;
//! the node certificates name the loopback hosts a test node can have: the short host name
//! (`-sname`), `localhost`, `127.0.0.1` and `::1`, and the hosts given to
//! [`TlsFiles::generate_for`] (the addresses of a [`Network`](crate::Network)'s hosts).
//! Addresses are listed both as IP addresses and as DNS names: a BEAM client checks a node
//! host that is an address against the DNS names (it is the SNI it sends), rustls against the
//! IP addresses.
//!
//! | file | what it is |
//! |---|---|
//! | `ca.pem` | the CA every good certificate chains to |
//! | `other_ca.pem` | a CA that signed only `unknown_ca.pem` |
//! | `node.pem`, `node.key` | a node certificate (server and client use) |
//! | `client.pem`, `client.key` | a second node certificate, for the client role |
//! | `expired.pem`, `expired.key` | valid in 2000 only |
//! | `future.pem`, `future.key` | valid from 2090 |
//! | `wrong_host.pem`, `wrong_host.key` | for `wrong.example` only |
//! | `unknown_ca.pem`, `unknown_ca.key` | the right hosts, signed by `other_ca.pem` |
//! | `cn_only.pem`, `cn_only.key` | the short host name as common name, no subjectAltName |
//! | `chained.pem`, `chained.key` | a node certificate signed by an intermediate CA, followed by that CA's certificate |
//! | `server_only.pem`, `server_only.key` | a node certificate whose extendedKeyUsage is serverAuth alone |
//! | `wildcard.pem`, `wildcard.key` | for [`WILDCARD`] only (so for host `a.example.com` through the wildcard alone) |
//! | `chained_leaf.pem` | the node certificate of `chained.pem` alone |
//! | `ca_chain.pem` | the intermediate CA of `chained.pem`, then `ca.pem`'s CA |
//! | `node_encrypted.key` | `node.key` encrypted with [`KEY_PASSWORD`] (PKCS#8, PBES2 with PBKDF2-SHA256 and AES-256-CBC) |

use std::fs;
use std::path::PathBuf;

use rcgen::{
    date_time_ymd, BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};

use crate::otp::Otp;
use crate::{random_name, short_hostname};

/// The password of `node_encrypted.key`.
pub const KEY_PASSWORD: &str = "erldp secret";

/// The one name of `wildcard.pem`.
pub const WILDCARD: &str = "*.example.com";

/// A directory of certificates and keys for one test, deleted when dropped.
pub struct TlsFiles {
    dir: PathBuf,
    otp: Otp,
}

impl TlsFiles {
    /// Generates the files of the table above into a new directory that `otp`'s programs can
    /// read: under the cargo target directory for the system OTP, under the chroot's
    /// `/var/tmp` for a chroot.
    pub fn generate(otp: &Otp) -> TlsFiles {
        TlsFiles::generate_for(otp, &[])
    }

    /// [`generate`](Self::generate), with node certificates that name `hosts` too (host names
    /// or IP addresses).
    pub fn generate_for(otp: &Otp, hosts: &[String]) -> TlsFiles {
        let base = match otp {
            Otp::System => crate::otp::target_dir().join("erldp-testkit"),
            Otp::Chroot(root) => root.join("var/tmp/erldp-testkit"),
        };
        let dir = base.join(random_name("tls-"));
        fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
        let files = TlsFiles {
            dir,
            otp: otp.clone(),
        };

        let (ca, ca_pem) = new_ca("ErlDP test CA");
        let (other_ca, other_ca_pem) = new_ca("ErlDP other test CA");
        files.write("ca.pem", &ca_pem);
        files.write("other_ca.pem", &other_ca_pem);
        let mut names = node_hosts();
        names.extend_from_slice(hosts);
        let hosts = names;
        let valid = (2000, 2100);
        let node_key = files.leaf("node", &ca, "node", &hosts, valid);
        files.write("node_encrypted.key", &encrypted(&node_key));
        files.leaf("client", &ca, "client", &hosts, valid);
        files.leaf("expired", &ca, "expired", &hosts, (2000, 2001));
        files.leaf("future", &ca, "future", &hosts, (2090, 2100));
        files.leaf("wrong_host", &ca, "wrong", &["wrong.example".into()], valid);
        files.leaf("wildcard", &ca, "wildcard", &[WILDCARD.into()], valid);
        files.leaf("unknown_ca", &other_ca, "unknown", &hosts, valid);
        files.leaf("cn_only", &ca, &short_hostname(), &[], valid);
        let server_auth = [ExtendedKeyUsagePurpose::ServerAuth];
        files.leaf_for("server_only", &ca, "server", &hosts, valid, &server_auth);
        let (intermediate, intermediate_pem) = new_intermediate(&ca);
        files.leaf("chained", &intermediate, "chained", &hosts, valid);
        let leaf = std::fs::read_to_string(files.path("chained.pem")).expect("chained.pem");
        files.write("chained_leaf.pem", &leaf);
        files.write("chained.pem", &format!("{leaf}{intermediate_pem}"));
        files.write("ca_chain.pem", &format!("{intermediate_pem}{ca_pem}"));
        files
    }

    /// The host path of one of the files (or of any name in the directory).
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// The path under which the OTP installation sees the file, for option files and `erl`
    /// arguments.
    pub fn inside(&self, name: &str) -> PathBuf {
        self.otp.inside(&self.path(name))
    }

    /// Writes `contents` to `name` in the directory and returns its host path.
    pub fn write(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.path(name);
        fs::write(&path, contents).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
        path
    }

    /// Writes an `-ssl_dist_optfile` named `name`: `[{server, SERVER}, {client, CLIENT}]`,
    /// each a list of options in Erlang syntax. `{file, NAME}` anywhere in them stands for the
    /// string of the file NAME's path as the OTP installation sees it. Returns the host path.
    pub fn optfile(&self, name: &str, server: &str, client: &str) -> PathBuf {
        let text = format!(
            "%% made by erldp-testkit\n[{{server, {}}},\n {{client, {}}}].\n",
            self.expand(server),
            self.expand(client)
        );
        self.write(name, &text)
    }

    /// The options of a node that verifies its peers and presents `node.pem` in both roles, as
    /// an option file would list them for one role (see [`optfile`](Self::optfile)).
    pub fn verifying_opts(&self, cert: &str) -> String {
        format!(
            "[{{certfile, {{file, \"{cert}.pem\"}}}}, {{keyfile, {{file, \"{cert}.key\"}}}}, \
             {{cacertfile, {{file, \"ca.pem\"}}}}, {{verify, verify_peer}}]"
        )
    }

    fn expand(&self, opts: &str) -> String {
        let mut out = String::new();
        let mut rest = opts;
        while let Some(at) = rest.find("{file, \"") {
            out.push_str(&rest[..at]);
            let after = &rest[at + "{file, \"".len()..];
            let end = after
                .find("\"}")
                .unwrap_or_else(|| panic!("unterminated {{file, ...}} in {opts}"));
            let path = self.inside(&after[..end]);
            out.push_str(&format!("{:?}", path.display().to_string()));
            rest = &after[end + 2..];
        }
        out.push_str(rest);
        out
    }

    /// A certificate for both server and client use.
    fn leaf(
        &self,
        file: &str,
        issuer: &Issuer<'static, KeyPair>,
        common_name: &str,
        hosts: &[String],
        valid: (i32, i32),
    ) -> KeyPair {
        let both = [
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        self.leaf_for(file, issuer, common_name, hosts, valid, &both)
    }

    fn leaf_for(
        &self,
        file: &str,
        issuer: &Issuer<'static, KeyPair>,
        common_name: &str,
        hosts: &[String],
        (from_year, until_year): (i32, i32),
        purposes: &[ExtendedKeyUsagePurpose],
    ) -> KeyPair {
        let key = KeyPair::generate().expect("generating a key");
        let mut params = CertificateParams::new(hosts.to_vec()).expect("certificate names");
        // BEAM checks a node's host that is an address as it checks a name (it is the SNI it
        // sends), against the DNS names; rustls against the IP addresses. Both are listed.
        for host in hosts
            .iter()
            .filter(|h| h.parse::<std::net::IpAddr>().is_ok())
        {
            params.subject_alt_names.push(SanType::DnsName(
                host.as_str().try_into().expect("an address as IA5 text"),
            ));
        }
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params.not_before = date_time_ymd(from_year, 1, 1);
        params.not_after = date_time_ymd(until_year, 1, 1);
        params.use_authority_key_identifier_extension = true;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = purposes.to_vec();
        let cert = params
            .signed_by(&key, issuer)
            .expect("signing a certificate");
        self.write(&format!("{file}.pem"), &cert.pem());
        self.write(&format!("{file}.key"), &key.serialize_pem());
        key
    }
}

impl Drop for TlsFiles {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// The names a test node's certificate must carry to be valid for any loopback node name.
fn node_hosts() -> Vec<String> {
    [&short_hostname(), "localhost", "127.0.0.1", "::1"]
        .map(str::to_string)
        .to_vec()
}

/// `key` as an encrypted PKCS#8 PEM, the way `openssl pkcs8 -topk8 -v2 aes256` writes it.
fn encrypted(key: &KeyPair) -> String {
    use pkcs8::der::pem::LineEnding;
    let mut random = [0u8; 32];
    crate::fill_random(&mut random);
    let (salt, iv) = random.split_at(16);
    let params = pkcs8::pkcs5::pbes2::Parameters::generate_pbkdf2_sha256_aes256cbc(
        10_000,
        salt,
        iv.try_into().expect("16 bytes"),
    )
    .expect("PBES2 parameters");
    pkcs8::PrivateKeyInfoRef::try_from(key.serialized_der())
        .expect("rcgen writes PKCS#8")
        .encrypt_with_params(params, KEY_PASSWORD)
        .expect("encrypting a key")
        .to_pem("ENCRYPTED PRIVATE KEY", LineEnding::LF)
        .expect("PEM")
        .to_string()
}

/// An intermediate CA signed by `ca`, and its certificate.
fn new_intermediate(ca: &Issuer<'static, KeyPair>) -> (Issuer<'static, KeyPair>, String) {
    let key = KeyPair::generate().expect("generating a key");
    let params = ca_params("ErlDP test intermediate CA");
    let cert = params
        .signed_by(&key, ca)
        .expect("signing the intermediate CA");
    (Issuer::new(params, key), cert.pem())
}

fn ca_params(name: &str) -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.not_before = date_time_ymd(2000, 1, 1);
    params.not_after = date_time_ymd(2100, 1, 1);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params
}

fn new_ca(name: &str) -> (Issuer<'static, KeyPair>, String) {
    let key = KeyPair::generate().expect("generating a key");
    let params = ca_params(name);
    let cert = params.self_signed(&key).expect("signing the CA");
    (Issuer::new(params, key), cert.pem())
}
