//! The fields of an X.509 certificate that rustls and webpki do not tell us, and that `ssl`
//! relies on: who issued it (to complete our chain from `cacertfile` and to tell a peer's root
//! from its intermediates) and its version (webpki refuses all but v3, with an error that
//! names neither the file nor the remedy).

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
    let cert = AnyRef::from_der(der).ok()?;
    let tbs: AnyRef = SliceReader::new(cert.value()).ok()?.decode().ok()?;
    let mut tbs = SliceReader::new(tbs.value()).ok()?;
    // `version [0] EXPLICIT Version DEFAULT v1`: absent from a v1 certificate.
    let explicit = Tag::ContextSpecific {
        constructed: true,
        number: TagNumber(0),
    };
    let version = if Tag::peek(&tbs).ok()? == explicit {
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

#[cfg(test)]
mod tests {
    use super::*;
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
}
