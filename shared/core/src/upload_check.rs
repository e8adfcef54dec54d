//! Reading an uploaded photo for the desk's checks. A page view only *looks* at an upload
//! ([`Desk::peek_upload`]: type, size and dimensions from its headers, nothing decoded), because
//! anyone holding an upload key may load that page as often as they like; the full verification,
//! every pixel decoded, happens once, when the request is submitted ([`Desk::check_upload`]),
//! within the process's decode gate.

use crate::desk::{Desk, DeskError};
use crate::error::{FieldCode, FieldCodeWithLimit, FieldErrors};
use crate::photo::{self, InspectedPhoto};
use crate::ports::{PhotoReadError, StoredPhoto};
use crate::requester::valid_upload_key;

/// A refusal reported on the field `photo`.
pub(crate) fn photo_invalid(code: FieldCodeWithLimit) -> DeskError {
    let mut e = FieldErrors::default();
    e.take::<()>("photo", Err(code));
    DeskError::Invalid(e)
}

impl Desk {
    /// Reads an upload by its key; a malformed, unknown or oversized one is refused on `photo`.
    pub(crate) async fn read_upload(&self, key: &str) -> Result<StoredPhoto, DeskError> {
        if !valid_upload_key(key) {
            return Err(photo_invalid(FieldCode::UploadMissing.into()));
        }
        match self
            .ports
            .photos
            .read(key, self.settings.photo.max_bytes)
            .await
        {
            Ok(p) => Ok(p),
            Err(PhotoReadError::NotFound) => Err(photo_invalid(FieldCode::UploadMissing.into())),
            Err(PhotoReadError::TooLarge { max }) => Err(photo_invalid(FieldCodeWithLimit(
                FieldCode::FileTooLarge,
                Some(max),
            ))),
            Err(PhotoReadError::Store(e)) => Err(e.into()),
        }
    }

    /// What a page view may check of an upload: that it exists, and its type, size and dimensions
    /// as its headers give them ([`photo::inspect`]). No pixel is decoded: damaged pixel data is
    /// found at submission.
    pub async fn peek_upload(&self, key: &str) -> Result<InspectedPhoto, DeskError> {
        let stored = self.read_upload(key).await?;
        photo::inspect(
            &stored.bytes,
            stored.declared_type.as_deref(),
            &self.settings.photo,
        )
        .map_err(photo_invalid)
    }
}
