//! The fields of an X.509 certificate that rustls and webpki do not tell us, and that `ssl`
//! relies on: who issued it (to complete our chain from `cacertfile` and to tell a peer's root
//! from its intermediates), its version (webpki refuses all but v3, with an error that
//! names neither the file nor the remedy) and the host names of its subjectAltName (`ssl`
//! matches a wildcard among them only when asked to, webpki always).

use pkcs8::der::asn1::AnyRef;
use pkcs8::der::{Decode, Reader, SliceReader, Tag, TagNumber, Tagged};

/// The parts of a certificate's `tbsCertificate` that matter here, borrowed from its DER.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Fields<'a> {
    /// The X.509 version: 1, 2 or 3.
    pub version: u8,
    /// The issuer's distinguished name, as encoded (its contents).
    pub issuer: &'a [u8],
    /// The subject's distinguished name, as encoded (its contents).
    pub subject: &'a [u8],
}

impl Fields<'_> {
    /// Whether it names itself as its issuer, as roots do. Names are compared as encoded,
    /// which is how CAs copy their subject into what they sign.
    pub fn self_issued(&self) -> bool {
        self.issuer == self.subject
    }
}

/// The fields of a DER certificate; `None` when it is not one (rustls then says why).
pub(super) fn fields(der: &[u8]) -> Option<Fields<'_>> {
    let mut tbs = tbs(der)?;
    let version = if Tag::peek(&tbs).ok()? == explicit(0) {
        let field: AnyRef = tbs.decode().ok()?;
        let number: u8 = AnyRef::from_der(field.value()).ok()?.decode_as().ok()?;
        number.checked_add(1)?
    } else {
        1
    };
    let mut next = || -> Option<AnyRef<'_>> { tbs.decode().ok() };
    let (_serial, _signature) = (next()?, next()?);
    let issuer = next()?;
    let _validity = next()?;
    let subject = next()?;
    (issuer.tag() == Tag::Sequence && subject.tag() == Tag::Sequence).then(|| Fields {
        version,
        issuer: issuer.value(),
        subject: subject.value(),
    })
}

/// The dNSName entries of a DER certificate's subjectAltName, as written (wildcards
/// included); `None` when the certificate is malformed.
pub(super) fn dns_names(der: &[u8]) -> Option<Vec<&str>> {
    let mut tbs = tbs(der)?;
    // `extensions [3] EXPLICIT` comes last, after fields that are all read past alike.
    let mut extensions = None;
    while !tbs.is_finished() {
        let field: AnyRef = tbs.decode().ok()?;
        if field.tag() == explicit(3) {
            extensions = Some(field);
        }
    }
    let Some(extensions) = extensions else {
        return Some(Vec::new());
    };
    let list: AnyRef = SliceReader::new(extensions.value()).ok()?.decode().ok()?;
    let mut list = SliceReader::new(list.value()).ok()?;
    while !list.is_finished() {
        let extension: AnyRef = list.decode().ok()?;
        let mut extension = SliceReader::new(extension.value()).ok()?;
        let id: AnyRef = extension.decode().ok()?;
        if id.tag() != Tag::ObjectIdentifier || id.value() != SUBJECT_ALT_NAME {
            continue;
        }
        // `critical BOOLEAN DEFAULT FALSE`, then `extnValue OCTET STRING`.
        let mut value: AnyRef = extension.decode().ok()?;
        if value.tag() == Tag::Boolean {
            value = extension.decode().ok()?;
        }
        if value.tag() != Tag::OctetString {
            return None;
        }
        let names: AnyRef = AnyRef::from_der(value.value()).ok()?;
        if names.tag() != Tag::Sequence {
            return None;
        }
        let mut names = SliceReader::new(names.value()).ok()?;
        let mut dns = Vec::new();
        while !names.is_finished() {
            let name: AnyRef = names.decode().ok()?;
            // `dNSName [2] IA5String`, implicitly tagged.
            // One that is not ASCII is skipped, as webpki skips a malformed one and
            // matches the others.
            if name.tag() == implicit(2) {
                if let Some(dns_name) = std::str::from_utf8(name.value())
                    .ok()
                    .filter(|n| n.is_ascii())
                {
                    dns.push(dns_name);
                }
            }
        }
        return Some(dns);
    }
    Some(Vec::new())
}

/// The OID of subjectAltName, 2.5.29.17, as encoded.
const SUBJECT_ALT_NAME: &[u8] = &[0x55, 0x1d, 0x11];

/// The contents of `tbsCertificate`, to read its fields in order.
fn tbs(der: &[u8]) -> Option<SliceReader<'_>> {
    let cert = AnyRef::from_der(der).ok()?;
    let tbs: AnyRef = SliceReader::new(cert.value()).ok()?.decode().ok()?;
    SliceReader::new(tbs.value()).ok()
}

fn explicit(number: u32) -> Tag {
    Tag::ContextSpecific {
        constructed: true,
        number: TagNumber(number),
    }
}

fn implicit(number: u32) -> Tag {
    Tag::ContextSpecific {
        constructed: false,
        number: TagNumber(number),
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use pkcs8::der::Encode;
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;

    fn der(files: &erldp_testkit::TlsFiles, name: &str) -> Vec<CertificateDer<'static>> {
        CertificateDer::pem_file_iter(files.path(name))
            .expect(name)
            .collect::<Result<_, _>>()
            .expect(name)
    }

    #[test]
    fn issuers_and_subjects_link_a_chain() {
        let files = erldp_testkit::TlsFiles::generate(&erldp_testkit::Otp::System);
        let chained = der(&files, "chained.pem");
        let [leaf, intermediate] = &chained[..] else {
            panic!("chained.pem holds a leaf and its CA")
        };
        let ca = &der(&files, "ca.pem")[0];
        let (leaf, intermediate, ca) = (
            fields(leaf).expect("leaf"),
            fields(intermediate).expect("intermediate"),
            fields(ca).expect("ca"),
        );
        assert_eq!(leaf.issuer, intermediate.subject);
        assert_eq!(intermediate.issuer, ca.subject);
        assert!(ca.self_issued() && !intermediate.self_issued() && !leaf.self_issued());
        assert_eq!((leaf.version, ca.version), (3, 3));
        assert_eq!(fields(b"\x30\x00"), None);
        assert_eq!(fields(b"not DER"), None);
    }

    /// A v3 certificate made v1: its version and extensions left out (its signature no
    /// longer matches, which reading its fields does not check).
    pub(in crate::tls) fn as_v1(v3: &[u8]) -> Vec<u8> {
        let cert = AnyRef::from_der(v3).expect("DER");
        let mut parts = SliceReader::new(cert.value()).expect("certificate");
        let tbs: AnyRef = parts.decode().expect("tbsCertificate");
        let mut fields = SliceReader::new(tbs.value()).expect("fields");
        let mut kept = Vec::new();
        while !fields.is_finished() {
            let field: AnyRef = fields.decode().expect("a field");
            if field.tag() != explicit(0) && field.tag() != explicit(3) {
                kept.extend(field.to_der().expect("DER"));
            }
        }
        let mut rest = sequence(&kept);
        while !parts.is_finished() {
            let part: AnyRef = parts.decode().expect("a part");
            rest.extend(part.to_der().expect("DER"));
        }
        sequence(&rest)
    }

    /// A DER SEQUENCE of `contents` (shorter than 64 KiB).
    fn sequence(contents: &[u8]) -> Vec<u8> {
        let len = contents.len();
        let mut der = match len {
            0..=127 => vec![0x30, len as u8],
            128..=255 => vec![0x30, 0x81, len as u8],
            _ => vec![0x30, 0x82, (len >> 8) as u8, len as u8],
        };
        der.extend_from_slice(contents);
        der
    }

    #[test]
    fn a_v1_certificate_has_no_version_field() {
        let files = erldp_testkit::TlsFiles::generate(&erldp_testkit::Otp::System);
        let v3 = &der(&files, "node.pem")[0];
        let v1 = as_v1(v3);
        let (old, new) = (fields(v3).expect("v3"), fields(&v1).expect("v1"));
        assert_eq!((old.version, new.version), (3, 1));
        assert_eq!((old.issuer, old.subject), (new.issuer, new.subject));
        assert_eq!(dns_names(&v1), Some(vec![]));
    }

    #[test]
    fn dns_names_are_those_of_the_subject_alt_name() {
        let files = erldp_testkit::TlsFiles::generate(&erldp_testkit::Otp::System);
        let wildcard = &der(&files, "wildcard.pem")[0];
        assert_eq!(dns_names(wildcard), Some(vec![erldp_testkit::WILDCARD]));
        let node = &der(&files, "node.pem")[0];
        let names = dns_names(node).expect("node.pem");
        assert!(names.contains(&"localhost") && names.contains(&"127.0.0.1"));
        // A CA's extensions have no subjectAltName.
        assert_eq!(dns_names(&der(&files, "ca.pem")[0]), Some(vec![]));
        // Any byte cut from the end breaks the DER, and breaks it into None.
        for len in 0..wildcard.len() {
            assert_eq!(dns_names(&wildcard[..len]), None, "cut at {len}");
        }
    }
}
