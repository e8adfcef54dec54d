//! The product's texts in English and Thai. Every text exists in both languages (the compiler
//! checks it: [`Texts`] has no optional field). Placeholders are `{name}` and are filled by
//! [`fill`]; values are escaped where they are shown (HTML pages and HTML email), never here.

use crate::error::{FieldCode, FieldError};
use crate::model::{CaseKind, CaseState, ComplaintClosed};
use crate::verdict::Verdict;

pub use crate::lang::Lang;

/// Replaces `{key}` placeholders.
pub fn fill(template: &str, values: &[(&str, &str)]) -> String {
    let mut out = template.to_owned();
    for (k, v) in values {
        out = out.replace(&format!("{{{k}}}"), v);
    }
    out
}

/// Every text of the product in one language.
pub struct Texts {
    pub site_title: &'static str,
    pub site_tagline: &'static str,
    /// The footer line of every public page: who runs the desk and where questions go.
    pub site_support: &'static str,
    pub language: &'static str,
    pub landing_intro: &'static str,
    pub landing_status_hint: &'static str,
    pub step_photo: &'static str,
    pub step_details: &'static str,
    pub photo_label: &'static str,
    pub upload_button: &'static str,
    pub photo_received: &'static str,
    pub photo_change: &'static str,
    pub country: &'static str,
    pub choose_country: &'static str,
    pub first_name: &'static str,
    pub last_name: &'static str,
    pub email: &'static str,
    pub email_help: &'static str,
    pub phone: &'static str,
    pub phone_help: &'static str,
    pub optional: &'static str,
    pub urls: &'static str,
    pub urls_help: &'static str,
    pub good_faith: &'static str,
    pub submit: &'static str,
    pub privacy_title: &'static str,
    pub errors_intro: &'static str,
    /// The link, first on every page, that skips to its main content.
    pub skip_to_main: &'static str,
    pub success_title: &'static str,
    pub success_reference: &'static str,
    pub success_email: &'static str,
    pub status_title: &'static str,
    pub status_reference: &'static str,
    pub status_kind: &'static str,
    pub status_state: &'static str,
    pub status_received: &'static str,
    pub status_updated: &'static str,
    pub status_due: &'static str,
    pub withdraw_title: &'static str,
    pub withdraw_body: &'static str,
    pub withdraw_confirm: &'static str,
    pub withdraw_button: &'static str,
    pub withdrawn_done: &'static str,
    pub withdraw_not_possible: &'static str,
    pub link_invalid_title: &'static str,
    pub link_invalid_body: &'static str,
    pub not_found: &'static str,
    pub server_error: &'static str,
    pub unavailable: &'static str,
    pub too_large: &'static str,
    pub upload_expired: &'static str,
    pub back_home: &'static str,
    pub upload_refused_title: &'static str,
    pub back_to_form: &'static str,
    pub better_photo_received: &'static str,
    pub mail_greeting: &'static str,
    pub mail_receipt_subject: &'static str,
    pub mail_receipt_intro: &'static str,
    pub mail_received_heading: &'static str,
    pub mail_photo_received: &'static str,
    /// The receipt's label of the requester's full name.
    pub mail_full_name: &'static str,
    /// The receipt's label of the requester's reason or explanation.
    pub mail_reason: &'static str,
    pub mail_next_heading: &'static str,
    pub mail_status_link: &'static str,
    pub mail_status_link_private: &'static str,
    pub mail_withdrawn_subject: &'static str,
    pub mail_withdrawn_body: &'static str,
    pub mail_better_photo_subject: &'static str,
    pub mail_better_photo_body: &'static str,
    pub mail_better_photo_link: &'static str,
    pub mail_signature: &'static str,
    pub mail_not_you: &'static str,
    pub mail_not_you_withdrawn: &'static str,
    pub mail_questions: &'static str,
    pub better_photo_title: &'static str,
    pub better_photo_body: &'static str,
    pub complaint_title: &'static str,
    pub complaint_body: &'static str,
    pub complaint_label: &'static str,
    pub complaint_button: &'static str,
    pub complaint_done: &'static str,
    /// Why no complaint is possible: no decision to contest.
    pub complaint_no_decision: &'static str,
    pub complaint_open: &'static str,
    /// Why no complaint is possible: the complaint was decided; the routes that remain.
    pub complaint_decided: &'static str,
    /// Why no complaint is possible: the window ended; the routes that remain.
    pub complaint_window_ended: &'static str,
    pub status_decision: &'static str,
    pub mail_decision_subject: &'static str,
    pub mail_decision_intro: &'static str,
    pub mail_decision_complaint: &'static str,
    pub sor_heading: &'static str,
    pub sor_action: &'static str,
    pub sor_facts: &'static str,
    pub sor_automated: &'static str,
    pub sor_ground: &'static str,
    pub sor_redress: &'static str,
    pub sor_note: &'static str,
    pub action_rejected: &'static str,
    pub action_better_photo: &'static str,
    pub redress: &'static str,
    /// How to contest a decision that answered a complaint (the internal procedure is over).
    pub redress_after_complaint: &'static str,
    pub mail_complaint_link: &'static str,
    pub exclude_faces: &'static str,
    pub scope_notice: &'static str,
    pub continue_image_title: &'static str,
    pub continue_image_body: &'static str,
    pub continue_image_button: &'static str,
    pub continued_image_done: &'static str,
    pub continue_image_not_possible: &'static str,
    pub mail_better_photo_or_image: &'static str,
    pub mail_lapsed_subject: &'static str,
    pub mail_lapsed_body: &'static str,
}

pub const EN: Texts = Texts {
    site_title: "Image opt-out desk",
    site_tagline: "Ask us to remove your face or your images from our image search, and keep them out.",
    site_support: "This desk is run by {operator}. Questions: {contact}",
    language: "Language",
    landing_intro: "If you found your face, or an image that belongs to you, in our search results, you can ask us to remove it. We check every request by hand and answer by email.",
    landing_status_hint: "Already sent a request? The email we sent you has a private link to its status.",
    step_photo: "Step 1 of 2: your photo",
    step_details: "Step 2 of 2: your details",
    photo_label: "Photo of your face, or the image you searched with",
    upload_button: "Upload photo and continue",
    photo_received: "Photo received",
    photo_change: "Use a different photo",
    country: "Country of residence",
    choose_country: "Choose a country",
    first_name: "First name",
    last_name: "Last name",
    email: "Email",
    email_help: "We send the receipt and the decision to this address.",
    phone: "Phone",
    phone_help: "As you dial it in your country of residence (for example 081 234 5678 in Thailand), or in international format with + and the country code (+66 81 234 5678).",
    optional: "optional",
    urls: "Links to the specific images",
    urls_help: "One link per line, up to 20, each to one image (for example https://example.com/photo.jpg). A link typed without http:// or https:// is read as https://.",
    good_faith: "I confirm in good faith that the information and allegations in this notice are accurate and complete.",
    submit: "Send request",
    privacy_title: "Your privacy",
    errors_intro: "Some fields need your attention. Nothing was sent yet.",
    skip_to_main: "Skip to main content",
    success_title: "Request received",
    success_reference: "Your case reference",
    success_email: "We sent a receipt with a private status link to your email address.",
    status_title: "Status of your request",
    status_reference: "Reference",
    status_kind: "Type",
    status_state: "Status",
    status_received: "Received",
    status_updated: "Last change",
    status_due: "Decision due by",
    withdraw_title: "Withdraw this request",
    withdraw_body: "If you no longer want us to act on this request, you can withdraw it. Any exclusion made for it stops applying, and its face signature is deleted.",
    withdraw_confirm: "I want to withdraw this request.",
    withdraw_button: "Withdraw request",
    withdrawn_done: "Your request has been withdrawn.",
    withdraw_not_possible: "This request can no longer be withdrawn: it was already closed.",
    link_invalid_title: "This link is not valid",
    link_invalid_body: "The link is incomplete, has expired or was changed. Use the link from the most recent email we sent you, or write to us.",
    not_found: "Page not found.",
    server_error: "Something went wrong on our side. Your request was not saved. Please try again in a few minutes.",
    unavailable: "The service is busy or being maintained. Your request was not saved. Please try again in a few minutes.",
    too_large: "The file is larger than 10 MB. Please choose a smaller photo.",
    upload_expired: "This upload form has expired. Please start again.",
    back_home: "Back to the start",
    upload_refused_title: "Your photo was not received",
    back_to_form: "Back to the form",
    better_photo_received: "We received your new photo. We check it now; if it cannot be used either, you will get an email.",
    mail_greeting: "Dear {name},",
    mail_receipt_subject: "We received your request ({reference})",
    mail_receipt_intro: "Thank you. We received your request on {date}. Its reference is {reference}.",
    mail_received_heading: "What we received",
    mail_photo_received: "A photo (not attached to this email)",
    mail_full_name: "Name",
    mail_reason: "Your explanation",
    mail_next_heading: "What happens next",
    mail_status_link: "You can follow your request, or withdraw it, here:",
    mail_status_link_private: "This link is private: anyone who has it can see the status of your request. It is valid until {date}.",
    mail_withdrawn_subject: "Your request was withdrawn ({reference})",
    mail_withdrawn_body: "As you asked, we withdrew your request {reference} on {date}. Any exclusion made for it no longer applies and its face signature was deleted.",
    mail_better_photo_subject: "We need a better photo ({reference})",
    mail_better_photo_body: "We could not use the photo you sent for request {reference}:",
    mail_better_photo_link: "Please upload a new photo for the same request here:",
    mail_signature: "Kind regards,\nThe image opt-out desk of {operator}",
    mail_not_you: "If you did not send this request, write to {contact}: we will withdraw it and delete your data.",
    mail_not_you_withdrawn: "If you did not withdraw this request yourself, write to {contact} at once.",
    mail_questions: "Questions: {contact}",
    better_photo_title: "Upload a better photo",
    better_photo_body: "We could not use your last photo. Please upload a new one for the same request.",
    complaint_title: "Contest this decision",
    complaint_body: "If you disagree with our decision, tell us why. Another member of our team, who did not take the first decision, will review your request again. You can do this within six months of the decision.",
    complaint_label: "Why do you disagree with the decision?",
    complaint_button: "Send complaint",
    complaint_done: "We received your complaint. Another member of our team will review your request and send you the outcome by email.",
    complaint_no_decision: "There is no decision on this request to contest.",
    complaint_open: "Your complaint is being reviewed.",
    complaint_decided: "Your complaint has been decided: the latest decision on this request answers it, and it was taken by a different person than the first decision. Our internal complaint procedure takes one complaint per request, so it is now over. If you still disagree, you can refer the decision to a certified out-of-court dispute settlement body (Article 21 of the Digital Services Act) or go to the courts. You may also lodge a complaint with your data protection authority.",
    complaint_window_ended: "The six-month period to contest this decision with us has ended. If you still disagree, you can refer the decision to a certified out-of-court dispute settlement body (Article 21 of the Digital Services Act) or go to the courts. You may also lodge a complaint with your data protection authority.",
    status_decision: "Decision",
    mail_decision_subject: "Decision on your request ({reference})",
    mail_decision_intro: "We decided on your request {reference} on {date}. A person on our team took this decision.",
    mail_decision_complaint: "This decision answers your complaint and was taken by a different person than the first decision.",
    sor_heading: "Statement of reasons",
    sor_action: "Decision and its scope",
    sor_facts: "Facts relied on",
    sor_automated: "Automated means",
    sor_ground: "Ground",
    sor_redress: "How to contest this decision",
    sor_note: "Note from the reviewer",
    action_rejected: "Rejected. Nothing was added to our exclusion list. Any photo you sent was deleted.",
    action_better_photo: "We need a better photo before we can decide. Nothing was added to our exclusion list yet.",
    redress: "You can contest this decision: (1) free of charge with our internal complaint form, within six months of the decision; (2) before a certified out-of-court dispute settlement body (Article 21 of the Digital Services Act); (3) before the courts. You may also lodge a complaint with your data protection authority.",
    redress_after_complaint: "This decision answers your complaint, so our internal complaint procedure is over. You can still contest it: (1) before a certified out-of-court dispute settlement body (Article 21 of the Digital Services Act); (2) before the courts. You may also lodge a complaint with your data protection authority.",
    mail_complaint_link: "Our complaint form for this request:",
    exclude_faces: "Also stop indexing the faces this image shows: each face found in it is excluded wherever it appears, in other photos too. Only ask this for your own face, or with the consent of the people shown.",
    scope_notice: "This desk stops indexing on this service only: it does not remove images from the websites that publish them. For misuse elsewhere, contact each website or platform. Questions: {contact}",
    continue_image_title: "Or continue as an image opt-out",
    continue_image_body: "If you want us to stop indexing this image itself rather than your face, we can go on with the same photo as an image opt-out: it is then excluded by its hashes (with its copies that are resized or re-encoded), but your face in other photos is not.",
    continue_image_button: "Continue as an image opt-out",
    continued_image_done: "Your request continues as an image opt-out of the photo you sent.",
    continue_image_not_possible: "This request cannot go on as an image opt-out: only a face opt-out whose photo could not be used can.",
    mail_better_photo_or_image: "Or, if you want us to stop indexing this image itself rather than your face, you can continue the request as an image opt-out from your status page.",
    mail_lapsed_subject: "Your request {reference} has lapsed",
    mail_lapsed_body: "We did not receive a usable photo for your request {reference} within {days} days, so it lapsed on {date} without a decision. The photo you sent has been deleted. You can send a new request at any time.",
};

pub const TH: Texts = Texts {
    site_title: "ศูนย์ขอลบรูปภาพ",
    site_tagline: "ขอให้เราลบใบหน้าหรือรูปภาพของคุณออกจากระบบค้นหารูปภาพของเรา และไม่นำกลับมาอีก",
    site_support: "บริการนี้ดำเนินการโดย {operator} สอบถามได้ที่ {contact}",
    language: "ภาษา",
    landing_intro: "หากคุณพบใบหน้าของคุณ หรือรูปภาพที่เป็นของคุณ ในผลการค้นหาของเรา คุณสามารถขอให้เราลบออกได้ เจ้าหน้าที่ของเราตรวจสอบทุกคำขอและตอบกลับทางอีเมล",
    landing_status_hint: "เคยส่งคำขอแล้ว? อีเมลที่เราส่งถึงคุณมีลิงก์ส่วนตัวสำหรับดูสถานะ",
    step_photo: "ขั้นที่ 1 จาก 2: รูปถ่ายของคุณ",
    step_details: "ขั้นที่ 2 จาก 2: ข้อมูลของคุณ",
    photo_label: "รูปถ่ายใบหน้าของคุณ หรือรูปที่คุณใช้ค้นหา",
    upload_button: "อัปโหลดรูปและดำเนินการต่อ",
    photo_received: "ได้รับรูปแล้ว",
    photo_change: "ใช้รูปอื่น",
    country: "ประเทศที่พำนัก",
    choose_country: "เลือกประเทศ",
    first_name: "ชื่อ",
    last_name: "นามสกุล",
    email: "อีเมล",
    email_help: "เราจะส่งใบรับคำขอและผลการตัดสินไปยังอีเมลนี้",
    phone: "โทรศัพท์",
    phone_help: "กรอกตามที่โทรภายในประเทศที่คุณพำนัก (เช่น 081 234 5678 ในไทย) หรือในรูปแบบสากล ขึ้นต้นด้วย + และรหัสประเทศ (+66 81 234 5678)",
    optional: "ไม่บังคับ",
    urls: "ลิงก์ของรูปภาพเฉพาะ",
    urls_help: "หนึ่งลิงก์ต่อบรรทัด ไม่เกิน 20 ลิงก์ แต่ละลิงก์ชี้ไปยังรูปภาพหนึ่งรูป (เช่น https://example.com/photo.jpg) ลิงก์ที่พิมพ์โดยไม่มี http:// หรือ https:// จะถือว่าขึ้นต้นด้วย https://",
    good_faith: "ข้าพเจ้ายืนยันโดยสุจริตว่าข้อมูลและข้อกล่าวหาในการแจ้งนี้ถูกต้องและครบถ้วน",
    submit: "ส่งคำขอ",
    privacy_title: "ความเป็นส่วนตัวของคุณ",
    errors_intro: "มีบางช่องที่ต้องแก้ไข คำขอยังไม่ได้ถูกส่ง",
    skip_to_main: "ข้ามไปยังเนื้อหาหลัก",
    success_title: "ได้รับคำขอแล้ว",
    success_reference: "หมายเลขอ้างอิงของคุณ",
    success_email: "เราได้ส่งใบรับคำขอพร้อมลิงก์ส่วนตัวสำหรับดูสถานะไปยังอีเมลของคุณแล้ว",
    status_title: "สถานะคำขอของคุณ",
    status_reference: "หมายเลขอ้างอิง",
    status_kind: "ประเภท",
    status_state: "สถานะ",
    status_received: "วันที่ได้รับ",
    status_updated: "เปลี่ยนแปลงล่าสุด",
    status_due: "กำหนดตัดสินภายใน",
    withdraw_title: "ถอนคำขอนี้",
    withdraw_body: "หากคุณไม่ต้องการให้เราดำเนินการตามคำขอนี้แล้ว คุณสามารถถอนได้ การยกเว้นใด ๆ ที่ทำไว้สำหรับคำขอนี้จะสิ้นผล และลายเซ็นใบหน้าจะถูกลบ",
    withdraw_confirm: "ข้าพเจ้าต้องการถอนคำขอนี้",
    withdraw_button: "ถอนคำขอ",
    withdrawn_done: "คำขอของคุณถูกถอนแล้ว",
    withdraw_not_possible: "ไม่สามารถถอนคำขอนี้ได้แล้ว เนื่องจากคำขอถูกปิดไปแล้ว",
    link_invalid_title: "ลิงก์นี้ใช้ไม่ได้",
    link_invalid_body: "ลิงก์ไม่สมบูรณ์ หมดอายุ หรือถูกแก้ไข โปรดใช้ลิงก์จากอีเมลล่าสุดที่เราส่งถึงคุณ หรือติดต่อเรา",
    not_found: "ไม่พบหน้านี้",
    server_error: "เกิดข้อผิดพลาดในระบบของเรา คำขอของคุณยังไม่ได้ถูกบันทึก โปรดลองอีกครั้งในอีกสักครู่",
    unavailable: "ระบบกำลังมีผู้ใช้มากหรือกำลังปรับปรุง คำขอของคุณยังไม่ได้ถูกบันทึก โปรดลองอีกครั้งในอีกสักครู่",
    too_large: "ไฟล์มีขนาดเกิน 10 MB โปรดเลือกรูปที่เล็กกว่านี้",
    upload_expired: "แบบฟอร์มอัปโหลดนี้หมดอายุแล้ว โปรดเริ่มใหม่",
    back_home: "กลับไปหน้าแรก",
    upload_refused_title: "ยังไม่ได้รับรูปถ่ายของคุณ",
    back_to_form: "กลับไปที่แบบฟอร์ม",
    better_photo_received: "เราได้รับรูปถ่ายใหม่ของคุณแล้ว และกำลังตรวจสอบ หากยังใช้ไม่ได้ คุณจะได้รับอีเมลแจ้ง",
    mail_greeting: "เรียน คุณ{name}",
    mail_receipt_subject: "เราได้รับคำขอของคุณแล้ว ({reference})",
    mail_receipt_intro: "ขอบคุณ เราได้รับคำขอของคุณเมื่อ {date} หมายเลขอ้างอิงคือ {reference}",
    mail_received_heading: "สิ่งที่เราได้รับ",
    mail_photo_received: "รูปถ่าย (ไม่ได้แนบมากับอีเมลนี้)",
    mail_full_name: "ชื่อ-นามสกุล",
    mail_reason: "คำอธิบายของคุณ",
    mail_next_heading: "ขั้นตอนต่อไป",
    mail_status_link: "คุณสามารถติดตามหรือถอนคำขอได้ที่:",
    mail_status_link_private: "ลิงก์นี้เป็นความลับ ผู้ที่มีลิงก์จะเห็นสถานะคำขอของคุณได้ ใช้ได้ถึง {date}",
    mail_withdrawn_subject: "คำขอของคุณถูกถอนแล้ว ({reference})",
    mail_withdrawn_body: "ตามที่คุณร้องขอ เราได้ถอนคำขอ {reference} เมื่อ {date} การยกเว้นที่ทำไว้สำหรับคำขอนี้สิ้นผลแล้ว และลายเซ็นใบหน้าถูกลบแล้ว",
    mail_better_photo_subject: "เราต้องการรูปถ่ายที่ดีกว่านี้ ({reference})",
    mail_better_photo_body: "เราไม่สามารถใช้รูปถ่ายที่คุณส่งมาสำหรับคำขอ {reference} ได้:",
    mail_better_photo_link: "โปรดอัปโหลดรูปใหม่สำหรับคำขอเดิมได้ที่:",
    mail_signature: "ขอแสดงความนับถือ\nฝ่ายรับคำขอลบรูปภาพของ {operator}",
    mail_not_you: "หากคุณไม่ได้ส่งคำขอนี้ โปรดแจ้ง {contact} เราจะถอนคำขอและลบข้อมูลของคุณ",
    mail_not_you_withdrawn: "หากคุณไม่ได้ถอนคำขอนี้ด้วยตนเอง โปรดแจ้ง {contact} โดยเร็วที่สุด",
    mail_questions: "สอบถามได้ที่ {contact}",
    better_photo_title: "อัปโหลดรูปถ่ายที่ดีกว่า",
    better_photo_body: "เราไม่สามารถใช้รูปถ่ายล่าสุดของคุณได้ โปรดอัปโหลดรูปใหม่สำหรับคำขอเดิม",
    complaint_title: "โต้แย้งผลการตัดสินนี้",
    complaint_body: "หากคุณไม่เห็นด้วยกับผลการตัดสิน โปรดแจ้งเหตุผล เจ้าหน้าที่อีกคนหนึ่งซึ่งไม่ได้เป็นผู้ตัดสินครั้งแรกจะพิจารณาคำขอของคุณอีกครั้ง คุณทำได้ภายในหกเดือนนับจากวันตัดสิน",
    complaint_label: "เหตุใดคุณจึงไม่เห็นด้วยกับผลการตัดสิน",
    complaint_button: "ส่งคำโต้แย้ง",
    complaint_done: "เราได้รับคำโต้แย้งของคุณแล้ว เจ้าหน้าที่อีกคนหนึ่งจะพิจารณาคำขอของคุณและแจ้งผลทางอีเมล",
    complaint_no_decision: "คำขอนี้ยังไม่มีผลการตัดสินที่จะโต้แย้งได้",
    complaint_open: "คำโต้แย้งของคุณอยู่ระหว่างการพิจารณา",
    complaint_decided: "คำโต้แย้งของคุณได้รับการพิจารณาแล้ว ผลการตัดสินล่าสุดของคำขอนี้เป็นคำตอบต่อคำโต้แย้งของคุณ โดยผู้ตัดสินเป็นคนละคนกับผู้ตัดสินครั้งแรก กระบวนการโต้แย้งภายในของเรารับคำโต้แย้งได้หนึ่งครั้งต่อคำขอ จึงสิ้นสุดแล้ว หากคุณยังไม่เห็นด้วย คุณสามารถยื่นต่อองค์กรระงับข้อพิพาทนอกศาลที่ได้รับการรับรอง (มาตรา 21 ของกฎหมายบริการดิจิทัลของสหภาพยุโรป) หรือฟ้องต่อศาล นอกจากนี้คุณยังสามารถร้องเรียนต่อหน่วยงานคุ้มครองข้อมูลส่วนบุคคลได้",
    complaint_window_ended: "ระยะเวลาหกเดือนสำหรับโต้แย้งผลการตัดสินนี้กับเราสิ้นสุดแล้ว หากคุณยังไม่เห็นด้วย คุณสามารถยื่นต่อองค์กรระงับข้อพิพาทนอกศาลที่ได้รับการรับรอง (มาตรา 21 ของกฎหมายบริการดิจิทัลของสหภาพยุโรป) หรือฟ้องต่อศาล นอกจากนี้คุณยังสามารถร้องเรียนต่อหน่วยงานคุ้มครองข้อมูลส่วนบุคคลได้",
    status_decision: "ผลการตัดสิน",
    mail_decision_subject: "ผลการตัดสินคำขอของคุณ ({reference})",
    mail_decision_intro: "เราได้ตัดสินคำขอ {reference} ของคุณเมื่อ {date} โดยเจ้าหน้าที่ของเราเป็นผู้ตัดสิน",
    mail_decision_complaint: "ผลการตัดสินนี้เป็นการพิจารณาคำโต้แย้งของคุณ โดยผู้ตัดสินเป็นคนละคนกับผู้ตัดสินครั้งแรก",
    sor_heading: "คำชี้แจงเหตุผล",
    sor_action: "ผลการตัดสินและขอบเขต",
    sor_facts: "ข้อเท็จจริงที่ใช้พิจารณา",
    sor_automated: "การใช้ระบบอัตโนมัติ",
    sor_ground: "หลักเกณฑ์ทางกฎหมายและนโยบาย",
    sor_redress: "วิธีโต้แย้งผลการตัดสินนี้",
    sor_note: "หมายเหตุจากผู้พิจารณา",
    action_rejected: "ปฏิเสธ ไม่มีการเพิ่มรายการใดในรายการยกเว้นของเรา รูปถ่ายที่คุณส่งมา (ถ้ามี) ถูกลบแล้ว",
    action_better_photo: "เราต้องการรูปถ่ายที่ดีกว่านี้ก่อนจึงจะตัดสินได้ ยังไม่มีการเพิ่มรายการใดในรายการยกเว้น",
    redress: "คุณสามารถโต้แย้งผลการตัดสินนี้ได้โดย (1) ใช้แบบฟอร์มโต้แย้งภายในของเราโดยไม่เสียค่าใช้จ่าย ภายในหกเดือนนับจากวันตัดสิน (2) ยื่นต่อองค์กรระงับข้อพิพาทนอกศาลที่ได้รับการรับรอง (มาตรา 21 ของกฎหมายบริการดิจิทัลของสหภาพยุโรป) (3) ฟ้องต่อศาล นอกจากนี้คุณยังสามารถร้องเรียนต่อหน่วยงานคุ้มครองข้อมูลส่วนบุคคลได้",
    redress_after_complaint: "ผลการตัดสินนี้เป็นการพิจารณาคำโต้แย้งของคุณ กระบวนการโต้แย้งภายในของเราจึงสิ้นสุดแล้ว คุณยังสามารถโต้แย้งผลการตัดสินนี้ได้โดย (1) ยื่นต่อองค์กรระงับข้อพิพาทนอกศาลที่ได้รับการรับรอง (มาตรา 21 ของกฎหมายบริการดิจิทัลของสหภาพยุโรป) (2) ฟ้องต่อศาล นอกจากนี้คุณยังสามารถร้องเรียนต่อหน่วยงานคุ้มครองข้อมูลส่วนบุคคลได้",
    mail_complaint_link: "แบบฟอร์มโต้แย้งสำหรับคำขอนี้:",
    exclude_faces: "หยุดจัดทำดัชนีใบหน้าที่ปรากฏในรูปนี้ด้วย ใบหน้าแต่ละใบที่พบในรูปจะถูกยกเว้นไม่ว่าจะปรากฏที่ใด รวมถึงในรูปอื่น โปรดขอเฉพาะใบหน้าของคุณเอง หรือเมื่อได้รับความยินยอมจากบุคคลในรูปแล้วเท่านั้น",
    scope_notice: "บริการนี้หยุดการจัดทำดัชนีเฉพาะในบริการของเราเท่านั้น ไม่ได้ลบรูปภาพออกจากเว็บไซต์ที่เผยแพร่รูปนั้น หากมีการนำรูปไปใช้โดยมิชอบในที่อื่น โปรดติดต่อเว็บไซต์หรือแพลตฟอร์มนั้นโดยตรง สอบถามได้ที่ {contact}",
    continue_image_title: "หรือดำเนินการต่อเป็นคำขอหยุดจัดทำดัชนีรูปภาพ",
    continue_image_body: "หากคุณต้องการให้เราหยุดจัดทำดัชนีรูปภาพนี้เองแทนใบหน้าของคุณ เราสามารถใช้รูปเดิมดำเนินการต่อเป็นคำขอหยุดจัดทำดัชนีรูปภาพได้ รูปนี้จะถูกยกเว้นด้วยค่าแฮช (รวมถึงสำเนาที่ถูกย่อขนาดหรือบันทึกใหม่) แต่ใบหน้าของคุณในรูปอื่นจะไม่ได้รับการยกเว้น",
    continue_image_button: "ดำเนินการต่อเป็นคำขอหยุดจัดทำดัชนีรูปภาพ",
    continued_image_done: "คำขอของคุณดำเนินการต่อเป็นคำขอหยุดจัดทำดัชนีรูปภาพที่คุณส่งมาแล้ว",
    continue_image_not_possible: "คำขอนี้ไม่สามารถดำเนินการต่อเป็นคำขอหยุดจัดทำดัชนีรูปภาพได้ ทำได้เฉพาะคำขอลบใบหน้าที่ใช้รูปถ่ายไม่ได้เท่านั้น",
    mail_better_photo_or_image: "หรือหากคุณต้องการให้เราหยุดจัดทำดัชนีรูปภาพนี้เองแทนใบหน้าของคุณ คุณสามารถดำเนินการต่อเป็นคำขอหยุดจัดทำดัชนีรูปภาพได้จากหน้าสถานะคำขอ",
    mail_lapsed_subject: "คำขอ {reference} ของคุณสิ้นสุดแล้ว",
    mail_lapsed_body: "เราไม่ได้รับรูปถ่ายที่ใช้ได้สำหรับคำขอ {reference} ภายใน {days} วัน คำขอจึงสิ้นสุดเมื่อ {date} โดยไม่มีการตัดสิน รูปถ่ายที่คุณส่งมาถูกลบแล้ว คุณสามารถส่งคำขอใหม่ได้ทุกเมื่อ",
};

/// The texts that depend on the kind of request: one constant per kind and language, so that a
/// new kind brings its texts in one place (and the compiler asks for every field).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KindTexts {
    /// What the request is called.
    pub label: &'static str,
    /// The card of the landing page.
    pub landing_title: &'static str,
    pub landing_body: &'static str,
    pub landing_cta: &'static str,
    pub form_title: &'static str,
    /// What photo to send (empty for a kind without a photo).
    pub photo_help: &'static str,
    /// The label of its free-text reason, and its help.
    pub reason: &'static str,
    pub reason_help: &'static str,
    /// The consent to the processing of the photo (empty for a kind that needs none).
    pub consent: &'static str,
    /// What is kept and for how long, under the form.
    pub privacy: &'static str,
    /// What happens next, as the receipt and the status page say.
    pub next: &'static str,
    /// The statement of reasons: the facts, the automated means, and an approval's action and
    /// ground (`{date}` and `{count}` are filled in).
    pub facts: &'static str,
    pub automated: &'static str,
    pub action_approved: &'static str,
    pub ground_approved: &'static str,
}

/// The texts of `kind` in `lang`.
pub fn kind_texts(lang: Lang, kind: CaseKind) -> &'static KindTexts {
    match (lang, kind) {
        (Lang::En, CaseKind::FaceOptOut) => &FACE_EN,
        (Lang::En, CaseKind::ImageOptOut) => &IMAGE_EN,
        (Lang::En, CaseKind::DsaNotice) => &DSA_EN,
        (Lang::Th, CaseKind::FaceOptOut) => &FACE_TH,
        (Lang::Th, CaseKind::ImageOptOut) => &IMAGE_TH,
        (Lang::Th, CaseKind::DsaNotice) => &DSA_TH,
    }
}

const FACE_EN: KindTexts = KindTexts {
    label: "Face opt-out",
    landing_title: "Remove my face",
    landing_body: "Send a photo of your face (or the image you searched with). We compute a face signature from it, and once your request is approved our search engine will not show or index images of your face again.",
    landing_cta: "Start a face opt-out",
    form_title: "Face opt-out",
    photo_help: "JPEG, PNG or WebP, up to 10 MB. Only you in the picture, face clearly visible.",
    reason: "Why do you want your face removed?",
    reason_help: "A few sentences are enough.",
    consent: "I consent to the processing of my photo to compute a face signature, only to find and exclude images of my face. I confirm that the photo shows me.",
    privacy: "We keep your details and your photo only to handle this request. The photo is deleted as soon as a decision is made; only its face signature and image hashes stay, to keep your images out of our index. Your name, email and phone are deleted six months after the decision. We never show you or anyone else search results for your face.",
    next: "Next, we check your photo and compute a face signature. A person on our team then reviews your request, usually within a few days and at the latest within one month. You will get the decision by email.",
    facts: "Your request of {date}, the reason you gave, and the photo you sent, which a reviewer compared with the face our system detected in it.",
    automated: "Yes, in part: a face detection and matching system computed the face signature of your photo and compared it with existing exclusions. The decision itself was taken by a person; no decision was taken by automated means alone.",
    action_approved: "Approved. The face signature and the hashes of your photo were added to our exclusion list: our search engine will no longer show or index images that match your face. This applies to our whole index, until you withdraw the request. Your photo itself was deleted.",
    ground_approved: "Your right to erasure and to object to the processing of your personal data (Articles 17 and 21 GDPR; sections 32 and 33 of Thailand's Personal Data Protection Act B.E. 2562) and our image opt-out policy.",
};

const DSA_EN: KindTexts = KindTexts {
    label: "DSA notice",
    landing_title: "Report specific images (Digital Services Act notice)",
    landing_body: "Tell us the links of specific images that you believe are illegal content, and why. We review the notice and tell you what we decided.",
    landing_cta: "Send a DSA notice",
    form_title: "DSA notice about specific images",
    photo_help: "",
    reason: "Explain why these images are illegal",
    reason_help: "Say which law or right they violate and why, as precisely as you can.",
    consent: "",
    privacy: "We keep your details only to handle this notice and to tell you our decision. They are deleted six months after the decision.",
    next: "A person on our team will review your notice, usually within a few days. You will get the decision and its reasons by email.",
    facts: "Your notice of {date}, its explanation and the {count} links you gave, examined by a reviewer.",
    automated: "In part: the images behind your links were fetched and hashed automatically, so that copies of them published elsewhere are excluded too. The assessment of your notice was made by a person on our team; no decision was taken by automated means alone.",
    action_approved: "Approved. The {count} image links of your notice were added to our exclusion list, with the hashes of the images we could fetch from them: our search engine will no longer show or index these images, at these links or wherever the same pictures are published. Other images are not affected.",
    ground_approved: "Article 16 of the EU Digital Services Act (notice and action) and our terms of service: the images were found to be illegal content or incompatible with our terms.",
};

const FACE_TH: KindTexts = KindTexts {
    label: "คำขอลบใบหน้า",
    landing_title: "ลบใบหน้าของฉัน",
    landing_body: "ส่งรูปถ่ายใบหน้าของคุณ (หรือรูปที่คุณใช้ค้นหา) เราจะคำนวณลายเซ็นใบหน้าจากรูปนั้น และเมื่อคำขอได้รับการอนุมัติ ระบบค้นหาของเราจะไม่แสดงและไม่จัดทำดัชนีรูปภาพใบหน้าของคุณอีก",
    landing_cta: "เริ่มคำขอลบใบหน้า",
    form_title: "คำขอลบใบหน้า",
    photo_help: "ไฟล์ JPEG, PNG หรือ WebP ขนาดไม่เกิน 10 MB มีคุณคนเดียวในภาพ และเห็นใบหน้าชัดเจน",
    reason: "เหตุใดคุณจึงต้องการให้ลบใบหน้าของคุณ",
    reason_help: "อธิบายสั้น ๆ เพียงไม่กี่ประโยคก็เพียงพอ",
    consent: "ข้าพเจ้ายินยอมให้ประมวลผลรูปถ่ายของข้าพเจ้าเพื่อคำนวณลายเซ็นใบหน้า เพื่อค้นหาและยกเว้นรูปภาพใบหน้าของข้าพเจ้าเท่านั้น และยืนยันว่ารูปถ่ายนี้เป็นรูปของข้าพเจ้า",
    privacy: "เราเก็บข้อมูลและรูปถ่ายของคุณเพื่อดำเนินการตามคำขอนี้เท่านั้น รูปถ่ายจะถูกลบทันทีที่มีการตัดสิน เหลือเพียงลายเซ็นใบหน้าและค่าแฮชของรูป เพื่อกันรูปของคุณออกจากดัชนีของเรา ชื่อ อีเมล และโทรศัพท์ของคุณจะถูกลบหกเดือนหลังการตัดสิน เราจะไม่แสดงผลการค้นหาใบหน้าของคุณแก่คุณหรือผู้ใด",
    next: "ขั้นต่อไป เราจะตรวจสอบรูปถ่ายและคำนวณลายเซ็นใบหน้า จากนั้นเจ้าหน้าที่จะพิจารณาคำขอของคุณ โดยปกติภายในไม่กี่วัน และไม่เกินหนึ่งเดือน คุณจะได้รับผลการตัดสินทางอีเมล",
    facts: "คำขอของคุณเมื่อ {date} เหตุผลที่คุณให้ไว้ และรูปถ่ายที่คุณส่ง ซึ่งผู้พิจารณาได้ตรวจสอบเทียบกับใบหน้าที่ระบบตรวจพบในรูป",
    automated: "ใช่ บางส่วน ระบบตรวจจับและเปรียบเทียบใบหน้าได้คำนวณลายเซ็นใบหน้าจากรูปถ่ายของคุณและเปรียบเทียบกับรายการยกเว้นที่มีอยู่ แต่การตัดสินกระทำโดยเจ้าหน้าที่ ไม่มีการตัดสินโดยระบบอัตโนมัติเพียงอย่างเดียว",
    action_approved: "อนุมัติ ลายเซ็นใบหน้าและค่าแฮชของรูปถ่ายของคุณถูกเพิ่มในรายการยกเว้นของเรา ระบบค้นหาของเราจะไม่แสดงและไม่จัดทำดัชนีรูปภาพที่ตรงกับใบหน้าของคุณอีก มีผลกับดัชนีทั้งหมดของเราจนกว่าคุณจะถอนคำขอ รูปถ่ายของคุณถูกลบแล้ว",
    ground_approved: "สิทธิในการขอให้ลบและสิทธิในการคัดค้านการประมวลผลข้อมูลส่วนบุคคลของคุณ (มาตรา 17 และ 21 ของ GDPR; มาตรา 32 และ 33 แห่งพระราชบัญญัติคุ้มครองข้อมูลส่วนบุคคล พ.ศ. 2562) และนโยบายการขอลบรูปภาพของเรา",
};

const DSA_TH: KindTexts = KindTexts {
    label: "การแจ้ง DSA",
    landing_title: "แจ้งรูปภาพเฉพาะ (การแจ้งตามกฎหมายบริการดิจิทัลของสหภาพยุโรป DSA)",
    landing_body: "แจ้งลิงก์ของรูปภาพเฉพาะที่คุณเชื่อว่าเป็นเนื้อหาที่ผิดกฎหมาย พร้อมเหตุผล เราจะพิจารณาและแจ้งผลการตัดสินให้คุณทราบ",
    landing_cta: "ส่งการแจ้ง DSA",
    form_title: "การแจ้ง DSA เกี่ยวกับรูปภาพเฉพาะ",
    photo_help: "",
    reason: "อธิบายว่าเหตุใดรูปภาพเหล่านี้จึงผิดกฎหมาย",
    reason_help: "ระบุกฎหมายหรือสิทธิที่ถูกละเมิดและเหตุผลให้ชัดเจนที่สุด",
    consent: "",
    privacy: "เราเก็บข้อมูลของคุณเพื่อดำเนินการตามการแจ้งนี้และแจ้งผลการตัดสินให้คุณทราบเท่านั้น ข้อมูลจะถูกลบหกเดือนหลังการตัดสิน",
    next: "เจ้าหน้าที่ของเราจะพิจารณาการแจ้งของคุณ โดยปกติภายในไม่กี่วัน คุณจะได้รับผลการตัดสินพร้อมเหตุผลทางอีเมล",
    facts: "การแจ้งของคุณเมื่อ {date} คำอธิบาย และลิงก์ {count} รายการที่คุณให้ไว้ ซึ่งผู้พิจารณาได้ตรวจสอบแล้ว",
    automated: "บางส่วน ระบบได้ดึงรูปภาพจากลิงก์ของคุณและคำนวณค่าแฮชโดยอัตโนมัติ เพื่อยกเว้นสำเนาของรูปที่เผยแพร่ในที่อื่นด้วย การพิจารณาการแจ้งของคุณกระทำโดยเจ้าหน้าที่ของเรา ไม่มีการตัดสินโดยระบบอัตโนมัติเพียงอย่างเดียว",
    action_approved: "อนุมัติ ลิงก์รูปภาพ {count} รายการในการแจ้งของคุณ พร้อมค่าแฮชของรูปภาพที่เราดึงมาได้ ถูกเพิ่มในรายการยกเว้นของเรา ระบบค้นหาของเราจะไม่แสดงและไม่จัดทำดัชนีรูปภาพเหล่านี้อีก ทั้งที่ลิงก์เหล่านี้และที่อื่นที่เผยแพร่รูปเดียวกัน รูปภาพอื่นไม่ได้รับผลกระทบ",
    ground_approved: "มาตรา 16 ของกฎหมายบริการดิจิทัลของสหภาพยุโรป (การแจ้งและการดำเนินการ) และข้อกำหนดการให้บริการของเรา โดยพบว่ารูปภาพเป็นเนื้อหาที่ผิดกฎหมายหรือขัดต่อข้อกำหนดของเรา",
};

const IMAGE_EN: KindTexts = KindTexts {
    label: "Image opt-out",
    landing_title: "Stop indexing an image",
    landing_body: "Send an image you own, or the image you searched with (a photo, artwork, a screenshot; with or without a face). Once your request is approved, our search engine will not index this image again, nor copies of it that are resized or re-encoded.",
    landing_cta: "Start an image opt-out",
    form_title: "Image opt-out",
    photo_help: "JPEG, PNG or WebP, up to 10 MB: the image itself (the file you own, or the one you searched with).",
    reason: "Why should this image no longer be indexed?",
    reason_help: "For example: you took it, you own its rights, or it shows you or your family.",
    consent: "I consent to the processing of this image to compute its hashes (and, if I ask for it below, the signatures of the faces it shows), only to find and exclude copies of it. I confirm that I own this image or have a personal stake in it.",
    privacy: "We keep your details and your image only to handle this request. The image is deleted as soon as a decision is made; only its hashes (and the face signatures you asked for) stay, to keep copies of it out of our index. Your name, email and phone are deleted six months after the decision.",
    next: "Next, we compute the hashes of your image. A person on our team then reviews your request, usually within a few days and at the latest within one month. You will get the decision by email.",
    facts: "Your request of {date}, the reason you gave, and the image you sent, examined by a reviewer.",
    automated: "Yes, in part: the hashes of your image (and, where you asked for it, the signatures of the faces it shows) were computed automatically, to find copies of it. The decision itself was taken by a person; no decision was taken by automated means alone.",
    action_approved: "Approved. The hashes of your image were added to our exclusion list: our search engine will no longer show or index this image, wherever it is published, nor copies of it that are resized or re-encoded. This applies until you withdraw the request. Your image itself was deleted.",
    ground_approved: "Your rights in the image, your right to erasure and to object to the processing of your personal data (Articles 17 and 21 GDPR; sections 32 and 33 of Thailand's Personal Data Protection Act B.E. 2562) and our image opt-out policy.",
};

const IMAGE_TH: KindTexts = KindTexts {
    label: "คำขอหยุดจัดทำดัชนีรูปภาพ",
    landing_title: "หยุดจัดทำดัชนีรูปภาพ",
    landing_body: "ส่งรูปภาพที่คุณเป็นเจ้าของ หรือรูปที่คุณใช้ค้นหา (รูปถ่าย งานศิลปะ ภาพหน้าจอ จะมีใบหน้าหรือไม่ก็ได้) เมื่อคำขอได้รับการอนุมัติ ระบบค้นหาของเราจะไม่จัดทำดัชนีรูปภาพนี้อีก รวมถึงสำเนาที่ถูกย่อขนาดหรือบันทึกใหม่",
    landing_cta: "เริ่มคำขอหยุดจัดทำดัชนีรูปภาพ",
    form_title: "คำขอหยุดจัดทำดัชนีรูปภาพ",
    photo_help: "ไฟล์ JPEG, PNG หรือ WebP ขนาดไม่เกิน 10 MB เป็นตัวรูปภาพนั้นเอง (ไฟล์ที่คุณเป็นเจ้าของ หรือไฟล์ที่คุณใช้ค้นหา)",
    reason: "เหตุใดจึงไม่ควรจัดทำดัชนีรูปภาพนี้อีก",
    reason_help: "เช่น คุณเป็นผู้ถ่าย เป็นเจ้าของลิขสิทธิ์ หรือรูปนี้แสดงตัวคุณหรือครอบครัวของคุณ",
    consent: "ข้าพเจ้ายินยอมให้ประมวลผลรูปภาพนี้เพื่อคำนวณค่าแฮช (และลายเซ็นของใบหน้าในรูป หากข้าพเจ้าขอไว้ด้านล่าง) เพื่อค้นหาและยกเว้นสำเนาของรูปนี้เท่านั้น และยืนยันว่าข้าพเจ้าเป็นเจ้าของรูปภาพนี้หรือมีส่วนได้เสียโดยตรงกับรูปภาพนี้",
    privacy: "เราเก็บข้อมูลและรูปภาพของคุณเพื่อดำเนินการตามคำขอนี้เท่านั้น รูปภาพจะถูกลบทันทีที่มีการตัดสิน เหลือเพียงค่าแฮช (และลายเซ็นใบหน้าที่คุณขอไว้) เพื่อกันสำเนาของรูปออกจากดัชนีของเรา ชื่อ อีเมล และโทรศัพท์ของคุณจะถูกลบหกเดือนหลังการตัดสิน",
    next: "ขั้นต่อไป เราจะคำนวณค่าแฮชของรูปภาพ จากนั้นเจ้าหน้าที่จะพิจารณาคำขอของคุณ โดยปกติภายในไม่กี่วัน และไม่เกินหนึ่งเดือน คุณจะได้รับผลการตัดสินทางอีเมล",
    facts: "คำขอของคุณเมื่อ {date} เหตุผลที่คุณให้ไว้ และรูปภาพที่คุณส่ง ซึ่งผู้พิจารณาได้ตรวจสอบแล้ว",
    automated: "ใช่ บางส่วน ระบบได้คำนวณค่าแฮชของรูปภาพ (และลายเซ็นของใบหน้าในรูป หากคุณขอไว้) โดยอัตโนมัติเพื่อค้นหาสำเนาของรูป แต่การตัดสินกระทำโดยเจ้าหน้าที่ ไม่มีการตัดสินโดยระบบอัตโนมัติเพียงอย่างเดียว",
    action_approved: "อนุมัติ ค่าแฮชของรูปภาพของคุณถูกเพิ่มในรายการยกเว้นของเรา ระบบค้นหาของเราจะไม่แสดงและไม่จัดทำดัชนีรูปภาพนี้อีกไม่ว่าจะเผยแพร่ที่ใด รวมถึงสำเนาที่ถูกย่อขนาดหรือบันทึกใหม่ มีผลจนกว่าคุณจะถอนคำขอ รูปภาพของคุณถูกลบแล้ว",
    ground_approved: "สิทธิของคุณในรูปภาพ สิทธิในการขอให้ลบและสิทธิในการคัดค้านการประมวลผลข้อมูลส่วนบุคคลของคุณ (มาตรา 17 และ 21 ของ GDPR; มาตรา 32 และ 33 แห่งพระราชบัญญัติคุ้มครองข้อมูลส่วนบุคคล พ.ศ. 2562) และนโยบายการขอลบรูปภาพของเรา",
};

pub fn texts(lang: Lang) -> &'static Texts {
    match lang {
        Lang::En => &EN,
        Lang::Th => &TH,
    }
}

/// Why no complaint is possible, as the requester reads it (with the routes that remain once
/// the internal procedure is over).
pub fn complaint_closed_text(lang: Lang, why: ComplaintClosed) -> &'static str {
    let t = texts(lang);
    match why {
        ComplaintClosed::NoDecision => t.complaint_no_decision,
        ComplaintClosed::Pending => t.complaint_open,
        ComplaintClosed::Decided => t.complaint_decided,
        ComplaintClosed::WindowEnded => t.complaint_window_ended,
    }
}

/// A case state as the requester reads it.
pub fn state_label(lang: Lang, state: CaseState) -> &'static str {
    use CaseState::*;
    match (lang, state) {
        (Lang::En, Received) => "Received",
        (Lang::En, Embedding) => "Checking the photo",
        (Lang::En, AwaitingReview) => "Waiting for review",
        (Lang::En, NeedsBetterPhoto) => "A better photo is needed",
        (Lang::En, Approved) => "Approved",
        (Lang::En, Rejected) => "Rejected",
        (Lang::En, Withdrawn) => "Withdrawn",
        (Lang::En, Lapsed) => "Lapsed (no usable photo came in time)",
        (Lang::En, Erased) => "Closed",
        (Lang::Th, Received) => "ได้รับแล้ว",
        (Lang::Th, Embedding) => "กำลังตรวจสอบรูปถ่าย",
        (Lang::Th, AwaitingReview) => "รอการพิจารณา",
        (Lang::Th, NeedsBetterPhoto) => "ต้องการรูปถ่ายที่ดีกว่า",
        (Lang::Th, Approved) => "อนุมัติแล้ว",
        (Lang::Th, Rejected) => "ปฏิเสธ",
        (Lang::Th, Withdrawn) => "ถอนแล้ว",
        (Lang::Th, Lapsed) => "สิ้นสุดแล้ว (ไม่ได้รับรูปถ่ายที่ใช้ได้ภายในเวลาที่กำหนด)",
        (Lang::Th, Erased) => "ปิดแล้ว",
    }
}

/// A rejection reason as the requester reads it: a short label and its ground.
pub fn reject_reason_text(
    lang: Lang,
    r: crate::model::RejectReason,
) -> (&'static str, &'static str) {
    use crate::model::RejectReason::*;
    match (lang, r) {
        (Lang::En, NotTheRequester) => (
            "The photo could not be confirmed to show you",
            "We only act on face opt-outs by the person shown (Article 12(6) GDPR allows us to ask for confirmation of identity), and the photo you sent could not be confirmed to show you.",
        ),
        (Lang::En, NoPersonalData) => (
            "No identifiable person",
            "The images concerned do not show an identifiable person, so they hold no personal data of yours that the right to erasure could cover (Article 4(1) GDPR).",
        ),
        (Lang::En, NotSubstantiated) => (
            "The notice is not substantiated",
            "A notice must explain clearly why the content is illegal (Article 16(2) of the Digital Services Act); yours did not allow us to establish this without a detailed legal examination.",
        ),
        (Lang::En, NotIllegal) => (
            "Not illegal and not against our terms",
            "After examination, the content was found to be neither illegal nor incompatible with our terms of service (Article 16 of the Digital Services Act).",
        ),
        (Lang::En, OverridingInterest) => (
            "Overriding legitimate grounds",
            "The processing is necessary for exercising the right of freedom of expression and information, or there are overriding legitimate grounds (Article 17(3) and 21(1) GDPR).",
        ),
        (Lang::En, Duplicate) => (
            "Already covered",
            "The same images or face are already covered by an earlier decision; nothing more needed to be done.",
        ),
        (Lang::En, Other) => (
            "Other reason",
            "See the note of the reviewer below; our image opt-out policy applies.",
        ),
        (Lang::Th, NotTheRequester) => (
            "ไม่สามารถยืนยันได้ว่ารูปถ่ายเป็นของคุณ",
            "เราดำเนินการตามคำขอลบใบหน้าเฉพาะจากบุคคลในรูปเท่านั้น (มาตรา 12(6) ของ GDPR อนุญาตให้เราขอยืนยันตัวตน) และไม่สามารถยืนยันได้ว่ารูปถ่ายที่คุณส่งเป็นของคุณ",
        ),
        (Lang::Th, NoPersonalData) => (
            "ไม่มีบุคคลที่ระบุตัวตนได้",
            "รูปภาพที่เกี่ยวข้องไม่แสดงบุคคลที่ระบุตัวตนได้ จึงไม่มีข้อมูลส่วนบุคคลของคุณที่อยู่ในขอบเขตของสิทธิในการขอให้ลบ (มาตรา 4(1) ของ GDPR)",
        ),
        (Lang::Th, NotSubstantiated) => (
            "การแจ้งไม่มีเหตุผลสนับสนุนเพียงพอ",
            "การแจ้งต้องอธิบายให้ชัดเจนว่าเหตุใดเนื้อหาจึงผิดกฎหมาย (มาตรา 16(2) ของกฎหมายบริการดิจิทัลของสหภาพยุโรป) แต่การแจ้งของคุณไม่เพียงพอให้เราพิจารณาได้โดยไม่ต้องตรวจสอบทางกฎหมายอย่างละเอียด",
        ),
        (Lang::Th, NotIllegal) => (
            "ไม่ผิดกฎหมายและไม่ขัดต่อข้อกำหนด",
            "จากการตรวจสอบ เนื้อหาดังกล่าวไม่ผิดกฎหมายและไม่ขัดต่อข้อกำหนดการให้บริการของเรา (มาตรา 16 ของกฎหมายบริการดิจิทัลของสหภาพยุโรป)",
        ),
        (Lang::Th, OverridingInterest) => (
            "มีเหตุอันชอบธรรมที่สำคัญกว่า",
            "การประมวลผลจำเป็นเพื่อการใช้เสรีภาพในการแสดงความคิดเห็นและการรับรู้ข้อมูล หรือมีเหตุอันชอบธรรมที่สำคัญกว่า (มาตรา 17(3) และ 21(1) ของ GDPR)",
        ),
        (Lang::Th, Duplicate) => (
            "ดำเนินการไปแล้ว",
            "รูปภาพหรือใบหน้าเดียวกันได้รับการยกเว้นตามผลการตัดสินก่อนหน้าแล้ว จึงไม่ต้องดำเนินการเพิ่มเติม",
        ),
        (Lang::Th, Other) => (
            "เหตุผลอื่น",
            "โปรดดูหมายเหตุจากผู้พิจารณาด้านล่าง ทั้งนี้เป็นไปตามนโยบายการขอลบรูปภาพของเรา",
        ),
    }
}

/// Why a photo could not be used, as the requester reads it (the verdict of the face pipeline or
/// the reviewer's code; `ok` never reaches a requester and reads as `unreadable`).
pub fn quality_message(lang: Lang, verdict: Verdict) -> &'static str {
    use Verdict::*;
    match (lang, verdict) {
        (Lang::En, NoFace) => {
            "We could not find a face in it. Please send a photo in which your face is clearly visible."
        }
        (Lang::En, SeveralFaces) => "It shows several people. Please send a photo of only you.",
        (Lang::En, FaceTooSmall) => "Your face is too small in it. Please send a closer photo.",
        (Lang::En, TooBlurred) => "It is too blurred. Please send a sharper photo.",
        (Lang::En, Unreadable | Ok) => {
            "It could not be processed. Please send another photo (JPEG, PNG or WebP)."
        }
        (Lang::Th, NoFace) => "เราไม่พบใบหน้าในรูป โปรดส่งรูปที่เห็นใบหน้าของคุณชัดเจน",
        (Lang::Th, SeveralFaces) => "ในรูปมีหลายคน โปรดส่งรูปที่มีคุณคนเดียว",
        (Lang::Th, FaceTooSmall) => "ใบหน้าของคุณในรูปเล็กเกินไป โปรดส่งรูปที่ถ่ายใกล้กว่านี้",
        (Lang::Th, TooBlurred) => "รูปเบลอเกินไป โปรดส่งรูปที่คมชัดกว่านี้",
        (Lang::Th, Unreadable | Ok) => "ไม่สามารถประมวลผลรูปนี้ได้ โปรดส่งรูปอื่น (JPEG, PNG หรือ WebP)",
    }
}

/// The message of a field error in `lang`.
pub fn field_error_message(lang: Lang, e: &FieldError) -> String {
    use FieldCode::*;
    let limit = e.limit.map(|l| l.to_string()).unwrap_or_default();
    let mb = e
        .limit
        .map(|l| (l / (1024 * 1024)).to_string())
        .unwrap_or_default();
    let country = e.country.map(|c| c.name(lang)).unwrap_or_default();
    // A country's message without its country reads as the general one.
    let code = match (e.code, e.country) {
        (InvalidPhoneForCountry, None) => InvalidPhone,
        (code, _) => code,
    };
    if code == Required
        && let Some(m) = required_message(lang, &e.field)
    {
        return m.to_owned();
    }
    let general = |t: &str| fill(t, &[("limit", &limit), ("mb", &mb), ("country", country)]);
    if let Some(item) = &e.item {
        let line = item.line.to_string();
        let link = |t: &str| general(&fill(t, &[("line", &line)])).replace("{link}", &item.value);
        return match (lang, code) {
            (Lang::En, InvalidUrl) => link(
                "Link {line} ({link}) is not a valid web address: it needs a host name, as in https://example.com/photo.jpg.",
            ),
            (Lang::En, UrlScheme) => {
                link("Link {line} ({link}) must start with http:// or https://.")
            }
            (Lang::En, DuplicateUrl) => link("Link {line} ({link}) is listed twice."),
            (Lang::En, TooLong) => {
                link("Link {line} ({link}) is too long: at most {limit} characters.")
            }
            (Lang::Th, InvalidUrl) => link(
                "ลิงก์ที่ {line} ({link}) ไม่ใช่ที่อยู่เว็บที่ถูกต้อง ต้องมีชื่อโฮสต์ เช่น https://example.com/photo.jpg",
            ),
            (Lang::Th, UrlScheme) => link("ลิงก์ที่ {line} ({link}) ต้องขึ้นต้นด้วย http:// หรือ https://"),
            (Lang::Th, DuplicateUrl) => link("ลิงก์ที่ {line} ({link}) ซ้ำกับลิงก์ก่อนหน้า"),
            (Lang::Th, TooLong) => link("ลิงก์ที่ {line} ({link}) ยาวเกินไป ไม่เกิน {limit} ตัวอักษร"),
            (lang, code) => {
                let other = FieldError {
                    item: None,
                    code,
                    ..e.clone()
                };
                let prefix = match lang {
                    Lang::En => "Link {line} ({link}): ",
                    Lang::Th => "ลิงก์ที่ {line} ({link}): ",
                };
                link(prefix) + &field_error_message(lang, &other)
            }
        };
    }
    let t = match (lang, code) {
        (Lang::En, Required) => "This field is required.",
        (Lang::En, TooLong) => "This is too long: at most {limit} characters.",
        (Lang::En, TooShort) => "Please write a little more: at least {limit} characters.",
        (Lang::En, InvalidEmail) => {
            "This is not a valid email address (for example name@example.com)."
        }
        (Lang::En, InvalidPhone) => {
            "This is not a phone number. Write it with digits as you dial it in your country of residence, or in international format with + and the country code (for example +66 81 234 5678)."
        }
        (Lang::En, InvalidPhoneForCountry) => {
            "This is not a valid phone number for {country}. A number of another country can be written in international format, with + and the country code (for example +66 81 234 5678)."
        }
        (Lang::En, InvalidCountry) => "Choose a country from the list.",
        (Lang::En, InvalidChars) => {
            "This contains characters that are not allowed (line breaks or invisible control characters)."
        }
        (Lang::En, ConsentRequired) => {
            "We can only process your photo with your consent. Tick the box to give it."
        }
        (Lang::En, GoodFaithRequired) => {
            "A notice must include the good-faith statement. Tick the box to confirm it."
        }
        (Lang::En, InvalidUrl) => {
            "One of the links is not a valid web address (it needs http:// or https:// and a host name)."
        }
        (Lang::En, UrlScheme) => "Links must start with http:// or https://.",
        (Lang::En, TooManyUrls) => "Too many links: at most {limit}.",
        (Lang::En, DuplicateUrl) => "The same link is listed twice.",
        (Lang::En, UnsupportedType) => {
            "This file type is not supported. Send a JPEG, PNG or WebP image."
        }
        (Lang::En, TypeMismatch) => {
            "The file's content does not match its type. Send a real JPEG, PNG or WebP image."
        }
        (Lang::En, CorruptImage) => {
            "The image is damaged or incomplete. Please send it again or choose another one."
        }
        (Lang::En, ImageTooLarge) => "The image is too large: at most {limit} pixels on a side.",
        (Lang::En, TooManyPixels) => {
            "The image has too many pixels. Please send a smaller version."
        }
        (Lang::En, ImageTooSmall) => "The image is too small: at least {limit} pixels on a side.",
        (Lang::En, FileTooLarge) => "The file is too large: at most {mb} MB.",
        (Lang::En, UploadMissing) => {
            "Please upload a photo first (or again: uploads expire after an hour)."
        }
        (Lang::En, InvalidValue) => "This value is not valid.",
        (Lang::En, KeyReused) => {
            "This form (or Idempotency-Key) was already used for a request with other details. Reload the page, or send a new key, to make a new request."
        }
        (Lang::En, PhotoReused) => {
            "This photo was already sent with a request with other details. Upload it again to use it in a new request."
        }
        (Lang::En, NotAllowed) => "This kind of request does not take this field.",
        (Lang::En, EmailNotAscii) => {
            "We cannot send email to an address with letters outside A-Z before the @. Please use another address."
        }
        (Lang::Th, Required) => "โปรดกรอกช่องนี้",
        (Lang::Th, TooLong) => "ยาวเกินไป ไม่เกิน {limit} ตัวอักษร",
        (Lang::Th, TooShort) => "โปรดอธิบายเพิ่มเติม อย่างน้อย {limit} ตัวอักษร",
        (Lang::Th, InvalidEmail) => "อีเมลไม่ถูกต้อง (เช่น name@example.com)",
        (Lang::Th, InvalidPhone) => {
            "นี่ไม่ใช่หมายเลขโทรศัพท์ โปรดกรอกเป็นตัวเลขตามที่โทรภายในประเทศที่คุณพำนัก หรือในรูปแบบสากล ขึ้นต้นด้วย + และรหัสประเทศ (เช่น +66 81 234 5678)"
        }
        (Lang::Th, InvalidPhoneForCountry) => {
            "หมายเลขนี้ไม่ใช่หมายเลขโทรศัพท์ที่ถูกต้องของ{country} หมายเลขของประเทศอื่นกรอกในรูปแบบสากลได้ โดยขึ้นต้นด้วย + และรหัสประเทศ (เช่น +66 81 234 5678)"
        }
        (Lang::Th, InvalidCountry) => "โปรดเลือกประเทศจากรายการ",
        (Lang::Th, InvalidChars) => "มีอักขระที่ไม่อนุญาต (การขึ้นบรรทัดใหม่หรืออักขระควบคุมที่มองไม่เห็น)",
        (Lang::Th, ConsentRequired) => {
            "เราจะประมวลผลรูปถ่ายของคุณได้เมื่อได้รับความยินยอมเท่านั้น โปรดทำเครื่องหมายในช่องเพื่อให้ความยินยอม"
        }
        (Lang::Th, GoodFaithRequired) => "การแจ้งต้องมีคำยืนยันโดยสุจริต โปรดทำเครื่องหมายในช่องเพื่อยืนยัน",
        (Lang::Th, InvalidUrl) => "มีลิงก์ที่ไม่ใช่ที่อยู่เว็บที่ถูกต้อง (ต้องมี http:// หรือ https:// และชื่อโฮสต์)",
        (Lang::Th, UrlScheme) => "ลิงก์ต้องขึ้นต้นด้วย http:// หรือ https://",
        (Lang::Th, TooManyUrls) => "ลิงก์มากเกินไป ไม่เกิน {limit} ลิงก์",
        (Lang::Th, DuplicateUrl) => "มีลิงก์ซ้ำกัน",
        (Lang::Th, UnsupportedType) => "ไม่รองรับไฟล์ประเภทนี้ โปรดส่งรูป JPEG, PNG หรือ WebP",
        (Lang::Th, TypeMismatch) => {
            "เนื้อหาของไฟล์ไม่ตรงกับประเภทของไฟล์ โปรดส่งรูป JPEG, PNG หรือ WebP จริง"
        }
        (Lang::Th, CorruptImage) => "รูปเสียหายหรือไม่สมบูรณ์ โปรดส่งอีกครั้งหรือเลือกรูปอื่น",
        (Lang::Th, ImageTooLarge) => "รูปใหญ่เกินไป ด้านละไม่เกิน {limit} พิกเซล",
        (Lang::Th, TooManyPixels) => "รูปมีจำนวนพิกเซลมากเกินไป โปรดส่งรูปที่เล็กกว่านี้",
        (Lang::Th, ImageTooSmall) => "รูปเล็กเกินไป ด้านละอย่างน้อย {limit} พิกเซล",
        (Lang::Th, FileTooLarge) => "ไฟล์ใหญ่เกินไป ไม่เกิน {mb} MB",
        (Lang::Th, UploadMissing) => {
            "โปรดอัปโหลดรูปก่อน (หรืออัปโหลดอีกครั้ง เพราะการอัปโหลดหมดอายุภายในหนึ่งชั่วโมง)"
        }
        (Lang::Th, InvalidValue) => "ค่านี้ไม่ถูกต้อง",
        (Lang::Th, KeyReused) => {
            "แบบฟอร์มนี้ (หรือ Idempotency-Key) ถูกใช้กับคำขอที่มีรายละเอียดอื่นแล้ว โปรดโหลดหน้าใหม่หรือส่งคีย์ใหม่เพื่อยื่นคำขอใหม่"
        }
        (Lang::Th, PhotoReused) => "รูปนี้ถูกส่งมากับคำขอที่มีรายละเอียดอื่นแล้ว โปรดอัปโหลดอีกครั้งเพื่อใช้กับคำขอใหม่",
        (Lang::Th, NotAllowed) => "คำขอประเภทนี้ไม่มีช่องนี้",
        (Lang::Th, EmailNotAscii) => {
            "เราส่งอีเมลไปยังที่อยู่ที่มีตัวอักษรนอกเหนือจาก A-Z ก่อน @ ไม่ได้ โปรดใช้อีเมลอื่น"
        }
    };
    general(t)
}

/// The message of an empty required field that names what to fill in (`None`: the general one).
fn required_message(lang: Lang, field: &str) -> Option<&'static str> {
    Some(match (lang, field) {
        (Lang::En, "country") => "Choose your country of residence.",
        (Lang::En, "first_name") => "Enter your first name.",
        (Lang::En, "last_name") => "Enter your last name.",
        (Lang::En, "email") => "Enter your email address.",
        (Lang::En, "phone") => "Enter your phone number.",
        (Lang::En, "reason") => "Tell us why you are asking.",
        (Lang::En, "source_urls") => "Enter at least one link to an image, one per line.",
        (Lang::En, "photo") => "Choose a photo to upload.",
        (Lang::En, "complaint") => "Tell us why you disagree with the decision.",
        (Lang::En, "confirm") => "Tick the box to confirm that you want to withdraw this request.",
        (Lang::En, "kind") => "Choose the kind of request.",
        (Lang::Th, "country") => "โปรดเลือกประเทศที่คุณพำนัก",
        (Lang::Th, "first_name") => "โปรดกรอกชื่อของคุณ",
        (Lang::Th, "last_name") => "โปรดกรอกนามสกุลของคุณ",
        (Lang::Th, "email") => "โปรดกรอกอีเมลของคุณ",
        (Lang::Th, "phone") => "โปรดกรอกหมายเลขโทรศัพท์ของคุณ",
        (Lang::Th, "reason") => "โปรดอธิบายเหตุผลของคำขอ",
        (Lang::Th, "source_urls") => "โปรดกรอกลิงก์ของรูปภาพอย่างน้อยหนึ่งลิงก์ บรรทัดละหนึ่งลิงก์",
        (Lang::Th, "photo") => "โปรดเลือกรูปที่จะอัปโหลด",
        (Lang::Th, "complaint") => "โปรดบอกเราว่าเหตุใดคุณจึงไม่เห็นด้วยกับผลการตัดสิน",
        (Lang::Th, "confirm") => "โปรดทำเครื่องหมายในช่องเพื่อยืนยันว่าคุณต้องการถอนคำขอนี้",
        (Lang::Th, "kind") => "โปรดเลือกประเภทคำขอ",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_language() {
        assert_eq!(
            Lang::from_accept_language("th-TH,th;q=0.9,en;q=0.8"),
            Some(Lang::Th)
        );
        assert_eq!(
            Lang::from_accept_language("de-DE,en;q=0.5,th;q=0.9"),
            Some(Lang::Th)
        );
        assert_eq!(Lang::from_accept_language("fr"), None);
        assert_eq!(Lang::from_accept_language(""), None);
    }

    #[test]
    fn every_message_is_translated() {
        let e = FieldError {
            field: "x".into(),
            code: FieldCode::TooLong,
            limit: Some(100),
            country: None,
            item: None,
        };
        assert_eq!(
            field_error_message(Lang::En, &e),
            "This is too long: at most 100 characters."
        );
        assert!(field_error_message(Lang::Th, &e).contains("100"));
        for s in CaseState::ALL {
            assert_ne!(state_label(Lang::En, s), state_label(Lang::Th, s));
        }
    }

    #[test]
    fn an_empty_field_is_named_and_a_bad_link_is_shown_by_its_line() {
        let e = |field: &str, code, item| FieldError {
            field: field.into(),
            code,
            limit: None,
            country: None,
            item,
        };
        for lang in Lang::ALL {
            let general = field_error_message(lang, &e("x", FieldCode::Required, None));
            for field in [
                "country",
                "first_name",
                "last_name",
                "email",
                "phone",
                "reason",
                "source_urls",
                "photo",
                "complaint",
                "confirm",
            ] {
                let m = field_error_message(lang, &e(field, FieldCode::Required, None));
                assert_ne!(m, general, "{field} is named in {lang:?}");
            }
        }
        assert_eq!(
            field_error_message(Lang::En, &e("first_name", FieldCode::Required, None)),
            "Enter your first name."
        );
        let long = format!("{{limit}}x{}", "a".repeat(100));
        let item = crate::error::FieldItem::new(3, &long);
        assert_eq!(
            item.value.chars().count(),
            crate::error::FieldItem::SHOWN_MAX + 1
        );
        let link =
            |lang, code| field_error_message(lang, &e("source_urls", code, Some(item.clone())));
        let en = link(Lang::En, FieldCode::InvalidUrl);
        assert!(
            en.starts_with("Link 3 ({limit}xaaa") && en.contains("a…) is not"),
            "{en}"
        );
        let th = link(Lang::Th, FieldCode::UrlScheme);
        assert!(th.starts_with("ลิงก์ที่ 3 ({limit}x"), "{th}");
        // A code without a message of its own: the general message, after the link.
        let other = link(Lang::En, FieldCode::InvalidChars);
        assert!(
            other.starts_with("Link 3 (") && other.ends_with("control characters)."),
            "{other}"
        );
    }

    #[test]
    fn a_phone_number_is_refused_for_the_country_named() {
        let th = crate::model::Country::parse("TH").unwrap();
        let e = |code, country| FieldError {
            field: "phone".into(),
            code,
            limit: None,
            country,
            item: None,
        };
        let en = field_error_message(Lang::En, &e(FieldCode::InvalidPhoneForCountry, Some(th)));
        assert_eq!(
            en,
            "This is not a valid phone number for Thailand. A number of another country can be written in international format, with + and the country code (for example +66 81 234 5678)."
        );
        let thai = field_error_message(Lang::Th, &e(FieldCode::InvalidPhoneForCountry, Some(th)));
        assert!(
            thai.contains("ของไทย") && thai.contains("+ และรหัสประเทศ"),
            "{thai}"
        );
        // Without its country the message is the general one, never a placeholder.
        for lang in Lang::ALL {
            let general = field_error_message(lang, &e(FieldCode::InvalidPhone, None));
            assert_eq!(
                field_error_message(lang, &e(FieldCode::InvalidPhoneForCountry, None)),
                general
            );
            assert!(!general.contains('{') && general.contains("+66 81 234 5678"));
        }
    }
}
