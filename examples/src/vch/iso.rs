//! The appliance and bootstrap ISO images: checks on given files, and small valid
//! ISO9660 stand-ins (made with hadris-iso) when none are given.

use std::io::{Cursor, Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::Arc;

use hadris_iso::read::PathSeparator;
use hadris_iso::write::options::{CreationFeatures, IsoFormatOptions};
use hadris_iso::write::{File as IsoFile, InputFiles, IsoImageWriter};

use super::{Doing, VchError};

/// The file name of the appliance image in the VCH's datastore folder.
pub const APPLIANCE_ISO: &str = "appliance.iso";
/// The file name of the containerVMs' boot image in the VCH's datastore folder.
pub const BOOTSTRAP_ISO: &str = "bootstrap.iso";

/// Where ISO9660's first volume descriptor starts: sector 16 of 2,048 bytes.
const DESCRIPTOR_OFFSET: u64 = 16 * 2048;

/// A stand-in ISO9660 image with volume label `label` (upper case, at most 32
/// characters) holding one `README.TXT` that says what it stands in for.
pub fn stand_in(label: &str, readme: &str) -> Result<Vec<u8>, VchError> {
    let files = InputFiles {
        path_separator: PathSeparator::ForwardSlash,
        files: vec![IsoFile::File {
            name: Arc::new("README.TXT".to_string()),
            contents: readme.as_bytes().to_vec(),
        }],
    };
    let options = IsoFormatOptions {
        volume_name: label.to_ascii_uppercase(),
        system_id: None,
        volume_set_id: None,
        publisher_id: None,
        preparer_id: None,
        application_id: Some("VSPHERE-RS VCH".to_string()),
        sector_size: 2048,
        path_separator: PathSeparator::ForwardSlash,
        features: CreationFeatures::default(),
        strict_charset: false,
    };
    // 64 KiB holds the descriptors, tables and the one small file.
    let mut out = Cursor::new(vec![0u8; 64 * 2048]);
    IsoImageWriter::create(&mut out, files, options)
        .map_err(|e| VchError::Invalid(format!("cannot build the {label} ISO image: {e}")))?;
    let bytes = out.into_inner();
    check_bytes(&bytes, label)?;
    Ok(bytes)
}

/// Checks that `bytes` start like an ISO9660 image (the `CD001` volume descriptor).
pub fn check_bytes(bytes: &[u8], what: &str) -> Result<(), VchError> {
    let at = DESCRIPTOR_OFFSET as usize;
    match bytes.get(at + 1..at + 6) {
        Some(b"CD001") => Ok(()),
        _ => Err(VchError::Invalid(format!(
            "{what} is not an ISO9660 image (no CD001 volume descriptor at byte {at})"
        ))),
    }
}

/// Checks that the file at `path` is a readable ISO9660 image; returns its size.
pub fn check_file(path: &Path) -> Result<u64, VchError> {
    let what = path.display().to_string();
    let mut f = std::fs::File::open(path).doing(format!("opening {what}"))?;
    let len = f.metadata().doing(format!("reading {what}"))?.len();
    let mut head = vec![0u8; 6];
    f.seek(SeekFrom::Start(DESCRIPTOR_OFFSET))
        .and_then(|_| f.read_exact(&mut head))
        .map_err(|_| VchError::Invalid(format!("{what} is not an ISO9660 image (too short)")))?;
    let mut probe = vec![0u8; DESCRIPTOR_OFFSET as usize];
    probe.extend_from_slice(&head);
    check_bytes(&probe, &what)?;
    Ok(len)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hadris_iso::read::IsoImage;

    #[test]
    fn stand_in_is_a_readable_iso9660_image() {
        let bytes = stand_in("appliance", "stand-in\n").unwrap();
        let image = IsoImage::open(Cursor::new(bytes.clone())).unwrap();
        let root = image.root_dir();
        let names: Vec<String> = root
            .iter(&image)
            .entries()
            .map(|e| String::from_utf8_lossy(e.unwrap().name()).into_owned())
            .collect();
        assert!(
            names.iter().any(|n| n.starts_with("README.TXT")),
            "{names:?}"
        );
        assert!(check_bytes(b"not an image", "x").is_err());
    }
}
